"""What one run measures: the data and the engine's index, made or found once in the run's own
process (prepare), then in each trial's worker (measure, run/trial_worker.py) the plan check,
the timed points, batch and clients, and the scores, gathered into a Measurement (logged by
run/record.py)."""

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vssbench.data import difficulty
from vssbench.data.embedding import ModelSpec
from vssbench.data.load import Dataset, data_key, load_dataset, load_tokens, own_ids
from vssbench.engines.registry import engine_class
from vssbench.engines.seam import Engine
from vssbench.measure import accuracy, definitions, intervals
from vssbench.measure.memory import give_back
from vssbench.measure.timing import Timing
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
    # Curves: metric -> (step, value), step = ef or clients; the timings' are added by
    # run/trials.py from every trial.
    steps: dict[str, list[tuple[int, float]]]
    timings: list[Timing]  # the trial's every timed series
    head_series: str  # the series of the headline timings
    head_ef_series: str  # the one-client ef point at the headline ef (client level 1)


@dataclass
class _Opened:
    """The run's data and its open engine, with what opening them took."""

    data: Dataset
    eng: Engine
    query_tokens: list[str] | None
    timings: dict[str, float]


@dataclass(frozen=True)
class Prepared:
    """What the run's own process made before any timing: the data and the index in the cache,
    what making them took, and where they came from (the workers find them all cached)."""

    timings: dict[str, float]
    cache_hits: dict[str, bool]
    index_reused: float | None  # None: the index is not cached; the first trial builds it
    own_ids: Callable[[np.ndarray], list]  # the documents' own ids at row positions


def prepare(plan: RunPlan, watch: Stopwatch) -> Prepared:
    """The data, its tokens (hybrid) and the cached index, made or found, then closed: the
    timing workers (run/trials.py) open them again. An engine without an index file (an exact
    scan, engine.reuse_index=false) is left to the first trial, which builds it."""
    data, timings, _, _ = _data(plan, watch)
    reused = None
    if not plan.engine.exact and getattr(plan.engine.options, "reuse_index", True):
        eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
        try:
            key = data_key(plan.data)
            timings.update(
                eng.open(data, plan.build, key, plan.cache_dir, watch, plan.retime_build)
            )
            reused = timings.pop("index_reused")
        finally:
            with watch.stage("close"):
                eng.close()
    ids = data.corpus[["source_id"]] if "source_id" in data.corpus else pd.DataFrame()
    return Prepared(timings, dict(data.cache_hits), reused, functools.partial(own_ids, ids))


def with_preparation(result: Measurement, prepared: Prepared, max_share: float) -> Measurement:
    """The first trial's Measurement with what the run's own process made before it: the data's
    and the build's timings and cache hits are the run's, not the worker's (it found them all
    cached)."""
    result.metrics.update(prepared.timings)
    result.params.update({f"cache_hit.{n}": str(hit) for n, hit in prepared.cache_hits.items()})
    if prepared.index_reused is not None:
        result.params["index"] = "reused" if prepared.index_reused else "built"
    result.tags["build_disturbed"] = _build_disturbed(result.metrics, max_share)
    return result


def measure(plan: RunPlan, watch: Stopwatch) -> Measurement:
    """One trial: the cached data and index opened, every point timed, what it found scored."""
    started = time.perf_counter()
    data, timings, doc_tokens, query_tokens = _data(plan, watch)
    eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
    try:
        key = data_key(plan.data)
        timings.update(eng.open(data, plan.build, key, plan.cache_dir, watch, plan.retime_build))
        if hybrid := plan.search.hybrid:
            with watch.stage("fts_build"):
                timings.update(eng.open_texts(data, doc_tokens, plan.search.column, hybrid.bm25))
        opened = _Opened(data, eng, query_tokens, timings)
        return _query_and_score(plan, opened, started, watch)
    finally:
        with watch.stage("close"):
            eng.close()


def _data(
    plan: RunPlan, watch: Stopwatch
) -> tuple[Dataset, dict[str, float], list[str] | None, list[str] | None]:
    """The dataset, what loading it took, and its documents' and queries' tokens (hybrid)."""
    with watch.stage("data"):
        data = load_dataset(plan.data, plan.cache_dir)
    timings = dict(data.timings)
    doc_tokens = query_tokens = None
    if hybrid := plan.search.hybrid:
        with watch.stage("tokens"):
            t = time.perf_counter()
            doc_tokens, query_tokens, data.cache_hits["tokens"] = load_tokens(
                plan.data, data, hybrid.tokenizer, plan.cache_dir
            )
            timings["tokenize_s"] = time.perf_counter() - t
    # What generating the data freed, given back before the build needs it.
    give_back()
    return data, timings, doc_tokens, query_tokens


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
    params.update(_model_params(plan.data.embedder))
    log.info(
        "timing %d queries, %d passes per point, after %d warm-up queries",
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
    summary, per_query, vector_ids, series = _headline(plan, opened, values, head, params, watch)
    summary.update(eng.index_info())
    if head_settings.effective_ef is not None:  # an exact query never reaches the index
        summary["effective_ef_search"] = float(head_settings.effective_ef)
    by_rank = _exact_scores(summary, per_query, data, vector_ids, k, plan.build.metric, watch)
    load, load_series = _load(plan, eng, data, values, head, params, watch)
    summary.update(load)
    summary.update(opened.timings)
    # The trial's own wall time: the run's process replaces it with the run's.
    summary["run_wall_s"] = time.perf_counter() - started
    tags = {f"version.{name}": v for name, v in eng.versions().items()}
    timed = [p.timing for p in curve] + series + load_series
    head_series = series[0].series if series else head.timing.series
    steps = points.recall_steps(curve, k)
    return Measurement(
        summary,
        params,
        tags,
        per_query,
        by_rank,
        query_plan,
        steps,
        timed,
        head_series,
        head.timing.series,
    )


def _build_disturbed(summary: dict[str, float], max_share: float) -> str:
    """true, false, or unknown for an index whose build recorded no share (built before the
    share was recorded, or no index): every run on a cached index says how its build went."""
    share = summary.get("index_build_other_cpu_share")
    if share is None:
        return "unknown"
    if share > max_share:
        log.warning(
            "index build disturbed: other processes took %.0f%% of the CPU while it was built "
            "(bench.max_other_cpu_share=%s); the report leaves its build time out, and "
            "retime_build=true times the build again",
            100 * share,
            max_share,
        )
    return str(share > max_share).lower()


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
        "groundtruth": "the file's own where exact search agrees, for every query"
        if data.groundtruth
        else "exact search",
        "labels": "yes" if data.has_labels else "none: MRR, nDCG and relevant recall not measured",
    }


def _model_params(model: ModelSpec | None) -> dict[str, str]:
    """embed=model: which model made the vectors, by name, content and dim."""
    if model is None:
        return {}
    prompts = "; ".join(f"{role}: {text!r}" for role, text in model.prompts) or "none"
    return {
        "embed.model_name": model.name,
        "embed.model_sha256": model.sha256,
        "embed.backend": model.backend,
        "embed.dim": str(model.dim),
        "embed.prompts": prompts,
    }


def _headline(
    plan: RunPlan,
    opened: _Opened,
    values: np.ndarray,
    head: Point,
    params: dict,
    watch: Stopwatch,
) -> tuple[dict[str, float], pd.DataFrame, list[np.ndarray], list[Timing]]:
    """The headline point's summary, per-query frame, the vector ids it returned and the series
    it timed beyond the curve: the hybrid queries for search=hybrid, else the headline ef point
    of the curve (nothing beyond it)."""
    eng, data, k = opened.eng, opened.data, plan.search.k
    if plan.search.hybrid:
        out = hybrid_search(eng, plan.search, plan.timing, data, values, opened.query_tokens, watch)
        params["bm25_sql"] = eng.text_sql
        return out
    with watch.stage("scoring"):
        column = plan.search.column
        scores = label_scores(data, head.ids, column, k) if data.has_labels else None
        summary = {
            **(summarize_labels(scores, data.queries["kind"]) if scores is not None else {}),
            **rows_summary(head.ids, k),
        }
        per_query = per_query_frame(data, head.ids, head.timing.typical.latencies_ns, scores)
    return summary, per_query, head.ids, []


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
    est = intervals.mean(recall)
    low, high = definitions.RECALL.bounds(k)
    summary.update({definitions.RECALL.name(k): est.value, low: est.low, high: est.high})
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
    watch: Stopwatch,
) -> tuple[dict[str, float], list[Timing]]:
    """Batch and concurrent clients at the headline ef: the batch's accuracy and the series."""
    out: dict[str, float] = {}
    series: list[Timing] = []
    if plan.timing.batch:
        with watch.stage("batch"):
            out, series = throughput.batch(
                eng, data, head, plan.search.k, plan.build.metric, plan.timing, params
            )
    if plan.timing.clients != (1,):
        with watch.stage("clients"):
            series += throughput.clients(eng, data, values, head, plan.timing)
    return out, series
