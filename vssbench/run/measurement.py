"""What one run measures: data, the engine's index, the plan check, the timed points, batch and
clients, and the scores, gathered into a Measurement (logged by run/record.py)."""

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vssbench.data import difficulty
from vssbench.data.load import Dataset, data_key, load_dataset, load_tokens
from vssbench.engines.registry import engine_class
from vssbench.engines.seam import Engine
from vssbench.measure import accuracy, definitions
from vssbench.run import points, throughput
from vssbench.run.hybrid import hybrid_search
from vssbench.run.plan import RunPlan
from vssbench.run.points import Point
from vssbench.run.scoring import (
    exact_recall,
    filter_values,
    label_scores,
    per_query_frame,
    rows_summary,
    summarize_labels,
)
from vssbench.stopwatch import Stopwatch

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    per_query: pd.DataFrame
    recall_by_rank: np.ndarray
    plan: str
    # Curves: metric -> (step, value), step = ef or clients.
    steps: dict[str, list[tuple[int, float]]]


@dataclass
class _Opened:
    """The run's data and its open engine, with what opening them took."""

    data: Dataset
    eng: Engine
    query_tokens: list[str] | None
    timings: dict[str, float]


def measure(plan: RunPlan, watch: Stopwatch) -> Measurement:
    started = time.perf_counter()
    with watch.stage("data"):
        data = load_dataset(plan.data, plan.cache_dir)
    timings = dict(data.timings)
    doc_tokens = query_tokens = None
    hybrid = plan.search.hybrid
    if hybrid:
        with watch.stage("tokens"):
            t = time.perf_counter()
            doc_tokens, query_tokens, data.cache_hits["tokens"] = load_tokens(
                plan.data, data, hybrid.tokenizer, plan.cache_dir
            )
            timings["tokenize_s"] = time.perf_counter() - t
    eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
    try:
        timings.update(eng.open(data, plan.build, data_key(plan.data), plan.cache_dir, watch))
        if hybrid:
            with watch.stage("fts_build"):
                timings.update(eng.open_texts(data, doc_tokens, plan.search.column, hybrid.bm25))
        opened = _Opened(data, eng, query_tokens, timings)
        return _query_and_score(plan, opened, started, watch)
    finally:
        with watch.stage("close"):
            eng.close()


def _query_and_score(
    plan: RunPlan, opened: _Opened, started: float, watch: Stopwatch
) -> Measurement:
    eng, data, search, k = opened.eng, opened.data, plan.search, plan.search.k
    values = filter_values(data, search.column)
    head_settings = points.headline(search, plan.engine.exact, values)
    eng.set_query(head_settings)
    with watch.stage("plan_check"):
        query_plan = eng.explain(data.query_vectors[0], values[0])
    params = _run_params(eng, head_settings.strategy, opened.timings, data)
    log.info(
        "timing %d queries, best of %d passes, after %d warm-up queries",
        len(data.queries),
        plan.timing.repeats,
        plan.timing.warmup,
    )
    with watch.stage("queries"):
        curve = points.curve(
            eng,
            data,
            search,
            plan.engine.exact,
            values,
            plan.timing,
            plan.build.metric,
            head_settings.rows_asked,
        )
    eng.set_query(head_settings)
    head = next(p for p in curve if p.ef == (head_settings.effective_ef or head_settings.ef_search))
    summary, per_query, vector_ids = _headline(plan, opened, values, head, params, watch)
    summary.update(eng.index_info())
    if head_settings.effective_ef is not None:  # an exact query never reaches the index
        summary["effective_ef_search"] = float(head_settings.effective_ef)
    by_rank = _exact_scores(summary, per_query, data, vector_ids, k, plan.build.metric, watch)
    steps = points.steps(curve, k)
    summary.update(_load(plan, eng, data, values, head, params, steps, watch))
    disturbed = _disturbed(summary, curve, plan.timing.max_other_cpu_share)
    summary.update(opened.timings)
    summary["run_wall_s"] = time.perf_counter() - started
    if search.hybrid:
        summary["fts_build_share"] = summary["fts_build_s"] / summary["run_wall_s"]
    tags = {f"version.{name}": v for name, v in eng.versions().items()}
    tags["timing_disturbed"] = str(disturbed).lower()
    return Measurement(summary, params, tags, per_query, by_rank, query_plan, steps)


def _run_params(eng: Engine, strategy: str, timings: dict, data: Dataset) -> dict[str, str]:
    """What the run's params say about how it was measured (index, plan check, data)."""
    if not data.has_labels:
        log.info(
            "labels: the queries have none (dataset.columns.relevant): MRR, nDCG and relevant "
            "recall are not measured"
        )
    return {
        "plan_uses_hnsw": str(eng.uses_index),
        "plan_check": "passed" if eng.checks_plan else "none: a library has no query plan",
        "filter_strategy_used": strategy,
        "engine": eng.name,
        "index": {None: "none", 0.0: "built", 1.0: "reused"}[timings.pop("index_reused", None)],
        "sql": eng.sql,
        **eng.describe(),
        **{f"cache_hit.{name}": str(hit) for name, hit in data.cache_hits.items()},
        "groundtruth": "the file's own, checked against exact search on a sample"
        if data.groundtruth
        else "exact search",
        "labels": "yes" if data.has_labels else "none: MRR, nDCG and relevant recall not measured",
    }


def _headline(
    plan: RunPlan,
    opened: _Opened,
    values: np.ndarray,
    head: Point,
    params: dict,
    watch: Stopwatch,
) -> tuple[dict[str, float], pd.DataFrame, list[np.ndarray]]:
    """The headline point's summary, per-query frame and the vector ids it returned: the hybrid
    queries for search=hybrid, else the headline ef point of the curve."""
    eng, data, k = opened.eng, opened.data, plan.search.k
    if plan.search.hybrid:
        out = hybrid_search(eng, plan.search, plan.timing, data, values, opened.query_tokens, watch)
        params["bm25_sql"] = eng.text_sql
        return out
    with watch.stage("scoring"):
        scores = label_scores(data, head.ids, plan.search.column) if data.has_labels else None
        summary = {
            **(summarize_labels(scores, data.queries["kind"]) if scores is not None else {}),
            **rows_summary(head.ids, k),
            **head.timing.summary(),
        }
        per_query = per_query_frame(data, head.ids, head.timing.best.latencies_ns, scores)
    return summary, per_query, head.ids


def _exact_scores(
    summary: dict,
    per_query: pd.DataFrame,
    data: Dataset,
    vector_ids: list[np.ndarray],
    k: int,
    metric: str,
    watch: Stopwatch,
) -> np.ndarray:
    """Recall@k of the vector results against exact search, the data's difficulty and how its
    ground truth was obtained, into `summary` and `per_query`; returns recall by rank."""
    top_k = [ids[:k] for ids in vector_ids]
    with watch.stage("scoring"):
        recall = exact_recall(data, top_k, k, metric)
        by_rank = accuracy.recall_by_rank(top_k, data.exact_ids)
    per_query[definitions.RECALL.name(k)] = recall
    summary[definitions.RECALL.name(k)] = float(recall.mean())
    summary["n_queries"] = float(len(data.queries))
    summary.update(difficulty.summary(data.difficulty))
    summary.update({f"groundtruth.{name}": value for name, value in data.groundtruth.items()})
    return by_rank


def _load(
    plan: RunPlan,
    eng: Engine,
    data: Dataset,
    values: np.ndarray,
    head: Point,
    params: dict,
    steps: dict,
    watch: Stopwatch,
) -> dict[str, float]:
    """Batch and concurrent clients at the headline ef; client levels go into `steps`."""
    out: dict[str, float] = {}
    if plan.timing.batch:
        with watch.stage("batch"):
            out.update(
                throughput.batch(
                    eng, data, head, plan.search.k, plan.build.metric, plan.timing.repeats, params
                )
            )
    if plan.timing.clients != (1,):
        with watch.stage("clients"):
            timings = throughput.clients(eng, data, values, head, plan.timing)
            steps.update(throughput.client_steps(timings))
    return out


def _disturbed(summary: dict, curve: list[Point], max_share: float) -> bool:
    """Whether other processes took more than `max_share` of the CPU during a timed pass."""
    others = max(p.timing.best.other_cpu_share for p in curve)
    summary["other_cpu_share"] = max(summary.get("other_cpu_share", 0.0), others)
    disturbed = summary["other_cpu_share"] > max_share
    if disturbed:
        log.warning(
            "timing disturbed: other processes took %.0f%% of the machine's CPU during a timed "
            "pass (bench.max_other_cpu_share=%s); the report leaves this run out of timing figures",
            100 * summary["other_cpu_share"],
            max_share,
        )
    return disturbed
