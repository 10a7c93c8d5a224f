"""Hybrid search in a run: the BM25 check, vector + BM25 + fusion per query timed by the harness,
per-half scores."""

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from vssbench.data.load import Dataset
from vssbench.engines.registry import ENGINES
from vssbench.engines.seam import FullTextEngine, NativeHybridEngine
from vssbench.measure import accuracy, timing
from vssbench.measure.fusion import convex, rrf
from vssbench.run.plan import SearchPlan, TimingSettings
from vssbench.run.scoring import label_scores, per_query_frame, rows_summary, summarize_labels
from vssbench.stopwatch import Stopwatch

HYBRID = "hybrid"
NATIVE_HYBRID = "native_hybrid"
NATIVE_PREFIX = "native_hybrid_"  # the metrics of the engine's own hybrid query


class BM25CheckError(RuntimeError):
    """BM25 scores (almost) no relevant document: the Korean text did not reach the FTS index."""

    kind = "BM25 check failed"  # how the one-line message before it calls the problem


@dataclass
class HybridResult:
    vector_ids: list[np.ndarray]
    bm25_ids: list[np.ndarray]
    fused_ids: list[np.ndarray]
    # Nanoseconds per query: the whole hybrid query, and its three parts.
    latency: np.ndarray
    vector_latency: np.ndarray
    bm25_latency: np.ndarray
    fusion_latency: np.ndarray


def hybrid_search(
    eng: FullTextEngine,
    plan: SearchPlan,
    timed_by: TimingSettings,
    data: Dataset,
    values: np.ndarray,
    query_tokens: list[str],
    watch: Stopwatch,
) -> tuple[dict[str, float], pd.DataFrame, list[np.ndarray], list[timing.Timing]]:
    """BM25 check, then hybrid queries timed by the harness (vector statement, BM25 statement,
    fusion per query); accuracy of each half alone and of the fusion, and the timed series."""
    k, search, column = plan.k, plan.hybrid, plan.column
    with watch.stage("bm25_check"):
        hit_rate = _bm25_check(eng, data, query_tokens, search.min_bm25_hit_rate)
    if search.fusion == "rrf":
        fuse = partial(_rrf, k=k, constant=search.rrf_k)
    else:
        fuse = partial(_convex, k=k, alpha=search.alpha)

    def step(i: int) -> tuple:
        t0 = timing.clock()
        v = eng.query(data.query_vectors[i], values[i])
        t1 = timing.clock()
        b = eng.text_query(query_tokens[i], values[i], search.candidates)
        t2 = timing.clock()
        fused = fuse(eng.ids(v), eng.scores(v), eng.ids(b), eng.scores(b))
        return v, b, fused, (t0, t1, t2, timing.clock())

    n = len(data.queries)
    with watch.stage("queries"):
        timed_by.between()
        timed = timing.one_client(
            step, n, "hybrid queries", timed_by.warmup, timed_by.repeats, timed_by.guard
        )
    best = timed.typical
    clocks = np.array([r[3] for r in best.results], np.int64)
    parts = np.diff(clocks, axis=1)
    res = HybridResult(
        vector_ids=[eng.ids(r[0]) for r in best.results],
        bm25_ids=[eng.ids(r[1]) for r in best.results],
        fused_ids=[r[2] for r in best.results],
        latency=best.latencies_ns,
        vector_latency=parts[:, 0],
        bm25_latency=parts[:, 1],
        fusion_latency=parts[:, 2],
    )
    timed.series = HYBRID
    timed.keep_ids(lambda found: found[2])
    with watch.stage("scoring"):
        summary, per_query = _score(data, res, column, k, hit_rate)
    series = [timed]
    if ENGINES[eng.name].native_hybrid:
        with watch.stage("queries"):
            native, native_timing = _native_hybrid(eng, plan, timed_by, data, values, query_tokens)
        summary.update(native)
        series.append(native_timing)
    return summary, per_query, res.vector_ids, series


def _bm25_check(
    eng: FullTextEngine, data: Dataset, query_tokens: list[str], min_hit_rate: float
) -> float:
    """The share of target documents BM25 scores, refused below `min_hit_rate`."""
    hit_rate = float(np.mean(eng.bm25_matches(data.queries["target"].to_numpy(), query_tokens)))
    if hit_rate < min_hit_rate:
        raise BM25CheckError(
            f"BM25 scores only {hit_rate:.0%} of the target documents (search.min_bm25_hit_rate="
            f"{min_hit_rate}): the text does not reach the FTS index, or the queries' words are "
            "not in their relevant documents; check the text columns and search.tokenizer, or "
            "lower search.min_bm25_hit_rate"
        )
    return hit_rate


def _native_hybrid(
    eng: NativeHybridEngine,
    plan: SearchPlan,
    timed_by: TimingSettings,
    data: Dataset,
    values: np.ndarray,
    query_tokens: list[str],
) -> tuple[dict[str, float], timing.Timing]:
    """The engine's own hybrid query and reranker (LanceDB), timed like the hybrid above and
    scored on the same labels: `native_hybrid_*`. Each leg fetches search.candidates rows,
    as the hybrid above does, and the top k of the reranked list is scored."""
    k, search, column = plan.k, plan.hybrid, plan.column
    reranker = eng.set_fusion(search.fusion, search.rrf_k, search.alpha)

    def step(i: int) -> object:
        return eng.hybrid_query(
            data.query_vectors[i], query_tokens[i], values[i], search.candidates
        )

    n = len(data.queries)
    label = f"{eng.name} hybrid queries ({reranker})"
    timed_by.between()
    timed = timing.one_client(step, n, label, timed_by.warmup, timed_by.repeats, timed_by.guard)
    timed.series = NATIVE_HYBRID
    timed.keep_ids(lambda found: eng.ids(found)[:k])
    fused = timed.typical.ids
    out = summarize_labels(
        label_scores(data, fused, column, k), data.queries["kind"], NATIVE_PREFIX
    )
    out.update(rows_summary(fused, k, NATIVE_PREFIX))
    return out, timed


def _score(
    data: Dataset, res: HybridResult, column: str | None, k: int, hit_rate: float
) -> tuple[dict[str, float], pd.DataFrame]:
    kinds = data.queries["kind"]
    summary: dict[str, float] = {"bm25_hit_rate": hit_rate}
    halves = {
        "vector_": [ids[:k] for ids in res.vector_ids],
        "bm25_": [ids[:k] for ids in res.bm25_ids],
    }
    for prefix, returned in halves.items():
        summary.update(summarize_labels(label_scores(data, returned, column, k), kinds, prefix))
        summary.update(rows_summary(returned, k, prefix))
    scores = label_scores(data, res.fused_ids, column, k)
    summary.update(summarize_labels(scores, kinds))
    summary.update(summarize_labels(scores, kinds, "hybrid_"))
    summary.update(rows_summary(res.fused_ids, k))
    for prefix, part in (("vector_", res.vector_latency), ("bm25_", res.bm25_latency)):
        summary.update({prefix + n: v for n, v in accuracy.latency_summary(part).items()})
    summary["fusion_mean_ms"] = float(res.fusion_latency.mean() / 1e6)
    per_query = per_query_frame(data, res.fused_ids, res.latency, scores)
    per_query["vector_ids"] = [data.own_ids(ids) for ids in res.vector_ids]
    per_query["bm25_ids"] = [data.own_ids(ids) for ids in res.bm25_ids]
    per_query["vector_latency_ms"] = res.vector_latency / 1e6
    per_query["bm25_latency_ms"] = res.bm25_latency / 1e6
    per_query["fusion_latency_ms"] = res.fusion_latency / 1e6
    return summary, per_query


def _rrf(vids, vdist, bids, bscores, *, k: int, constant: int) -> np.ndarray:
    return rrf([vids, bids], k, constant)


def _convex(vids, vdist, bids, bscores, *, k: int, alpha: float) -> np.ndarray:
    return convex(vids, vdist, bids, bscores, k, alpha)
