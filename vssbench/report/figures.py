"""Cross-run figures from a DataFrame of runs (one row per configuration, medians over repeats).

Each function takes the frame built by summary.summarize (with summary.attach_curves) and
returns a Figure, or None when the runs hold nothing to show for it (the report then says so
instead of drawing an empty chart). A new figure is a function (here, or in a module of its
own: frontier, costs, latency) and an entry in FIGURES; style holds what figures share.
"""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vssbench.measure.definitions import LATENCY_P50, MRR, NDCG, RECALL, ROWS
from vssbench.report.columns import DUCKDB, ENGINE_RANK, recall_label
from vssbench.report.costs import build_and_memory, heatmaps
from vssbench.report.frontier import pareto_front, recall_vs_qps
from vssbench.report.latency import latency_percentiles
from vssbench.report.style import ENGINE_COLORS, VARIANT_STYLES, log_axis, no_data, plt

__all__ = ["ENGINE_COLORS", "FIGURES", "pareto_front", "recall_vs_qps"]


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
        # A half whose every timing was disturbed draws no bars and has no legend entry.
        table = table.reindex(columns=["vector", "hybrid"]).dropna(axis=1, how="all")
        if table.empty or table.isna().all().all():
            no_data(ax, "no undisturbed timing")
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
        if rows[metric].isna().all():
            no_data(ax, "not logged by these runs")
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
        log_axis(ax, "x", base["selectivity"] * 100, at_values=True)
        ax.set_xlabel("selectivity: documents the filter keeps (%, log)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.25)
    axes[1].legend(fontsize=7)
    fig.suptitle("Filters of any selectivity (filter=attribute): medians over scales and dims")
    fig.tight_layout()
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
