"""Findings: sentences computed from the per-configuration medians and ef curves.

Each finder takes the summary (summary.summarize with summary.attach_curves) and returns its
sentences, none when its runs are missing; FINDERS lists them in the report's order. No timing
comes from a run whose timing was disturbed: the loaded runs hold none.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from vssbench.engines.params import HEADLINE_EF
from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import BUILD_S, LATENCY_P50, NDCG, QPS, RECALL, ROWS
from vssbench.report.columns import DUCKDB, recall_label
from vssbench.report.summary import by_panel, curve_points, plain_vector

# vss is built on usearch: at the same ef, the difference between the two is what DuckDB adds.
USEARCH = "usearch"
# What a build is matched on when two engines are compared at the same ef.
BUILD = ["scale", "dim", "M", "ef_construction", "metric", "k"]


def disturbed_findings(summary: pd.DataFrame) -> list[str]:
    """How many runs' timings were left out."""
    disturbed = int(summary["disturbed_runs"].sum())
    if not disturbed:
        return []
    return [
        f"{disturbed} runs were timed while other processes took more CPU than "
        "bench.max_other_cpu_share: their timings are left out of every figure and finding."
    ]


def ef_findings(summary: pd.DataFrame, targets: tuple[float, ...] = (0.95, 0.99)) -> list[str]:
    """Per vector configuration without a filter that measured an ef curve: the smallest ef
    that reaches each recall target, and the QPS there."""
    recall, qps = RECALL.column, QPS.column
    out = []
    for row in plain_vector(summary).itertuples():
        curve = row.curve.dropna(subset=["ef"]).sort_values("ef")
        if len(curve) < 2:
            continue
        parts = []
        for target in targets:
            reached = curve[curve[recall] >= target]
            if reached.empty:
                parts.append(
                    f"does not reach {target} up to ef {curve.ef.max():.0f} "
                    f"({recall_label(summary)} {curve[recall].max():.3f})"
                )
            else:
                first = reached.iloc[0]
                parts.append(f"reaches {target} at ef {first.ef:.0f} ({first[qps]:.0f} QPS)")
        out.append(f"{row.configuration}: {recall_label(summary)} " + "; ".join(parts) + ".")
    return out


def best_at_recall(points: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per engine: its best recall, and the ef and QPS of its fastest timed point whose recall
    reaches `target` (NaN when none does); fastest engine first."""
    timed = points.dropna(subset=[QPS.column])
    reached = timed[timed[RECALL.column] >= target]
    fastest = reached.loc[reached.groupby("engine")[QPS.column].idxmax()].set_index("engine")
    best = timed.groupby("engine")[RECALL.column].max().to_frame("best_recall")
    return best.join(fastest[["ef", QPS.column]]).sort_values(QPS.column, ascending=False)


def _at_ef(engine: str, ef: float) -> str:
    if ENGINES[engine].exact:
        return " (exact)"
    return "" if pd.isna(ef) else f" at ef {ef:.0f}"


def qps_at_recall_findings(summary: pd.DataFrame, target: float = 0.95) -> list[str]:
    """Per scale x dim (vector search, no filter): each engine's highest QPS among its measured
    points that reach `target` recall."""
    recall = recall_label(summary)
    points = curve_points(plain_vector(summary), ["scale", "dim", "engine"])
    out = []
    for (scale, dim), panel in by_panel(points):
        parts = [
            f"{engine} {row[QPS.column]:.0f} QPS{_at_ef(engine, row.ef)}"
            if np.isfinite(row[QPS.column])
            else f"{engine} does not reach {target} (best {recall} {row.best_recall:.3f})"
            for engine, row in best_at_recall(panel, target).iterrows()
        ]
        out.append(
            f"{scale} d{dim}, highest QPS at {recall} >= {target}: " + "; ".join(parts) + "."
        )
    return out


def engine_overhead(summary: pd.DataFrame) -> pd.DataFrame:
    """Per build (BUILD) and ef that both duckdb_vss and usearch measured (vector search, no
    filter): their median QPS, the ratio usearch / duckdb_vss and DuckDB's extra ms per query."""
    points = curve_points(plain_vector(summary), [*BUILD, "engine"])
    points = points.dropna(subset=["ef", QPS.column])
    qps = points.groupby([*BUILD, "ef", "engine"])[QPS.column].median().unstack("engine")
    both = qps.reindex(columns=[DUCKDB, USEARCH]).dropna().reset_index()
    both["ratio"] = both[USEARCH] / both[DUCKDB]
    both["extra_ms"] = 1000 / both[DUCKDB] - 1000 / both[USEARCH]
    return both


def _overhead_sentence(label: str, points: pd.DataFrame) -> str:
    """One build's comparison: at the headline ef (or the shared ef nearest it), and its range."""
    head = points.iloc[(points["ef"] - HEADLINE_EF).abs().argmin()]
    more = "more" if head.extra_ms >= 0 else "less"
    spread = (
        f"; ef {points.ef.min():.0f}-{points.ef.max():.0f}: "
        f"{points.ratio.min():.1f}-{points.ratio.max():.1f}x"
        if len(points) > 1
        else ""
    )
    return (
        f"{label}: {USEARCH} answers {head.ratio:.1f}x the queries per second of {DUCKDB} at "
        f"ef {head.ef:.0f} ({abs(head.extra_ms):.2f} ms {more} per query in DuckDB{spread})."
    )


def overhead_findings(summary: pd.DataFrame) -> list[str]:
    """DuckDB's overhead over usearch at the same ef, per scale x dim (and per build where a
    scale x dim has several)."""
    out = []
    for (scale, dim), panel in by_panel(engine_overhead(summary)):
        builds = list(panel.groupby(BUILD[2:]))
        for (m, efc, metric, k), points in builds:
            label = f"{scale} d{dim}" + (f" M{m} efc{efc} {metric} k{k}" if len(builds) > 1 else "")
            out.append(_overhead_sentence(label, points.sort_values("ef")))
    return out


def _hybrid_sentence(place: str, label: str, vector: pd.Series, hybrid: pd.Series) -> str:
    """What hybrid search changes in nDCG@10 and p50 latency against vector search."""
    ndcg, p50 = NDCG.column, LATENCY_P50.column
    cost = (
        f"at a p50 latency cost of {hybrid[p50] - vector[p50]:+.1f} ms "
        f"({vector[p50]:.1f} -> {hybrid[p50]:.1f} ms)"
        if np.isfinite([vector[p50], hybrid[p50]]).all()
        else "(latency not compared: a timing was disturbed)"
    )
    return (
        f"At {place} ({label}), hybrid search changes nDCG@10 by "
        f"{hybrid[ndcg] - vector[ndcg]:+.3f} ({vector[ndcg]:.3f} -> {hybrid[ndcg]:.3f}) "
        f"{cost}."
    )


def hybrid_findings(summary: pd.DataFrame) -> list[str]:
    """Per scale x dim and engine without a filter: hybrid against vector search."""
    columns = [NDCG.column, LATENCY_P50.column]
    out = []
    plain = summary[summary["filter"] == "none"]
    for (scale, dim, engine), group in plain.groupby(["scale", "dim", "engine"]):
        vector_runs = group[group["search"] == "vector"]
        if vector_runs.empty:
            continue
        vector = vector_runs[columns].median()
        # One finding per BM25 implementation: search.bm25 changes the hybrid's latency.
        for bm25, hybrid in group[group["search"] == "hybrid"].groupby("bm25", dropna=False):
            label = engine if ENGINES[engine].native_hybrid else f"{engine}, BM25 {bm25}"
            out.append(_hybrid_sentence(f"{scale}/{dim}", label, vector, hybrid[columns].median()))
    return out


def fastest_findings(summary: pd.DataFrame) -> list[str]:
    """Per scale: the fastest vector configuration without a filter with recall >= 0.95."""
    recall, qps = RECALL.column, QPS.column
    label = recall_label(summary)
    out = []
    for scale, group in plain_vector(summary).groupby("scale"):
        good = group[(group[recall] >= 0.95) & group[qps].notna()]
        untimed = int(group[qps].isna().sum())
        if not good.empty:
            best = good.loc[good[qps].idxmax()]
            out.append(
                f"At {scale}, the fastest vector configuration with {label} >= 0.95 is "
                f"{best.configuration}: {best[qps]:.0f} QPS at {label} {best[recall]:.3f}"
                + (
                    f" ({untimed} configurations without an undisturbed timing not compared)."
                    if untimed
                    else "."
                )
            )
    return out


def filter_findings(summary: pd.DataFrame) -> list[str]:
    """Per engine, filter and strategy (vector search): rows returned, recall and p50."""
    vector = summary[summary["search"] == "vector"]
    filtered = vector[vector["filter"] != "none"]
    return [
        f"{engine}, filter {name} with strategy {strategy}: "
        f"{group[ROWS.column].median():.1f} of 10 rows returned, "
        f"{recall_label(summary)} {group[RECALL.column].median():.3f}, "
        f"p50 {group[LATENCY_P50.column].median():.2f} ms "
        f"(medians over {len(group)} configurations)."
        for (engine, name, strategy), group in filtered.groupby(["engine", "filter", "strategy"])
    ]


def build_findings(summary: pd.DataFrame) -> list[str]:
    """Per engine and dim (vector search, no filter): how index build time grows with documents."""
    out = []
    for (engine, dim), group in plain_vector(summary).groupby(["engine", "dim"]):
        # Exact engines build no index: their build time is missing.
        build = group.groupby("n_docs")[BUILD_S.column].median().dropna()
        if len(build) >= 2:
            small, large = build.index.min(), build.index.max()
            out.append(
                f"{engine} at d{dim}: index build time grows {build[large] / build[small]:.1f}x "
                f"from {small:,} to {large:,} documents "
                f"({build[small]:.1f} s -> {build[large]:.1f} s)."
            )
    return out


FINDERS: tuple[Callable[[pd.DataFrame], list[str]], ...] = (
    disturbed_findings,
    ef_findings,
    qps_at_recall_findings,
    overhead_findings,
    hybrid_findings,
    fastest_findings,
    filter_findings,
    build_findings,
)


def findings(summary: pd.DataFrame) -> list[str]:
    """Every finder's sentences, in FINDERS' order."""
    return [sentence for finder in FINDERS for sentence in finder(summary)]
