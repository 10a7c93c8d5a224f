"""Hybrid search in a run: the BM25 check, the timed vector + BM25 + fusion loop, per-half scores."""

from functools import partial

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from vssbench import engine, metrics
from vssbench.dataset import Dataset
from vssbench.evaluation import label_scores, per_query_frame, rows_summary, summarize_labels
from vssbench.fusion import convex, rrf
from vssbench.search import bm25_query
from vssbench.stopwatch import Stopwatch


class BM25CheckError(RuntimeError):
    """BM25 scores (almost) no relevant document: the Korean text did not reach the FTS index."""


def hybrid_search(
    con,
    cfg: DictConfig,
    data: Dataset,
    vector: tuple[str, list[list]],
    values: np.ndarray,
    query_tokens: list[str],
    column: str | None,
    watch: Stopwatch,
) -> tuple[dict[str, float], pd.DataFrame, list[np.ndarray]]:
    """BM25 check, then the timed hybrid loop; accuracy of each half alone and of the fusion."""
    k, search = cfg.k, cfg.search
    targets = data.queries["target"].to_numpy()
    with watch.stage("bm25_check"):
        hit_rate = float(np.mean(engine.bm25_matches(con, targets, query_tokens)))
    if hit_rate < search.min_bm25_hit_rate:
        raise BM25CheckError(
            f"BM25 scores only {hit_rate:.0%} of the target documents (search.min_bm25_hit_rate="
            f"{search.min_bm25_hit_rate}): the Korean text does not reach the FTS index"
        )
    bshape = bm25_query(column)
    bparams = [
        bshape.params(text=text, value=value, k=search.candidates)
        for text, value in zip(query_tokens, values, strict=True)
    ]
    if search.fusion.value == "rrf":
        fuse = partial(_rrf, k=k, constant=search.rrf_k)
    else:
        fuse = partial(_convex, k=k, alpha=search.alpha)
    vector_sql, vparams = vector
    with watch.stage("queries"):
        res = engine.timed_hybrid(
            con, vector_sql, vparams, bshape.sql, bparams, fuse, cfg.queries.warmup
        )
    with watch.stage("scoring"):
        return _score(data, res, column, k, hit_rate)


def _score(
    data: Dataset, res: engine.HybridResult, column: str | None, k: int, hit_rate: float
) -> tuple[dict[str, float], pd.DataFrame, list[np.ndarray]]:
    kinds = data.queries["kind"]
    summary: dict[str, float] = {"bm25_hit_rate": hit_rate}
    halves = {
        "vector_": [ids[:k] for ids in res.vector_ids],
        "bm25_": [ids[:k] for ids in res.bm25_ids],
    }
    for prefix, returned in halves.items():
        summary.update(summarize_labels(label_scores(data, returned, column), kinds, prefix))
        summary.update(rows_summary(returned, k, prefix))
    scores = label_scores(data, res.fused_ids, column)
    summary.update(summarize_labels(scores, kinds))
    summary.update(summarize_labels(scores, kinds, "hybrid_"))
    summary.update(rows_summary(res.fused_ids, k))
    summary.update(metrics.latency_summary(res.latency))
    summary["qps"] = len(res.latency) / res.latency.sum() * 1e9
    for prefix, part in (("vector_", res.vector_latency), ("bm25_", res.bm25_latency)):
        summary.update({prefix + n: v for n, v in metrics.latency_summary(part).items()})
    summary["fusion_mean_ms"] = float(res.fusion_latency.mean() / 1e6)
    per_query = per_query_frame(data, res.fused_ids, res.latency, scores)
    per_query["vector_ids"] = [ids.tolist() for ids in res.vector_ids]
    per_query["bm25_ids"] = [ids.tolist() for ids in res.bm25_ids]
    per_query["vector_latency_ms"] = res.vector_latency / 1e6
    per_query["bm25_latency_ms"] = res.bm25_latency / 1e6
    per_query["fusion_latency_ms"] = res.fusion_latency / 1e6
    return summary, per_query, res.vector_ids


def _rrf(vids, vdist, bids, bscores, *, k: int, constant: int) -> np.ndarray:
    return rrf([vids, bids], k, constant)


def _convex(vids, vdist, bids, bscores, *, k: int, alpha: float) -> np.ndarray:
    return convex(vids, vdist, bids, bscores, k, alpha)
