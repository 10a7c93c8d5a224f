"""workload=churn: an index built over a share of the documents, then rounds of deletes, updates
and inserts from a seeded runbook (workload/runbook.py), each round measured against exact search
over the rows live at that moment; then the engine's compaction and the same measurements."""

import logging
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench.data.load import Dataset, data_key, load_dataset
from vssbench.engines.registry import engine_class
from vssbench.engines.seam import MutableEngine
from vssbench.measure.memory import rss_mb
from vssbench.measure.timing import Timing
from vssbench.run import points, timings
from vssbench.run.plan import RunPlan, TimingSettings
from vssbench.stopwatch import Stopwatch
from vssbench.workload import crash
from vssbench.workload.runbook import Round, RoundVectors, Runbook, make_runbook
from vssbench.workload.scoring import live_truth, round_scores, self_found

log = logging.getLogger(__name__)

PREFIX = "churn."  # every round's metrics, as steps (step = round; 0: the initial build)
COMPACTED = "compacted."  # the same measurements after the engine's compaction
NO_INDEX = "no_index."  # round 1's changes on the same table without its index (DuckDB)
OPERATIONS = ("delete", "update", "insert")  # the order a round applies them in
SELF_CHECKS = 200  # updated rows searched for by their new vector, per round


@dataclass
class ChurnResult:
    metrics: dict[str, float]
    params: dict[str, str]
    steps: dict[str, list[tuple[int, float]]]
    states: pd.DataFrame  # one row per measured state: round 0..R, then compacted
    timings: list[Timing]  # every state's timed passes, series churn_<round> / churn_compacted
    crashes: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class _Run:
    """What every state's measurement needs."""

    plan: RunPlan
    data: Dataset
    book: Runbook
    eng: MutableEngine
    timed: TimingSettings  # the plan's, with every trial's passes in this process
    vectors: RoundVectors  # the documents' vectors as the rounds measured so far left them


def measure(plan: RunPlan, watch: Stopwatch) -> ChurnResult:
    settings = plan.workload.churn
    with watch.stage("data"):
        data = load_dataset(plan.data, plan.cache_dir)
    book = make_runbook(data.doc_vectors, settings, plan.data.seed)
    eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
    scratch = Path(tempfile.mkdtemp(prefix="churn-"))
    # The state lives in this process: a round's trials are more passes here, not processes.
    timed = replace(plan.timing, repeats=plan.timing.repeats * plan.timing.trials)
    try:
        path = scratch / "churn.duckdb" if _file_backed(plan) else None
        facts = eng.open_mutable(data, plan.build, book.initial, path, watch)
        run = _Run(plan, data, book, eng, timed, RoundVectors(data.doc_vectors, book))
        eng.set_query(points.headline(plan.search, False, np.full(len(data.queries), None)))
        states, series = [_state(run, 0, watch)], []
        series.append(states[0].pop("timing"))
        for r in book.rounds:
            with watch.stage(f"round_{r.number}"):
                changes = {**_apply(eng, r, data), **_persist(eng)}
            state = _state(run, r.number, watch)
            series.append(state.pop("timing"))
            states.append({**changes, **state})
            log.info("churn round %d: %s", r.number, _line(states[-1]))
        metrics = {**facts, **_no_index(plan, data, book, eng)}
        t = time.perf_counter()
        with watch.stage("compaction"):
            done = eng.compact()
        if done:
            metrics["compaction_s"] = time.perf_counter() - t
            t = time.perf_counter()
            if eng.checkpoint():
                metrics["compaction_checkpoint_s"] = time.perf_counter() - t
            state = _state(run, len(book.rounds), watch, label="compacted")
            series.append(state.pop("timing"))
            states.append({"state": "compacted", **state})
            log.info("after compaction (%.1f s): %s", metrics["compaction_s"], _line(states[-1]))
        versions = eng.versions()
    finally:
        eng.close()
    kills = plan.workload.churn.kills
    crashes = crash.kills(plan, data, book, path, kills) if path and kills else pd.DataFrame()
    return _result(plan, eng.name, versions, states, series, metrics, done, crashes)


def _file_backed(plan: RunPlan) -> bool:
    """DuckDB keeps its index in a database file when engine.reuse_index is true (as static
    runs do): then checkpoints, the WAL and crashes are measured; else the table is in memory."""
    return getattr(plan.engine.options, "reuse_index", False)


def _apply(eng: MutableEngine, r: Round, data: Dataset) -> dict[str, float]:
    """One round's deletes, updates and inserts, each timed: rows per second."""
    out: dict[str, float] = {}
    work = {
        "delete": (r.delete, lambda: eng.delete(r.delete)),
        "update": (r.update, lambda: eng.update(r.update, r.update_vectors)),
        "insert": (r.insert, lambda: eng.insert(r.insert, data.doc_vectors[r.insert])),
    }
    for name in OPERATIONS:
        ids, run = work[name]
        if len(ids):
            t = time.perf_counter()
            run()
            out[f"{name}_rows_per_s"] = len(ids) / (time.perf_counter() - t)
    return out


def _persist(eng: MutableEngine) -> dict[str, float]:
    """A checkpoint where the engine keeps a database file: the WAL's size before it and the
    checkpoint's time (the file's size after is the state's)."""
    wal = eng.storage().get("wal_mb")
    t = time.perf_counter()
    if not eng.checkpoint():
        return {}
    return {"checkpoint_s": time.perf_counter() - t, "wal_mb": wal}


def _state(run: _Run, count: int, watch: Stopwatch, label: str = "") -> dict:
    """The index after `count` rounds: timed one-client passes at the headline ef, scored
    against exact search over the live rows, with its memory and storage."""
    plan, data, eng, k = run.plan, run.data, run.eng, run.plan.search.k
    name = label or f"round {count}"
    live = run.book.live_after(count)
    current = run.vectors.at(count)  # rows gathered as scored, not a copy of every vector
    key = {**data_key(plan.data), "runbook": _runbook_key(plan), "round": count}
    with watch.stage("churn_truth"):
        truth, _ = live_truth(
            data.query_vectors, current, live, k, plan.build.metric, plan.cache_dir, key
        )
    step = lambda i: eng.query(data.query_vectors[i], None)  # noqa: E731
    timing = points.one_client(step, len(data.queries), f"queries, {name}", run.timed)
    timing.series = f"churn_{label or count}"
    timing.keep_ids(lambda found: eng.ids(found)[:k])
    head = timings.headline(timings.passes_frame([[timing]]), timing.series)
    scores = round_scores(
        data.query_vectors, current, live, truth["dist"], timing.typical.ids, k, plan.build.metric
    )
    out = {
        "state": name,
        "round": count,
        "live_rows": float(len(live)),
        "recall": scores["recall"],
        "rows_returned": scores["rows_returned"],
        "deleted_result_share": scores["deleted_result_share"],
        **{m: head[m] for m in ("qps", "qps_ci_low", "qps_ci_high", "latency_p99_ms")},
        **{m: head[m] for m in ("latency_p99_ms_ci_low", "latency_p99_ms_ci_high")},
        "other_cpu_share": head["other_cpu_share"],
        "rss_mb": rss_mb(),
        # After the round's checkpoint the WAL is empty: its size before is the round's.
        **{name: v for name, v in eng.storage().items() if name != "wal_mb"},
        "timing": timing,
    }
    if count and not label:
        moved = run.book.rounds[count - 1].update[:SELF_CHECKS]
        found = [eng.ids(eng.query(current[i], None))[:k] for i in moved]
        out["updated_found_share"] = self_found(moved, found)
    return out


def _runbook_key(plan: RunPlan) -> dict:
    """What makes a round's live rows: the runbook's settings and seed (not the crash test)."""
    c = plan.workload.churn
    return {
        "initial": c.initial,
        "rounds": c.rounds,
        "insert": c.insert,
        "delete": c.delete,
        "update": c.update,
        "seed": plan.data.seed,
    }


def _no_index(plan: RunPlan, data: Dataset, book: Runbook, eng: MutableEngine) -> dict[str, float]:
    """Round 1's changes timed on the same table without its index, once: what the index costs
    each change (engines whose table exists without an index: DuckDB)."""
    plain = eng.without_index(data, book.initial) if book.rounds else None
    if plain is None:
        return {}
    try:
        rates = _apply(plain, book.rounds[0], data)
    finally:
        plain.close()
    return {NO_INDEX + name: v for name, v in rates.items() if name.endswith("_rows_per_s")}


def _line(state: dict) -> str:
    return (
        f"{state['live_rows']:.0f} live rows, recall {state['recall']:.3f}, "
        f"{state['qps']:.0f} QPS, p99 {state['latency_p99_ms']:.2f} ms, "
        f"deleted in results {state['deleted_result_share']:.3f}"
    )


# Per state, the columns logged as metrics (churn.<name> as steps, compacted.<name> once).
LOGGED = (
    "live_rows",
    "recall",
    "qps",
    "qps_ci_low",
    "qps_ci_high",
    "latency_p99_ms",
    "latency_p99_ms_ci_low",
    "latency_p99_ms_ci_high",
    "rows_returned",
    "deleted_result_share",
    "updated_found_share",
    "rss_mb",
    "index_memory_mb",
    "file_mb",
    "wal_mb",
    "checkpoint_s",
    *(f"{op}_rows_per_s" for op in OPERATIONS),
)


def metric_name(column: str, k: int) -> str:
    """A state column's metric name: recall is recall_at_<k>."""
    return f"recall_at_{k}" if column == "recall" else column


def _result(
    plan: RunPlan,
    engine: str,
    versions: dict[str, str],
    states: list[dict],
    series: list[Timing],
    metrics: dict[str, float],
    compaction: str,
    crashes: pd.DataFrame,
) -> ChurnResult:
    k = plan.search.k
    frame = pd.DataFrame(states)
    rounds = frame[frame["state"] != "compacted"]
    steps: dict[str, list[tuple[int, float]]] = {}
    for column in LOGGED:
        if column in rounds:
            values = rounds[["round", column]].dropna()
            steps[PREFIX + metric_name(column, k)] = [
                (int(r), float(v)) for r, v in values.itertuples(index=False)
            ]
    compacted = frame[frame["state"] == "compacted"]
    for column in LOGGED:
        if len(compacted) and column in compacted and pd.notna(compacted[column].iat[0]):
            metrics[COMPACTED + metric_name(column, k)] = float(compacted[column].iat[0])
    last = rounds.iloc[-1]
    metrics["churn.recall_drift"] = float(last["recall"] - rounds["recall"].iat[0])
    # The headline (what a sweeper and the console read) is the last round's, uncompacted.
    metrics[f"recall_at_{k}"] = float(last["recall"])
    for column in ("qps", "qps_ci_low", "qps_ci_high", "latency_p99_ms"):
        metrics[column] = float(last[column])
    metrics["churn.rounds"] = float(len(rounds) - 1)
    params = {
        "engine": engine,
        "compaction": compaction or "none: the engine has no compaction",
        "churn.storage": "database file" if _file_backed(plan) else "memory",
        "churn.timed": f"one client at the headline ef, {plan.timing.repeats * plan.timing.trials} "
        "passes per state in the run's process (bench.repeats x bench.trials)",
        **{f"version.{n}": v for n, v in versions.items()},
    }
    return ChurnResult(metrics, params, steps, frame, series, crashes)
