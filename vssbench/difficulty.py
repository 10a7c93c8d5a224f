"""How hard a dataset is for nearest-neighbour search, per query, as VIBE and earlier work
characterise datasets: relative contrast (RC) and local intrinsic dimensionality (LID).

RC_k (He, Kumar, Chang, ICML 2012): a query's mean distance to the corpus over its distance to
its k-th nearest neighbour; near 1, every document is about as far as the neighbours (hard).
LID (Levina and Bickel 2004; Amsaleg et al. 2015): the maximum-likelihood estimate from the k
nearest distances, -1 / mean(log(d_i / d_k)); high LID, many directions to search (hard).
Both are read in Euclidean space: unit vectors for cosine (their L2 distance orders as cosine
distance does), the raw vectors otherwise.
"""

import numpy as np

from vssbench.groundtruth import exact_topk

VERSION = 1  # keys the cached measurements: bump when what they compute changes
RC_K = 10
LID_K = 20  # the neighbours the LID estimate reads (20-100 is usual; more smooths it)
MEAN_SAMPLE = 2000  # documents the mean distance of RC is estimated from


def euclidean_space(vectors: np.ndarray, metric: str) -> np.ndarray:
    """The vectors whose L2 distances the difficulty measures read."""
    vectors = np.asarray(vectors, np.float32)
    if metric != "cosine":
        return vectors
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def relative_contrast(mean_dist: np.ndarray, knn_dist: np.ndarray, k: int = RC_K) -> np.ndarray:
    """Per query: mean distance to the corpus over the distance to the k-th neighbour."""
    return mean_dist / np.maximum(knn_dist[:, k - 1], 1e-12)


def lid_mle(knn_dist: np.ndarray) -> np.ndarray:
    """Per query: the MLE of local intrinsic dimensionality from its k nearest distances
    (ascending); distances of 0 (duplicates of the query) carry no information and are left out."""
    d = np.where(knn_dist > 0, knn_dist, np.nan)
    ratios = np.log(d[:, :-1] / d[:, -1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        return -1.0 / np.nanmean(ratios, axis=1)


def measure(queries: np.ndarray, docs: np.ndarray, metric: str, seed: int) -> dict[str, np.ndarray]:
    """Per-query RC_10 and LID of `queries` against `docs` (exact neighbours, a seeded sample
    of documents for the mean distance)."""
    q = euclidean_space(queries, metric)
    k = min(max(RC_K, LID_K), len(docs))
    if metric == "cosine":  # chunked over the documents, no normalised copy of them
        _, cos_dist = exact_topk(q, docs, k, "cosine")
        knn = np.sqrt(np.maximum(2 * cos_dist, 0))  # L2 between unit vectors
    else:
        _, knn = exact_topk(q, docs, k, "l2sq")
    rng = np.random.default_rng(seed)
    sample = euclidean_space(
        docs[np.sort(rng.choice(len(docs), min(MEAN_SAMPLE, len(docs)), False))], metric
    )
    squared = (q**2).sum(1)[:, None] + (sample**2).sum(1)[None, :] - 2 * q @ sample.T
    d = np.sqrt(np.maximum(squared, 0))
    return {"rc_10": relative_contrast(d.mean(1), knn), "lid": lid_mle(knn[:, :LID_K])}


def summary(per_query: dict[str, np.ndarray]) -> dict[str, float]:
    """The distributions as metrics: difficulty.<name>.{mean,p10,median,p90}."""
    out = {}
    for name, values in per_query.items():
        v = values[np.isfinite(values)]
        out[f"difficulty.{name}.mean"] = float(v.mean())
        for label, q in (("p10", 10), ("median", 50), ("p90", 90)):
            out[f"difficulty.{name}.{label}"] = float(np.percentile(v, q))
    return out
