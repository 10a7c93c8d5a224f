"""Exact nearest neighbours in numpy, chunked over the documents so memory stays bounded."""

from dataclasses import dataclass

import numpy as np

from vssbench import mapped
from vssbench.measure import accuracy
from vssbench.progress import Progress

METRICS = ("l2sq", "cosine", "ip")


def distances(queries: np.ndarray, docs: np.ndarray, metric: str) -> np.ndarray:
    """(n_queries x n_docs) distances, ordered as DuckDB's function for the index metric orders them."""
    dots = queries @ docs.T
    if metric == "ip":
        return -dots
    if metric == "cosine":
        norms = np.linalg.norm(queries, axis=1)[:, None] * np.linalg.norm(docs, axis=1)[None, :]
        return 1.0 - dots / np.maximum(norms, 1e-12)
    if metric == "l2sq":
        sq = (queries**2).sum(1)[:, None] + (docs**2).sum(1)[None, :] - 2.0 * dots
        return np.sqrt(np.maximum(sq, 0.0))
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def exact_topk(
    queries: np.ndarray,
    docs: np.ndarray,
    k: int,
    metric: str,
    query_groups: np.ndarray | None = None,
    doc_groups: np.ndarray | None = None,
    chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and distances of each query's k nearest documents, ties broken by id.

    With groups, a query only sees documents of its own group (the filter predicate); rows with
    fewer than k such documents are padded with id -1 and distance inf.
    """
    n = len(queries)
    # About 32 MB per float64 block of distances; a block's temporaries (norms, the float64
    # copy, argpartition) are several of them: 500 x 32,768 blocks peaked at +500 MB.
    chunk = chunk or max(1024, 2**22 // max(n, 1))
    best_ids = np.full((n, k), -1, np.int64)
    best_d = np.full((n, k), np.inf, np.float64)
    progress = Progress("ground truth (documents)", len(docs), min_total=100_000)
    for start in range(0, len(docs), chunk):
        progress.update(start)
        d = distances(queries, docs[start : start + chunk], metric).astype(np.float64)
        if query_groups is not None:
            d[query_groups[:, None] != doc_groups[None, start : start + chunk]] = np.inf
        ids = np.broadcast_to(np.arange(start, start + d.shape[1]), d.shape)
        if d.shape[1] > k:
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            d, ids = np.take_along_axis(d, part, 1), np.take_along_axis(ids, part, 1)
        all_d = np.concatenate([best_d, d], axis=1)
        all_ids = np.concatenate([best_ids, ids], axis=1)
        # lexsort: last key is primary; id breaks ties so the result does not depend on chunking.
        order = np.lexsort((np.where(np.isinf(all_d), np.iinfo(np.int64).max, all_ids), all_d))[
            :, :k
        ]
        best_d = np.take_along_axis(all_d, order, 1)
        best_ids = np.take_along_axis(all_ids, order, 1)
    best_ids[np.isinf(best_d)] = -1
    return best_ids, best_d


def returned_distances(
    queries: np.ndarray, docs: np.ndarray, returned: list[np.ndarray], metric: str
) -> list[np.ndarray]:
    """True distances of the ids an engine returned, computed here rather than trusted."""
    return [
        distances(q[None, :], mapped.take(docs, ids), metric)[0] if len(ids) else np.empty(0)
        for q, ids in zip(queries, returned, strict=True)
    ]


def shipped_topk(
    queries: np.ndarray, docs: np.ndarray, shipped: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """A file's first k neighbours per query with their distances computed here, nearest first
    (padding ids -1 at distance inf, as exact_topk pads)."""
    ids = np.asarray(shipped[:, :k], np.int64)
    dist = np.full(ids.shape, np.inf)
    for row, (q, found) in enumerate(zip(queries, ids, strict=True)):
        valid = found >= 0
        if valid.any():
            dist[row, valid] = distances(q[None, :], mapped.take(docs, found[valid]), metric)[0]
    order = np.argsort(dist, axis=1, kind="stable")
    ids, dist = np.take_along_axis(ids, order, 1), np.take_along_axis(dist, order, 1)
    ids[np.isinf(dist)] = -1
    return ids, dist


@dataclass
class ShippedCheck:
    """A file's neighbours checked against exact search for every query."""

    ids: np.ndarray  # the ground truth: the file's row where it is right, exact search's where not
    dist: np.ndarray
    agreement: np.ndarray  # per query: the share of the exact top-k the file's top-k holds
    duplicates: np.ndarray  # per query: the file's top-k names a document twice
    wrong: np.ndarray  # per query: the file's row was replaced (it disagrees, or repeats an id)


def check_shipped(
    queries: np.ndarray, docs: np.ndarray, shipped: np.ndarray, k: int, metric: str
) -> ShippedCheck:
    """The file's top-k against exact search over all documents, judged by distance as recall
    is (ties within accuracy.RECALL_EPSILON count); a row naming a document twice is wrong even
    where its distances pass."""
    exact_ids, exact_dist = exact_topk(queries, docs, k, metric)
    ids, dist = shipped_topk(queries, docs, shipped, k, metric)
    # A document named again counts once: ten copies of the nearest hold a tenth of the top 10.
    repeated = np.zeros(ids.shape, bool)
    for row, found in enumerate(ids):
        _, first = np.unique(found, return_index=True)
        repeated[row] = (found >= 0) & ~np.isin(np.arange(k), first)
    agreement = accuracy.recall_at_k(list(np.where(repeated, np.inf, dist)), exact_dist, k)
    duplicates = repeated.any(axis=1)
    wrong = (agreement < 1.0) | duplicates
    ids = np.where(wrong[:, None], exact_ids, ids)
    dist = np.where(wrong[:, None], exact_dist, dist)
    return ShippedCheck(ids, dist, agreement, duplicates, wrong)
