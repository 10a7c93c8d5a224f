"""Fusion of a vector ranking and a BM25 ranking into one top-k: pure functions on ids and scores."""

import numpy as np


def rrf(rankings: list[np.ndarray], k: int, constant: int = 60) -> np.ndarray:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (constant + rank of d)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking.tolist(), 1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (constant + rank)
    return _top(scores, k)


def _minmax(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    low, high = values.min(), values.max()
    return np.ones_like(values) if high == low else (values - low) / (high - low)


def convex(
    vector_ids: np.ndarray,
    vector_distances: np.ndarray,
    bm25_ids: np.ndarray,
    bm25_scores: np.ndarray,
    k: int,
    alpha: float = 0.5,
) -> np.ndarray:
    """alpha * similarity + (1 - alpha) * BM25, each min-max normalised over its own candidates;
    a document missing from one list gets 0 there. Similarity is the negated distance."""
    scores: dict[int, float] = {}
    for ids, values, weight in (
        (vector_ids, _minmax(-np.asarray(vector_distances, float)), alpha),
        (bm25_ids, _minmax(np.asarray(bm25_scores, float)), 1.0 - alpha),
    ):
        for doc, value in zip(ids.tolist(), values.tolist(), strict=True):
            scores[doc] = scores.get(doc, 0.0) + weight * value
    return _top(scores, k)


def _top(scores: dict[int, float], k: int) -> np.ndarray:
    # Ties go to the smaller id so that fusion is deterministic.
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return np.array([doc for doc, _ in ranked], dtype=np.int64)
