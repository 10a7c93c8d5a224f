"""Cross-run figures from a DataFrame of runs (one row per configuration, medians over repeats).

Each function takes the frame built by report.summarize and returns a Figure, or None when the
runs hold nothing to show for it (the report then says so instead of drawing an empty chart).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCALE_ORDER = {"tiny": 0, "10k": 1, "100k": 2, "250k": 3}


def _scales(df: pd.DataFrame) -> list[str]:
    return sorted(df["scale"].unique(), key=lambda s: SCALE_ORDER.get(s, 99))


def pareto_front(recall: np.ndarray, qps: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both recall and QPS, by rising recall."""
    order = np.lexsort((-qps, -recall))  # best recall first, then best QPS
    front, best_qps = [], -np.inf
    for i in order:
        if qps[i] > best_qps:
            front.append(i)
            best_qps = qps[i]
    return np.array(front[::-1], dtype=int)


def recall_vs_qps(df: pd.DataFrame) -> Figure | None:
    """ann-benchmarks style: each family (scale, dim, search, filter) with its Pareto frontier."""
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for family, group in df.groupby("family"):
        recall, qps = group["recall_at_10"].to_numpy(), group["qps"].to_numpy()
        points = ax.scatter(recall, qps, s=18, alpha=0.6)
        front = pareto_front(recall, qps)
        ax.plot(recall[front], qps[front], "-", color=points.get_facecolor()[0], label=family)
    ax.set_xlabel("recall@10 (against exact search)")
    ax.set_ylabel("queries per second (one client)")
    ax.set_yscale("log")
    ax.set_title("Recall vs throughput, Pareto frontier per configuration family")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def heatmaps(df: pd.DataFrame) -> Figure | None:
    """QPS, recall@10 and index build time over dim x scale (vector search, no filter)."""
    base = df[(df["search"] == "vector") & (df["filter"] == "none")]
    if base.empty:
        return None
    panels = (
        ("qps", "QPS", "{:.0f}"),
        ("recall_at_10", "recall@10", "{:.3f}"),
        ("index_build_s", "index build (s)", "{:.1f}"),
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
            if np.isfinite(value):
                ax.text(
                    j, i, fmt.format(value), ha="center", va="center", color="white", fontsize=8
                )
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Vector search, no filter: medians per dim x scale")
    fig.tight_layout()
    return fig


def build_and_memory(df: pd.DataFrame) -> Figure | None:
    """Index build time and index memory against the number of documents, per dim (log axes)."""
    base = df[(df["search"] == "vector") & (df["filter"] == "none")]
    if base.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for dim, group in base.groupby("dim"):
        group = group.sort_values("n_docs")
        axes[0].plot(group["n_docs"], group["index_build_s"], "o-", label=f"d{dim}")
        axes[1].plot(group["n_docs"], group["index_memory_mb"], "o-", label=f"d{dim}")
    for ax, label in zip(
        axes, ("index build time (s)", "index memory (MB, loaded in a fresh process)"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("documents")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle("HNSW build cost by scale")
    fig.tight_layout()
    return fig


def vector_vs_hybrid(df: pd.DataFrame) -> Figure | None:
    """nDCG@10, MRR@10 and p50 latency of vector and hybrid search per dim (no filter)."""
    base = df[df["filter"] == "none"]
    if set(base["search"]) < {"vector", "hybrid"}:
        return None
    panels = (
        ("ndcg_at_10", "nDCG@10"),
        ("mrr_at_10", "MRR@10"),
        ("latency_p50_ms", "p50 latency (ms)"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        table = base.pivot_table(index="dim", columns="search", values=metric, aggfunc="median")
        table[["vector", "hybrid"]].plot.bar(ax=ax, rot=0)
        ax.set_xlabel("dim")
        ax.set_ylabel(label)
    fig.suptitle("Pure vector vs hybrid (vector + BM25), medians over scales")
    fig.tight_layout()
    return fig


def filter_impact(df: pd.DataFrame) -> Figure | None:
    """Recall, rows returned and p50 latency per filter strategy (vector search)."""
    base = df[df["search"] == "vector"].copy()
    base["strategy"] = np.where(
        base["filter"] == "none", "no filter", base["filter"] + "/" + base["strategy"]
    )
    if base["strategy"].nunique() < 2:
        return None
    panels = (
        ("recall_at_10", "recall@10"),
        ("rows_returned_mean", "rows returned (of 10)"),
        ("latency_p50_ms", "p50 latency (ms)"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        base.groupby("strategy")[metric].median().plot.bar(ax=ax, rot=20)
        ax.set_xlabel("filter / strategy")
        ax.set_ylabel(label)
    fig.suptitle("What a filter costs, per strategy (medians over scales and dims)")
    fig.tight_layout()
    return fig


def latency_percentiles(df: pd.DataFrame) -> Figure | None:
    """p50 / p95 / p99 latency per configuration."""
    if df.empty:
        return None
    table = df.set_index("configuration")[["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]]
    table = table.sort_index()
    fig, ax = plt.subplots(figsize=(9, max(3, 0.3 * len(table) + 1)))
    table.plot.barh(ax=ax)
    ax.set_xlabel("latency (ms, client side)")
    ax.set_ylabel("configuration")
    ax.set_xscale("log")
    ax.set_title("Latency percentiles per configuration")
    fig.tight_layout()
    return fig


FIGURES = {
    "recall_vs_qps": recall_vs_qps,
    "heatmaps": heatmaps,
    "build_and_memory": build_and_memory,
    "vector_vs_hybrid": vector_vs_hybrid,
    "filter_impact": filter_impact,
    "latency_percentiles": latency_percentiles,
}
