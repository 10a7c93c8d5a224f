"""Findings: sentences computed from the per-configuration medians, intervals and ef curves.

Each finder takes the summary (summary.summarize with summary.attach_curves) and returns its
sentences, none when its runs are missing; FINDERS lists them in the report's order (those that
compare engines are in peers); per-configuration facts are tables (tables.py). A disturbed
run's timing or build time comes in only where its configuration has no undisturbed run, and a
finding that uses one says "busy" (load.py). A finding claims that one timing beats another
only when their 95% intervals do not overlap (overlap.py).
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import BUILD_S, LATENCY_P50, NDCG, QPS, RECALL, ROWS
from vssbench.report.columns import INDEX_FAMILY, recall_label, scale_rank
from vssbench.report.overlap import estimate, known, overlaps, pooled, span, tied_with_best
from vssbench.report.peers import overhead_findings
from vssbench.report.summary import count, plain_vector

# At most this many configurations are named where a finding lists those it left out.
NAMED = 4


def _named(configurations: pd.Series) -> str:
    names = list(configurations)
    shown = ", ".join(names[:NAMED])
    return shown + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def _disturbed(summary: pd.DataFrame, counted: str, busy: str, what: str) -> list[str]:
    """The runs whose `what` was left out (their configuration has undisturbed runs), and the
    configurations shown busy (it has none)."""
    marked = summary[summary[busy]]
    left_out = int(summary[counted].sum()) - int(marked["runs"].sum())
    out = []
    if left_out:
        out.append(
            f"The {what} of {count(left_out, 'run')} were measured while other processes took "
            "more CPU than bench.max_other_cpu_share: left out, as other runs of the same "
            "configurations were measured undisturbed."
        )
    if len(marked):
        out.append(
            f"The {what} of {count(len(marked), 'configuration')} were measured only while other "
            "processes took more CPU than bench.max_other_cpu_share (a busy machine): shown, "
            "marked busy, and likely slower than on a quiet machine; run them again on a quiet "
            f"one to compare them: {_named(marked['configuration'])}."
        )
    return out


def disturbed_findings(summary: pd.DataFrame) -> list[str]:
    """Which runs' timings and build times were left out, and which configurations' are shown
    though measured on a busy machine."""
    return [
        *_disturbed(summary, "disturbed_runs", "busy", "timings"),
        *_disturbed(summary, "build_disturbed_runs", "build_busy", "build times"),
    ]


def interval_findings(summary: pd.DataFrame) -> list[str]:
    """Which timings carry no 95% interval, and which intervals leave out the drift between
    processes."""
    qps = QPS.column
    timed = summary[summary[qps].notna()]
    out = []
    untested = timed[[not known(row, qps) for _, row in timed.iterrows()]]
    if len(untested):
        verb = "has" if len(untested) == 1 else "have"
        out.append(
            f"{len(untested)} of {count(len(timed), 'timed configuration')} {verb} no 95% "
            "interval (runs logged before intervals): findings compare their timings as points, "
            "untested."
        )
    over = timed.get("interval_over", pd.Series(None, timed.index, dtype=object))
    passes = int(over.fillna("").str.contains("passes").sum())
    if passes:
        out.append(
            f"The intervals of {count(passes, 'configuration')} are over the timed passes of one "
            "process (bench.trials=1, before bench_version 5): they leave out how timings drift "
            "from one process to the next, so they are narrower than the spread between runs; "
            "run them again to time them in trials."
        )
    return out


def _hybrid_sentence(place: str, label: str, vector: dict, hybrid: dict) -> str:
    """What hybrid search changes in nDCG@10 and p50 latency against vector search; a latency
    cost only where the two p50 intervals do not overlap."""
    ndcg, p50 = NDCG.column, LATENCY_P50.column
    if not np.isfinite([vector[p50], hybrid[p50]]).all():
        cost = "(latency not compared: a timing is missing)"
    elif overlaps(estimate(vector, p50), estimate(hybrid, p50)):
        cost = (
            f"with no p50 latency difference beyond their 95% intervals "
            f"({vector[p50]:.1f} vs {hybrid[p50]:.1f} ms)"
        )
    else:
        cost = (
            f"at a p50 latency cost of {hybrid[p50] - vector[p50]:+.1f} ms "
            f"({vector[p50]:.1f} -> {hybrid[p50]:.1f} ms)"
        )
    busy = " (busy: timed while other processes took the CPU)" * (vector["busy"] or hybrid["busy"])
    return (
        f"At {place} ({label}), hybrid search changes nDCG@10 by "
        f"{hybrid[ndcg] - vector[ndcg]:+.3f} ({vector[ndcg]:.3f} -> {hybrid[ndcg]:.3f}) "
        f"{cost}{busy}."
    )


def _side_of(group: pd.DataFrame) -> dict:
    """A search type's configurations as one: median nDCG@10, p50 with its intervals' span."""
    return {
        NDCG.column: group[NDCG.column].median(),
        "busy": bool(group["busy"].any()),
        **pooled(group, LATENCY_P50.column),
    }


def hybrid_findings(summary: pd.DataFrame) -> list[str]:
    """Per scale x dim and engine without a filter: hybrid against vector search."""
    out = []
    plain = summary[summary["filter"] == "none"]
    for (scale, dim, engine), group in plain.groupby(["scale", "dim", "engine"]):
        vector_runs = group[group["search"] == "vector"]
        if vector_runs.empty:
            continue
        vector = _side_of(vector_runs)
        # One finding per BM25 implementation: search.bm25 changes the hybrid's latency.
        for bm25, hybrid in group[group["search"] == "hybrid"].groupby("bm25", dropna=False):
            label = engine if ENGINES[engine].native_hybrid else f"{engine}, BM25 {bm25}"
            out.append(_hybrid_sentence(f"{scale}/{dim}", label, vector, _side_of(hybrid)))
    return out


def _fastest_sentence(scale: str, label: str, target: float, good: pd.DataFrame) -> str:
    """The fastest configurations among `good`: every one whose QPS interval overlaps the
    best's, and how many others are slower beyond their intervals."""
    recall, qps = RECALL.column, QPS.column
    tied = tied_with_best(good, qps)
    slower = len(good) - len(tied)
    verb = "is" if slower == 1 else "are"
    rest = f"; {count(slower, 'other')} {verb} slower beyond the 95% intervals" if slower else ""

    def shown(row: pd.Series) -> str:
        interval = span(row, qps)
        return (
            f"{row[qps]:.0f} QPS"
            + (f" (95% {interval})" if interval else "")
            + (f" at {label} {row[recall]:.3f}")
            + (" (busy)" if row["busy"] else "")
        )

    if len(tied) == 1:
        best = tied.iloc[0]
        return (
            f"At {scale}, the fastest vector configuration with {label} >= {target} is "
            f"{best.configuration}: {shown(best)}{rest}"
        )
    names = "; ".join(f"{row.configuration}: {shown(row)}" for _, row in tied.iterrows())
    return (
        f"At {scale}, {len(tied)} vector configurations with {label} >= {target} are the fastest, "
        f"their 95% QPS intervals overlapping the best's: {names}{rest}"
    )


def fastest_findings(summary: pd.DataFrame, target: float = 0.95) -> list[str]:
    """Per scale: the fastest vector configurations without a filter with recall >= target,
    every one whose interval overlaps the best's, and those without a timing to compare (or
    timed only on a busy machine, where others were not)."""
    recall, qps = RECALL.column, QPS.column
    label = recall_label(summary)
    out = []
    groups = plain_vector(summary).groupby("scale")
    for scale, group in sorted(groups, key=lambda item: scale_rank(item[0])):
        good = group[(group[recall] >= target) & group[qps].notna()]
        # Timings from a busy machine are compared only among themselves.
        busy = good[good["busy"]] if (~good["busy"]).any() else good.iloc[:0]
        good = good.drop(busy.index)
        if good.empty:
            continue
        untimed = group[group[qps].isna()]
        left_out = [f"{len(untimed)} without a timing"] * bool(len(untimed))
        left_out += [f"{len(busy)} timed only on a busy machine"] * bool(len(busy))
        names = _named(pd.concat([untimed, busy])["configuration"])
        note = f" ({' and '.join(left_out)} not compared: {names})" if left_out else ""
        out.append(_fastest_sentence(scale, label, target, good) + note + ".")
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


def _build_label(engine: str, dim: int, family: tuple, several: bool) -> str:
    m, efc, metric = family
    return f"{engine} at d{dim}" + (f" M{m} efc{efc} {metric}" if several else "")


def build_findings(summary: pd.DataFrame) -> list[str]:
    """Per index family (INDEX_FAMILY): how index build time grows with documents; disturbed
    builds left out where their configuration has an undisturbed one, else shown and counted."""
    out = []
    for (engine, dim), group in summary.groupby(["engine", "dim"]):
        families = list(group.groupby(INDEX_FAMILY[2:]))
        for family, runs in families:
            # Exact engines build no index: their build time is missing.
            build = runs.groupby("n_docs")[BUILD_S.column].median().dropna()
            if len(build) < 2:
                continue
            small, large = build.index.min(), build.index.max()
            busy = runs[runs["build_busy"]]
            left_out = int(runs["build_disturbed_runs"].sum()) - int(busy["runs"].sum())
            notes = [f"; {count(left_out, 'run')} with a disturbed build left out"] * bool(left_out)
            notes += [f"; {count(len(busy), 'busy build')} shown"] * bool(len(busy))
            note = "".join(notes)
            out.append(
                f"{_build_label(engine, dim, family, len(families) > 1)}: index build time grows "
                f"{build[large] / build[small]:.1f}x from {small:,} to {large:,} documents "
                f"({build[small]:.1f} s -> {build[large]:.1f} s{note})."
            )
    return out


FINDERS: tuple[Callable[[pd.DataFrame], list[str]], ...] = (
    disturbed_findings,
    interval_findings,
    overhead_findings,
    hybrid_findings,
    fastest_findings,
    filter_findings,
    build_findings,
)


def findings(summary: pd.DataFrame) -> list[str]:
    """Every finder's sentences, in FINDERS' order."""
    return [sentence for finder in FINDERS for sentence in finder(summary)]
