"""A churn round scored against the rows live at that moment: exact ground truth over them
(cached per round), recall with deleted rows counted as misses, the share of results that are
deleted rows, and whether updated rows are found at their new vectors."""

from pathlib import Path

import numpy as np

from vssbench import cache
from vssbench.data.groundtruth import distances, exact_topk
from vssbench.measure import accuracy
from vssbench.workload.runbook import RoundVectors


def live_truth(
    queries: np.ndarray,
    current: np.ndarray | RoundVectors,
    live: np.ndarray,
    k: int,
    metric: str,
    root: Path,
    key: dict,
) -> tuple[dict[str, np.ndarray], bool]:
    """Each query's exact top-k among the live rows (ids are document ids) and whether it was
    cached; `key` says what the round's rows are (data, runbook, round)."""

    def build() -> dict[str, np.ndarray]:
        found, dist = exact_topk(queries, current[live], k, metric)
        return {"ids": np.where(found >= 0, live[np.maximum(found, 0)], -1), "dist": dist}

    entry = cache.entry(root, "churn_truth", {**key, "k": k, "metric": metric}, ".npz")
    return cache.cached(entry, build, cache.save_arrays, cache.load_arrays)


def round_scores(
    queries: np.ndarray,
    current: np.ndarray | RoundVectors,
    live: np.ndarray,
    truth_dist: np.ndarray,
    returned: list[np.ndarray],
    k: int,
    metric: str,
) -> dict[str, float]:
    """Recall@k (a deleted row never counts as found), rows returned per query, and the share
    of returned rows that are deleted."""
    is_live = np.zeros(len(current), bool)
    is_live[live] = True
    true_dist, deleted, rows = [], 0, 0
    for i, ids in enumerate(returned):
        ids = np.asarray(ids[:k], np.int64)
        d = distances(queries[i : i + 1], current[ids], metric)[0] if len(ids) else np.zeros(0)
        gone = ~is_live[ids]
        deleted += int(gone.sum())
        rows += len(ids)
        true_dist.append(np.where(gone, np.inf, d))
    recall = accuracy.recall_at_k(true_dist, truth_dist, k)
    return {
        "recall": float(recall.mean()),
        "rows_returned": rows / len(returned),
        "deleted_result_share": deleted / max(rows, 1),
    }


def self_found(updated: np.ndarray, returned: list[np.ndarray]) -> float:
    """The share of updated rows that a search with their new vector returns: an index that
    kept a row's old vector misses it there."""
    hits = [
        int(i) in set(np.asarray(ids).tolist()) for i, ids in zip(updated, returned, strict=True)
    ]
    return float(np.mean(hits)) if hits else float("nan")
