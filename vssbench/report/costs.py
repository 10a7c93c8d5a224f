"""What an index costs and gives, over scale and dim: heatmaps of DuckDB VSS's QPS, recall and
build time, and build time and memory per index family. Timings and builds of configurations
timed only on a busy machine are shown and marked "busy" (report/load.py)."""

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vssbench.measure.definitions import BUILD_S, INDEX_MB, QPS, RECALL
from vssbench.report.columns import DUCKDB, FAMILY_PREFIX, INDEX_FAMILY, INTERVALS, recall_label
from vssbench.report.overlap import known, pooled, span
from vssbench.report.style import (
    ENGINE_COLORS,
    VARIANT_STYLES,
    engine_order,
    log_axis,
    no_data,
    plt,
    scales,
    tick_label,
)
from vssbench.report.summary import count

CHAR_IN = 0.075  # about the width of one character at font size 8-9, in inches


def _cell_text(value: float, fmt: str, measured: bool, busy: bool) -> str:
    """A cell's text, marked when timed on a busy machine; an empty cell says why."""
    if np.isfinite(value):
        text = tick_label(round(value)) if fmt == "qps" else fmt.format(value)
        return text + (" busy" if busy else "")
    return "n/a" if measured else "not run"


def _grid(base: pd.DataFrame, column: str, aggfunc: str, dims: list, columns: list) -> np.ndarray:
    """`column` aggregated per dim (rows) x scale (columns), NaN where no configuration ran."""
    grid = base.pivot_table(index="dim", columns="scale", values=column, aggfunc=aggfunc)
    return grid.reindex(index=dims, columns=columns).to_numpy(dtype=float)


def _intervals(base: pd.DataFrame, metric: str, dims: list, columns: list) -> np.ndarray:
    """Per cell the span of its configurations' 95% intervals as text ("708-1029"), empty
    where the metric has none or one of them logged none."""
    out = np.full((len(dims), len(columns)), "", dtype=object)
    if metric not in INTERVALS:
        return out
    for (dim, scale), cell in base.groupby(["dim", "scale"]):
        row = pooled(cell, metric)
        if known(row, metric):
            out[dims.index(dim), columns.index(scale)] = "\n" + span(row, metric)
    return out


def _heatmap(ax: Axes, base: pd.DataFrame, metric: str, fmt: str, busy: str | None) -> None:
    """One metric over dim x scale: medians per cell (with their intervals' span where logged),
    each labelled in a colour that reads on it."""
    columns, dims = scales(base), sorted(base["dim"].unique())
    values = _grid(base, metric, "median", dims, columns)
    count = np.nan_to_num(_grid(base, "runs", "sum", dims, columns))
    marked = np.nan_to_num(_grid(base, busy, "sum", dims, columns)) if busy else 0 * count
    # QPS only: there the colours would make differences within the noise look large.
    spans = (
        _intervals(base, metric, dims, columns) if fmt == "qps" else np.full_like(count, "", object)
    )
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    finite = np.isfinite(values)
    norm = mcolors.Normalize(np.nanmin(values), np.nanmax(values)) if finite.any() else None
    for (i, j), value in np.ndenumerate(values):
        text = _cell_text(value, fmt, count[i, j] > 0, marked[i, j] > 0) + spans[i, j]
        color = "gray"
        if np.isfinite(value):
            r, g, b, _ = plt.cm.viridis(norm(value))
            color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    # A scale of other data or another host ("10k @node-a") on two lines, not one long one.
    ax.set_xticks(range(len(columns)), [c.replace(" ", "\n", 1) for c in columns], fontsize=8)
    ax.set_yticks(range(len(dims)), dims)
    ax.set_xlabel("scale (documents)")
    ax.set_ylabel("dim")
    if finite.any():  # a colour bar of nothing would read as a scale
        ax.figure.colorbar(image, ax=ax, shrink=0.8)


def heatmaps(df: pd.DataFrame) -> Figure | None:
    """QPS, recall@k and index build time of DuckDB VSS over dim x scale (vector search, no
    filter); the other engines are in the frontier figure and the findings."""
    base = df[(df["search"] == "vector") & (df["filter"] == "none") & (df["engine"] == DUCKDB)]
    if base.empty:
        return None
    panels = (
        (QPS.column, "QPS (under it: 95% interval)", "qps", "busy"),
        (RECALL.column, recall_label(df), "{:.3f}", None),
        (BUILD_S.column, "index build (s)", "{:.1f}", "build_busy"),
    )
    base = base.astype({"busy": int, "build_busy": int})  # summed per cell
    n_scales, n_dims = base["scale"].nunique(), base["dim"].nunique()
    # Wide enough that a cell holds its label ("1,234 busy", 10 characters) and a scale its name
    # (its longer line: _heatmap breaks it at the first space).
    name = max(len(part) for s in base["scale"].unique() for part in s.split(" ", 1))
    cell = max(0.8, 10 * CHAR_IN, name * CHAR_IN)
    width = 3 * (n_scales * cell + 1.6)
    # Two lines per cell where an interval is shown.
    fig, axes = plt.subplots(1, 3, figsize=(max(10, width), 1.9 + 0.6 * n_dims))
    for ax, (metric, label, fmt, busy) in zip(axes, panels, strict=True):
        _heatmap(ax, base, metric, fmt, busy)
        marked = "\n(busy: timed while other processes took the CPU)"
        ax.set_title(label + (marked if busy and base[busy].any() else ""), fontsize=10)
    several = (base.groupby(["scale", "dim"]).size() > 1).any()
    fig.suptitle(
        "DuckDB VSS, vector search, no filter: medians per dim x scale"
        + (" (over the other settings)" if several else "")
    )
    fig.tight_layout()
    _unclash(fig, [ax for ax in axes])
    return fig


def _clash(texts: list) -> bool:
    """Whether any two of the drawn texts overlap."""
    renderer = texts[0].figure.canvas.get_renderer() if texts else None
    boxes = [t.get_window_extent(renderer) for t in texts if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _unclash(fig: Figure, axes: list[Axes]) -> None:
    """Measured after layout: scale names that still run into each other are slanted, cell
    labels that do are made smaller."""
    fig.canvas.draw()
    changed = False
    for ax in axes:
        if _clash(ax.get_xticklabels()):
            plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
            changed = True
        if _clash(list(ax.texts)):
            plt.setp(ax.texts, fontsize=6)
    if changed:
        fig.tight_layout()


def _family_label(key: tuple, columns: list[str], varying: list[str]) -> str:
    """An index family's name: its engine and the settings that differ between families."""
    values = dict(zip(columns, key, strict=True))
    parts = [f"{FAMILY_PREFIX[c]}{values[c]}" for c in varying]
    return " ".join([values["engine"], *parts])


def _rank(key: tuple, engines: dict[str, int]) -> tuple:
    """A family's place: engine in the registry's order, then its settings as numbers."""
    return (engines[key[0]], *(int(v) if str(v).isdigit() else 1 << 30 for v in key[1:]), key)


def _family_lines(rows: pd.DataFrame, x: str) -> list[tuple[str, str, pd.DataFrame]]:
    """Per index family (INDEX_FAMILY without the x axis' column): its engine, label and median
    build time and memory per x, engines in the registry's order."""
    columns = [c for c in INDEX_FAMILY if c != x]
    varying = [c for c in columns[1:] if rows[c].nunique() > 1]
    groups = list(rows.groupby(columns))
    keys = [key for key, _ in groups]
    lines = [
        (
            key[0],
            _family_label(key, columns, varying),
            group.groupby(x)[[BUILD_S.column, INDEX_MB.column]].median().sort_index(),
        )
        for key, group in groups
    ]
    order = {e: i for i, e in enumerate(engine_order({engine for engine, _, _ in lines}))}
    return [
        line
        for _, line in sorted(zip(keys, lines, strict=True), key=lambda kl: _rank(kl[0], order))
    ]


def build_and_memory(df: pd.DataFrame) -> Figure | None:
    """Index build time and index memory per index family (engine, dim, M, ef_construction,
    metric): a line over the documents, or over dim when the runs have one scale; log axes.
    Engines without an index (duckdb_exact) have no points."""
    rows = df[df[BUILD_S.column].notna() | df[INDEX_MB.column].notna()]
    if rows.empty:
        return None
    x = "n_docs" if rows["n_docs"].nunique() > 1 else "dim"
    lines = _family_lines(rows, x)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    seen: dict[str, int] = {}
    for engine, label, line in lines:
        linestyle, marker = VARIANT_STYLES[seen.get(engine, 0) % len(VARIANT_STYLES)]
        seen[engine] = seen.get(engine, 0) + 1
        for ax, metric in zip(axes, (BUILD_S.column, INDEX_MB.column), strict=True):
            points = line[metric].dropna()
            style = {"linestyle": linestyle, "marker": marker, "color": ENGINE_COLORS[engine]}
            ax.plot(points.index, points.to_numpy(), label=label, **style)
    labels = ("index build time (s)", "index memory (MB, loaded in a fresh process)")
    for ax, metric, label in zip(axes, (BUILD_S.column, INDEX_MB.column), labels, strict=True):
        log_axis(ax, "x", rows[x], at_values=True)
        log_axis(ax, "y", rows[metric])
        if rows[metric].isna().all():  # an empty axis says why
            no_data(ax, "not logged")
            ax.set_yticks([])
        ax.set_xlabel("documents" if x == "n_docs" else "dim")
        ax.set_ylabel(label)
        ax.grid(True, which="major", alpha=0.25)
    _legend_and_title(fig, axes, rows)
    return fig


def _legend_and_title(fig: Figure, axes: np.ndarray, rows: pd.DataFrame) -> None:
    """One legend below both panels, of the lines drawn in either; a title that says how many
    disturbed builds were left out and how many shown were timed on a busy machine."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    columns = min(len(handles), 4)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=columns, fontsize=7)
    busy = int(rows["build_busy"].sum())
    left_out = int(rows["build_disturbed_runs"].sum()) - int(
        rows.loc[rows["build_busy"], "runs"].sum()
    )
    notes = [f"{count(left_out, 'disturbed build')} left out"] * bool(left_out)
    notes += [f"{count(busy, 'configuration')} built on a busy machine, shown"] * bool(busy)
    note = f" ({'; '.join(notes)})" if notes else ""
    fig.suptitle(f"Index build cost per index family{note}")
    legend_in = 0.2 + 0.2 * -(-len(handles) // columns)
    fig.set_figheight(fig.get_figheight() + legend_in)
    fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 0.95))
