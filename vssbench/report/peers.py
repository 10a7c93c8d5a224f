"""Findings that compare engines on unfiltered vector search: DuckDB's overhead over usearch at
the same ef; and each engine's best point at a recall target, which tables.py shows. One engine is said to be
faster than another only where their 95% QPS intervals do not overlap (overlap.py)."""

import pandas as pd

from vssbench.engines.params import HEADLINE_EF
from vssbench.measure.definitions import QPS, RECALL
from vssbench.report.columns import DUCKDB, INTERVALS
from vssbench.report.overlap import estimate, known, overlaps, span
from vssbench.report.summary import by_panel, curve_points, envelope, plain_vector

# vss is built on usearch: at the same ef, the difference between the two is what DuckDB adds.
USEARCH = "usearch"
# What a build is matched on when two engines are compared at the same ef.
BUILD = ["scale", "dim", "M", "ef_construction", "metric", "k"]


def best_at_recall(points: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per engine: its best recall, and the ef and QPS (with its interval) of its fastest timed
    point whose recall reaches `target` (NaN when none does); fastest engine first."""
    timed = points.dropna(subset=[QPS.column])
    reached = timed[timed[RECALL.column] >= target]
    fastest = reached.loc[reached.groupby("engine")[QPS.column].idxmax()].set_index("engine")
    best = timed.groupby("engine")[RECALL.column].max().to_frame("best_recall")
    shown = ["ef", QPS.column, *INTERVALS[QPS.column]]
    return best.join(fastest[shown]).sort_values(QPS.column, ascending=False)


def engine_overhead(summary: pd.DataFrame) -> pd.DataFrame:
    """Per build (BUILD) and ef that both duckdb_vss and usearch measured (vector search, no
    filter): each one's median QPS and the span of its intervals (columns `<engine>`,
    `<engine>_ci_low`, `<engine>_ci_high`), the ratio usearch / duckdb_vss and DuckDB's extra ms
    per query; `busy` where either was timed only on a busy machine."""
    qps, (low, high) = QPS.column, INTERVALS[QPS.column]
    points = curve_points(plain_vector(summary), [*BUILD, "engine", "busy"])
    points = points.dropna(subset=["ef", qps])
    keys = [*BUILD, "ef", "engine"]
    stats = points.groupby(keys, dropna=False)[[qps]].median().join(envelope(points, keys, [qps]))
    wide = stats.unstack("engine").reindex(
        columns=pd.MultiIndex.from_product([[qps, low, high], [DUCKDB, USEARCH]])
    )
    wide.columns = [f"{engine}{stat.removeprefix(qps)}" for stat, engine in wide.columns]
    busy = points.groupby([*BUILD, "ef"], dropna=False)["busy"].any()
    both = wide.dropna(subset=[DUCKDB, USEARCH]).join(busy).reset_index()
    both["ratio"] = both[USEARCH] / both[DUCKDB]
    both["extra_ms"] = 1000 / both[DUCKDB] - 1000 / both[USEARCH]
    return both


def _side(head: pd.Series, engine: str) -> pd.Series:
    """One engine's QPS at a point of engine_overhead, as a row overlap.py reads."""
    low, high = INTERVALS[QPS.column]
    return pd.Series(
        {QPS.column: head[engine], low: head[f"{engine}_ci_low"], high: head[f"{engine}_ci_high"]}
    )


def _overhead_sentence(label: str, points: pd.DataFrame) -> str:
    """One build's comparison: at the headline ef (or the shared ef nearest it), and its range;
    no ratio is claimed when the two intervals overlap there."""
    head = points.iloc[(points["ef"] - HEADLINE_EF).abs().argmin()]
    duckdb, usearch = _side(head, DUCKDB), _side(head, USEARCH)
    details = ["busy: timed while other processes took the CPU"] * bool(head["busy"])
    if known(duckdb, QPS.column) and known(usearch, QPS.column):
        details.append(
            f"95% intervals {span(usearch, QPS.column)} and {span(duckdb, QPS.column)} QPS"
        )
    if len(points) > 1:
        details.append(
            f"ef {points.ef.min():.0f}-{points.ef.max():.0f}: "
            f"{points.ratio.min():.1f}-{points.ratio.max():.1f}x"
        )
    if overlaps(estimate(duckdb, QPS.column), estimate(usearch, QPS.column)):
        detail = f" ({'; '.join(details)})" if details else ""
        return (
            f"{label}: at ef {head.ef:.0f}, {USEARCH} ({head[USEARCH]:.0f} QPS) and {DUCKDB} "
            f"({head[DUCKDB]:.0f} QPS) do not differ beyond their 95% intervals{detail}."
        )
    more = "more" if head.extra_ms >= 0 else "less"
    details.insert(0, f"{abs(head.extra_ms):.2f} ms {more} per query in DuckDB")
    return (
        f"{label}: {USEARCH} answers {head.ratio:.1f}x the queries per second of {DUCKDB} at "
        f"ef {head.ef:.0f} ({'; '.join(details)})."
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
