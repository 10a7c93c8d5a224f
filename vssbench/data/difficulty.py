"""How hard a dataset is for nearest-neighbour search, per query, computed as VIBE computes it
(vector-index-bench/vibe, export_results.py), so the numbers compare with its published ones.

RC_k (He, Kumar, Chang, ICML 2012): a query's mean distance to the corpus over its distance to
its k-th nearest neighbour; near 1, every document is about as far as the neighbours (hard).
LID (Levina and Bickel 2004; Amsaleg et al. 2015): the maximum-likelihood estimate from the k
nearest distances, -k / sum(log(d_i / d_k)); high LID, many directions to search (hard).
Distances are the index metric's own, as VIBE's: cosine distance 1 - cos for cosine, Euclidean
for l2sq, and Euclidean over the raw vectors for ip (where VIBE leaves RC out: inner product is
no metric).
"""

import numpy as np

from vssbench import mapped
from vssbench.data.groundtruth import distances, exact_topk

VERSION = 2  # keys the cached measurements: bump when what they compute changes
RC_K = 10
LID_K = 100  # the neighbours the LID estimate reads: VIBE's lid100
MEAN_SAMPLE = 2000  # documents the mean distance of RC is estimated from
# Queries measured at most (a seeded sample): a file's 10,000 queries against a million
# documents would cost more than the run.
MAX_QUERIES = 1000


def relative_contrast(mean_dist: np.ndarray, knn_dist: np.ndarray, k: int = RC_K) -> np.ndarray:
    """Per query: mean distance to the corpus over the distance to the k-th neighbour."""
    return mean_dist / np.maximum(knn_dist[:, k - 1], 1e-12)


def lid_mle(knn_dist: np.ndarray) -> np.ndarray:
    """Per query: the MLE of local intrinsic dimensionality from its k nearest distances
    (ascending), as VIBE computes it; distances of about 0 (duplicates of the query) carry no
    information and are left out."""
    d = np.where(knn_dist > 1e-5, knn_dist, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(d / knn_dist[:, -1:])
        return -np.sum(np.isfinite(logs), axis=1) / np.nansum(logs, axis=1)


def measure(queries: np.ndarray, docs: np.ndarray, metric: str, seed: int) -> dict[str, np.ndarray]:
    """Per-query RC_10 and LID of `queries` (at most MAX_QUERIES of them) against `docs` (exact
    neighbours, a seeded sample of documents for the mean distance)."""
    rng = np.random.default_rng(seed)
    if len(queries) > MAX_QUERIES:
        queries = queries[np.sort(rng.choice(len(queries), MAX_QUERIES, False))]
    space = "cosine" if metric == "cosine" else "l2sq"  # l2sq: Euclidean (groundtruth.py)
    _, knn = exact_topk(queries, docs, min(max(RC_K, LID_K), len(docs)), space)
    # The pass touched every document: mapped pages given back (1M x 256 kept 1 GB resident
    # through its index build).
    mapped.release(docs)
    sample = mapped.take(docs, np.sort(rng.choice(len(docs), min(MEAN_SAMPLE, len(docs)), False)))
    mean = distances(np.asarray(queries, np.float32), np.asarray(sample, np.float32), space).mean(1)
    return {"rc_10": relative_contrast(mean, knn), "lid": lid_mle(knn[:, :LID_K])}


def summary(per_query: dict[str, np.ndarray]) -> dict[str, float]:
    """The distributions as metrics: difficulty.<name>.{mean,p10,median,p90}."""
    out = {}
    for name, values in per_query.items():
        v = values[np.isfinite(values)]
        out[f"difficulty.{name}.mean"] = float(v.mean())
        for label, q in (("p10", 10), ("median", 50), ("p90", 90)):
            out[f"difficulty.{name}.{label}"] = float(np.percentile(v, q))
    return out
