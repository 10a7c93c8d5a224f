"""The recall vs QPS figure: a panel per scale x dim that has timed points, each engine's and
variant's ef points with their 95% QPS intervals as error bars, and their Pareto frontier."""

import itertools
import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import QPS, RECALL
from vssbench.report.columns import INTERVALS, recall_label
from vssbench.report.style import (
    ENGINE_COLORS,
    VARIANT_STYLES,
    engine_order,
    log_axis,
    plt,
    wrapped,
)
from vssbench.report.summary import by_panel

COLUMNS = 4  # panels per row at most
BUSY = "hollow: timed while other processes took the CPU (busy)"


def pareto_front(recall: np.ndarray, qps: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both recall and QPS, by rising recall."""
    order = np.lexsort((-qps, -recall))  # best recall first, then best QPS
    front, best_qps = [], -np.inf
    for i in order:
        if qps[i] > best_qps:
            front.append(i)
            best_qps = qps[i]
    return np.array(front[::-1], dtype=int)


def _timed(configurations: pd.DataFrame) -> pd.DataFrame:
    """The configurations' ef points that have a QPS, each marked `busy` as its configuration."""
    curves = [
        curve.assign(busy=busy)
        for curve, busy in zip(configurations["curve"], configurations["busy"], strict=True)
        if not curve.empty
    ]
    points = pd.concat(curves or [pd.DataFrame()], ignore_index=True)
    return points.dropna(subset=[QPS.column]) if len(points) else points


def panels(df: pd.DataFrame) -> tuple[list[tuple[tuple[str, int], pd.DataFrame]], list[str]]:
    """The scale x dim pairs with timed points, in order; and the names of those without."""
    pairs = by_panel(df)
    drawn = [(pair, panel) for pair, panel in pairs if len(_timed(panel))]
    empty = [f"{scale} x d{dim}" for (scale, dim), panel in pairs if not len(_timed(panel))]
    return drawn, empty


def _draw(ax: Axes, panel: pd.DataFrame, styles: dict[str, tuple[str, str]]) -> set[tuple]:
    """One panel: per engine and variant, its timed points with their intervals and their Pareto
    frontier; returns the (engine, variant) pairs drawn."""
    low, high = INTERVALS[QPS.column]
    drawn = set()
    for (engine, variant), group in panel.groupby(["engine", "variant"]):
        points = _timed(group)
        if points.empty:
            continue
        recall, qps = points[RECALL.column].to_numpy(float), points[QPS.column].to_numpy(float)
        # A point without an interval (logged before intervals) gets no bar.
        below = np.nan_to_num(qps - points[low].to_numpy(float))
        above = np.nan_to_num(points[high].to_numpy(float) - qps)
        linestyle, marker = styles[variant]
        color = ENGINE_COLORS[engine]
        # Bars faint and beneath: the frontier must stay readable over wide intervals.
        ax.errorbar(recall, qps, yerr=[below, above], fmt="none", ecolor=color, alpha=0.35, lw=1)
        busy = points["busy"].to_numpy(bool)
        ax.scatter(recall[~busy], qps[~busy], s=10, alpha=0.6, color=color, marker=marker, zorder=2)
        # Timed while other processes took the CPU: shown, hollow.
        ax.scatter(
            recall[busy], qps[busy], s=22, facecolors="none", edgecolors=color, marker=marker
        )
        front = pareto_front(recall, qps)
        # A one-point frontier (an exact engine, or a single ef) has no line: it is a marker.
        ax.plot(
            recall[front],
            qps[front],
            linestyle=linestyle,
            marker=marker if len(front) == 1 else "",
            markersize=7,
            color=color,
            label=f"{engine}: {variant}",
            zorder=3,
        )
        drawn.add((engine, variant))
        if busy.any():
            drawn.add((BUSY, BUSY))
    return drawn


def _legend_handles(drawn: set[tuple], styles: dict[str, tuple[str, str]]) -> list[Line2D]:
    """Colour names the engine; line style and marker name the variant; only what was drawn."""
    engines = engine_order({engine for engine, _ in drawn if engine != BUSY})
    handles = [
        Line2D(
            [],
            [],
            color=ENGINE_COLORS[e],
            linewidth=3,
            label=f"{e} (exact: one point)" if ENGINES[e].exact else e,
        )
        for e in engines
    ]
    variants = [v for v in styles if v in {variant for _, variant in drawn}]
    handles += [
        Line2D([], [], color="gray", linestyle=styles[v][0], marker=styles[v][1], label=v)
        for v in variants
    ]
    if (BUSY, BUSY) in drawn:
        handles.append(
            Line2D(
                [], [], color="gray", marker="o", markerfacecolor="none", linestyle="", label=BUSY
            )
        )
    return handles


def _style_panel(ax: Axes, panel: pd.DataFrame, title: str) -> None:
    points = _timed(panel)
    low, high = INTERVALS[QPS.column]
    log_axis(ax, "y", [*points[QPS.column], *points[low].dropna(), *points[high].dropna()])
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", alpha=0.25)


def recall_vs_qps(df: pd.DataFrame) -> Figure | None:
    """ann-benchmarks style, as small multiples (a panel per scale x dim with timed points): per
    engine (colour) and variant (search, filter, strategy: line style) its measured ef points,
    95% QPS intervals as bars, and their Pareto frontier; one legend, outside."""
    drawn_panels, empty = panels(df) if len(df) else ([], [])
    if not drawn_panels:
        return None
    # Plain vector search, the common case, gets the solid line.
    variants = sorted(df["variant"].unique(), key=lambda v: (v != "vector none", v))
    styles = dict(zip(variants, itertools.cycle(VARIANT_STYLES)))
    dims = {dim for (_, dim), _ in drawn_panels}
    ncols = min(COLUMNS, len(drawn_panels) if len(drawn_panels) <= COLUMNS else len(dims))
    nrows = math.ceil(len(drawn_panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False)
    drawn: set[tuple] = set()
    for i, (ax, ((scale, dim), panel)) in enumerate(zip(axes.flat, drawn_panels, strict=False)):
        drawn |= _draw(ax, panel, styles)
        _style_panel(ax, panel, f"{scale} x d{dim}")
        ax.set_xlabel(recall_label(df), fontsize=8)
        if i % ncols == 0:
            ax.set_ylabel("QPS, one client (log)", fontsize=8)
    for ax in axes.flat[len(drawn_panels) :]:
        ax.remove()
    handles = _legend_handles(drawn, styles)
    columns = min(len(handles), 2 * ncols)
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=8)
    note = f"\nno timing, not drawn: {', '.join(empty)}" if empty else ""
    title = wrapped(
        "Recall vs throughput over ef_search (bars: 95% intervals), Pareto frontier per engine "
        f"and variant{note}",
        3.3 * ncols - 0.3,
    )
    fig.suptitle(title, fontsize=10)
    # Room below the panels for the legend's rows, above them for the title's lines.
    legend_in = 0.2 + 0.25 * math.ceil(len(handles) / columns)
    title_in = 0.15 + 0.2 * (title.count("\n") + 1)
    height = 2.9 * nrows + legend_in + title_in
    fig.set_size_inches(3.3 * ncols, height)
    fig.tight_layout(rect=(0, legend_in / height, 1, 1 - title_in / height))
    return fig
