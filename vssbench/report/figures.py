"""Cross-run figures from a DataFrame of runs (one row per configuration, medians over repeats).

Each function takes the frame built by summary.summarize (with summary.attach_curves) and
returns a Figure, or None when the runs hold nothing to show for it (the report then says so
instead of drawing an empty chart). A new figure is a function here and an entry in FIGURES.
"""

import itertools
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import (
    BUILD_S,
    INDEX_MB,
    LATENCY_P50,
    LATENCY_P99,
    MRR,
    NDCG,
    QPS,
    RECALL,
    ROWS,
)
from vssbench.report.columns import DUCKDB, ENGINE_RANK, recall_label, scale_rank

# One colour per engine, the same in every panel and in every report.
ENGINE_COLORS = dict(zip(ENGINES, plt.cm.tab10.colors, strict=False))
# Within an engine's colour, each variant (search, filter, strategy): a line style and a marker.
VARIANT_STYLES = (
    ("-", "o"),
    ("--", "s"),
    (":", "^"),
    ("-.", "v"),
    ("-", "D"),
    ("--", "P"),
    (":", "X"),
)


def _scales(df: pd.DataFrame) -> list[str]:
    return sorted(df["scale"].unique(), key=scale_rank)


def pareto_front(recall: np.ndarray, qps: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both recall and QPS, by rising recall."""
    order = np.lexsort((-qps, -recall))  # best recall first, then best QPS
    front, best_qps = [], -np.inf
    for i in order:
        if qps[i] > best_qps:
            front.append(i)
            best_qps = qps[i]
    return np.array(front[::-1], dtype=int)


def _panels(df: pd.DataFrame) -> tuple[list[str], list[int]]:
    return _scales(df), sorted(df["dim"].unique())


def engine_order(names: Iterable[str]) -> list[str]:
    """Engines in the registry's order (duckdb_vss first)."""
    return sorted(names, key=ENGINE_RANK.__getitem__)


def _draw_frontiers(ax: Axes, panel: pd.DataFrame, styles: dict[str, tuple[str, str]]) -> None:
    """One panel: per engine and variant, its measured points and their Pareto frontier."""
    for (engine, variant), group in panel.groupby(["engine", "variant"]):
        points = pd.concat(list(group["curve"]), ignore_index=True)
        if points.empty:
            continue
        recall, qps = points[RECALL.column].to_numpy(), points[QPS.column].to_numpy()
        linestyle, marker = styles[variant]
        color = ENGINE_COLORS[engine]
        ax.scatter(recall, qps, s=10, alpha=0.5, color=color, marker=marker)
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
        )


def _legend_handles(engines: list[str], styles: dict[str, tuple[str, str]]) -> list[Line2D]:
    """Colour names the engine; line style and marker name the variant."""
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
    handles += [
        Line2D([], [], color="gray", linestyle=linestyle, marker=marker, label=variant)
        for variant, (linestyle, marker) in styles.items()
    ]
    return handles


def recall_vs_qps(df: pd.DataFrame) -> Figure | None:
    """ann-benchmarks style, as small multiples (a panel per scale x dim): per engine (colour)
    and variant (search, filter, strategy: line style) its measured ef points and their Pareto
    frontier; one legend, outside."""
    if df.empty or all(c.empty for c in df["curve"]):
        return None
    scales, dims = _panels(df)
    # Plain vector search, the common case, gets the solid line.
    variants = sorted(df["variant"].unique(), key=lambda v: (v != "vector none", v))
    styles = dict(zip(variants, itertools.cycle(VARIANT_STYLES)))
    handles = _legend_handles(engine_order(df["engine"].unique()), styles)
    columns = max(1, min(len(handles), int(3.2 * len(dims) / 2.4)))  # ~2.4 in per entry
    legend_in = 0.5 + 0.25 * -(-len(handles) // columns)  # room for the legend's rows
    height = 2.8 * len(scales) + legend_in
    fig, axes = plt.subplots(
        len(scales), len(dims), figsize=(3.2 * len(dims), height), squeeze=False
    )
    for (i, scale), (j, dim) in itertools.product(enumerate(scales), enumerate(dims)):
        ax = axes[i][j]
        _draw_frontiers(ax, df[(df["scale"] == scale) & (df["dim"] == dim)], styles)
        if not ax.lines:
            _no_data(ax, "no timed runs")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_title(f"{scale} x d{dim}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.25)
        if i == len(scales) - 1:
            ax.set_xlabel(recall_label(df), fontsize=8)
        if j == 0:
            ax.set_ylabel("QPS, one client (log)", fontsize=8)
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=8)
    fig.suptitle("Recall vs throughput over ef_search, Pareto frontier per engine and variant")
    fig.tight_layout(rect=(0, legend_in / height, 1, 0.97))
    return fig


def heatmaps(df: pd.DataFrame) -> Figure | None:
    """QPS, recall@k and index build time of DuckDB VSS over dim x scale (vector search, no
    filter); the other engines are in the frontier figure and the findings."""
    base = df[(df["search"] == "vector") & (df["filter"] == "none") & (df["engine"] == DUCKDB)]
    if base.empty:
        return None
    panels = (
        (QPS.column, "QPS", "{:.0f}"),
        (RECALL.column, recall_label(df), "{:.3f}"),
        (BUILD_S.column, "index build (s)", "{:.1f}"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    scales = _scales(base)
    dims = sorted(base["dim"].unique())
    for ax, (metric, label, fmt) in zip(axes, panels, strict=True):
        grid = base.pivot_table(index="dim", columns="scale", values=metric, aggfunc="median")
        grid = grid.reindex(index=dims, columns=scales)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(scales)), scales)
        ax.set_yticks(range(len(dims)), dims)
        ax.set_xlabel("scale (documents)")
        ax.set_ylabel("dim")
        ax.set_title(label)
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            # A missing timing (all runs disturbed) is said, not left as a blank cell.
            text, color = (fmt.format(value), "white") if np.isfinite(value) else ("n/a", "gray")
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("DuckDB VSS, vector search, no filter: medians per dim x scale")
    fig.tight_layout()
    return fig


def build_and_memory(df: pd.DataFrame) -> Figure | None:
    """Index build time and index memory against the number of documents, per engine (colour)
    and dim (marker), log axes; engines without an index (duckdb_exact) have no points."""
    base = df[(df["search"] == "vector") & (df["filter"] == "none")]
    base = base[base[BUILD_S.column].notna()]
    if base.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    markers = dict(zip(sorted(base["dim"].unique()), "os^vD<>", strict=False))
    for (engine, dim), group in base.groupby(["engine", "dim"]):
        group = group.sort_values("n_docs")
        style = {
            "marker": markers[dim],
            "color": ENGINE_COLORS[engine],
            "label": f"{engine} d{dim}",
        }
        axes[0].plot(group["n_docs"], group[BUILD_S.column], **style)
        axes[1].plot(group["n_docs"], group[INDEX_MB.column], **style)
    for ax, label in zip(
        axes, ("index build time (s)", "index memory (MB, loaded in a fresh process)"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents")
        ax.set_ylabel(label)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Index build cost by scale, per engine")
    fig.tight_layout()
    return fig


def _no_data(ax: plt.Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)


def vector_vs_hybrid(df: pd.DataFrame) -> Figure | None:
    """nDCG@10, MRR@10 and p50 latency of DuckDB VSS's vector and hybrid search per dim (no
    filter)."""
    base = df[(df["filter"] == "none") & (df["engine"] == DUCKDB)]
    if set(base["search"]) < {"vector", "hybrid"}:
        return None
    panels = (
        (NDCG.column, "nDCG@10"),
        (MRR.column, "MRR@10"),
        (LATENCY_P50.column, "p50 latency (ms)"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        table = base.pivot_table(index="dim", columns="search", values=metric, aggfunc="median")
        # A half whose every timing was disturbed has no column: its bars stay empty.
        table = table.reindex(columns=["vector", "hybrid"])
        if table.isna().all().all():
            _no_data(ax, "no undisturbed timing")
        else:
            table.plot.bar(ax=ax, rot=0)
        ax.set_xlabel("dim")
        ax.set_ylabel(label)
    fig.suptitle("DuckDB VSS: pure vector vs hybrid (vector + BM25), medians over scales")
    fig.tight_layout()
    return fig


def filter_impact(df: pd.DataFrame) -> Figure | None:
    """Recall, rows returned and p50 latency per engine and filter strategy (vector search):
    horizontal bars, one row per engine and strategy, coloured by engine."""
    base = df[df["search"] == "vector"].copy()
    base["variant"] = np.where(
        base["filter"] == "none", "no filter", base["filter"] + "/" + base["strategy"]
    )
    if base["variant"].nunique() < 2:
        return None
    panels = (
        (RECALL.column, recall_label(df)),
        (ROWS.column, "rows returned (of k)"),
        (LATENCY_P50.column, "p50 latency (ms)"),
    )
    rows = base.groupby(["engine", "variant"])[[m for m, _ in panels]].median()
    rows = rows.reindex(sorted(rows.index, key=lambda r: (ENGINE_RANK[r[0]], r[1])), axis=0).iloc[
        ::-1
    ]  # first engine on top
    labels = [f"{engine}  {variant}" for engine, variant in rows.index]
    colors = [ENGINE_COLORS[engine] for engine, _ in rows.index]
    fig, axes = plt.subplots(1, 3, figsize=(14, 1.2 + 0.28 * len(rows)), sharey=True, squeeze=False)
    y = np.arange(len(rows))
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        ax.barh(y, rows[metric], color=colors)
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.25)
    axes[0, 0].set_yticks(y, labels, fontsize=7)
    fig.suptitle("What a filter costs, per engine and strategy (medians over scales and dims)")
    fig.tight_layout()
    return fig


def selectivity(df: pd.DataFrame) -> Figure | None:
    """Rows returned and recall against filter.selectivity (filter=attribute, vector search),
    a line per engine (colour) and strategy (style): what each way of filtering loses."""
    base = df[(df["filter"] == "attribute") & (df["search"] == "vector")]
    if base["selectivity"].nunique() < 2:
        return None
    panels = ((ROWS.column, "rows returned (of k)"), (RECALL.column, recall_label(df)))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    strategies = sorted(base["strategy"].unique())
    for (engine, strategy), group in base.groupby(["engine", "strategy"]):
        group = group.groupby("selectivity")[[m for m, _ in panels]].median().sort_index()
        line, marker = VARIANT_STYLES[strategies.index(strategy) % len(VARIANT_STYLES)]
        for ax, (metric, _) in zip(axes, panels, strict=True):
            ax.plot(
                group.index * 100,
                group[metric],
                linestyle=line,
                marker=marker,
                color=ENGINE_COLORS[engine],
                label=f"{engine} {strategy}",
            )
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("selectivity: documents the filter keeps (%, log)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.25)
    axes[1].legend(fontsize=7)
    fig.suptitle("Filters of any selectivity (filter=attribute): medians over scales and dims")
    fig.tight_layout()
    return fig


def latency_percentiles(df: pd.DataFrame) -> Figure | None:
    """p50 and p99 latency per configuration, a panel per scale, configurations in numeric
    order; runs whose timing was disturbed are absent."""
    timed = df[df[LATENCY_P50.column].notna()]
    if timed.empty:
        return None
    scales = _scales(timed)
    heights = [max(1.5, 0.22 * (timed["scale"] == s).sum() + 0.8) for s in scales]
    fig, axes = plt.subplots(
        len(scales),
        1,
        figsize=(9, sum(heights) + 0.6),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, scale in zip(axes[:, 0], scales, strict=True):
        part = timed[timed["scale"] == scale].iloc[::-1]  # first configuration on top
        labels = part["configuration"].str.removeprefix(f"{scale}-")
        y = np.arange(len(part))
        ax.barh(y - 0.2, part[LATENCY_P50.column], height=0.4, color="#4c72b0", label="p50")
        ax.barh(y + 0.2, part[LATENCY_P99.column], height=0.4, color="#dd8452", label="p99")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_title(scale, fontsize=9, loc="left")
        ax.grid(True, axis="x", which="both", alpha=0.25)
    axes[-1, 0].set_xlabel("latency (ms, client side, log)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", fontsize=8)
    untimed = len(df) - len(timed)
    note = f" ({untimed} without an undisturbed timing not shown)" if untimed else ""
    fig.suptitle(f"Latency percentiles per configuration{note}", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 0.92, 0.98))
    return fig


FIGURES = {
    "recall_vs_qps": recall_vs_qps,
    "heatmaps": heatmaps,
    "build_and_memory": build_and_memory,
    "vector_vs_hybrid": vector_vs_hybrid,
    "filter_impact": filter_impact,
    "selectivity": selectivity,
    "latency_percentiles": latency_percentiles,
}
