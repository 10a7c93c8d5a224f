"""Accuracy and latency metrics: pure functions over ids, grades and timings."""

import numpy as np

# ann-benchmarks convention: a returned neighbour whose true distance ties the k-th exact
# distance within this tolerance counts as found (float32 sums differ between engines).
RECALL_EPSILON = 1e-5


def recall_at_k(returned_dist: list[np.ndarray], exact_dist: np.ndarray, k: int) -> np.ndarray:
    """Per query: share of the exact top-k found, judged by the true distance of what was returned."""
    out = np.empty(len(returned_dist))
    for i, (got, exact) in enumerate(zip(returned_dist, exact_dist, strict=True)):
        finite = exact[np.isfinite(exact)][:k]
        if len(finite) == 0:
            out[i] = 1.0
            continue
        threshold = finite[-1] + RECALL_EPSILON
        out[i] = min(np.count_nonzero(got[:k] <= threshold), len(finite)) / len(finite)
    return out


def recall_by_rank(returned: list[np.ndarray], exact_ids: np.ndarray) -> np.ndarray:
    """Share of queries whose exact r-th neighbour is among the returned ids, for r = 1..k."""
    k = exact_ids.shape[1]
    hits = np.zeros(k)
    counts = np.zeros(k)
    for got, exact in zip(returned, exact_ids, strict=True):
        valid = exact >= 0
        hits += np.isin(exact, got) & valid
        counts += valid
    return hits / np.maximum(counts, 1)


def reciprocal_rank(returned: np.ndarray, relevant: np.ndarray, cutoff: int = 10) -> float:
    hit = np.flatnonzero(np.isin(returned[:cutoff], relevant))
    return 1.0 / (hit[0] + 1) if len(hit) else 0.0


def ndcg(returned: np.ndarray, relevant: np.ndarray, grades: np.ndarray, cutoff: int = 10) -> float:
    """nDCG with gains 2^grade - 1 and log2 discounts; the ideal ranking sorts the graded documents."""
    gain_of = dict(zip(relevant.tolist(), (2.0 ** grades.astype(float) - 1).tolist(), strict=True))
    discounts = 1.0 / np.log2(np.arange(2, cutoff + 2))
    gains = np.array([gain_of.get(int(d), 0.0) for d in returned[:cutoff]])
    ideal = np.sort(2.0 ** grades.astype(float) - 1)[::-1][:cutoff]
    idcg = float(ideal @ discounts[: len(ideal)])
    return float(gains @ discounts[: len(gains)]) / idcg if idcg > 0 else 0.0


def recall_of_relevant(returned: np.ndarray, relevant: np.ndarray, cutoff: int) -> float:
    """Share of the relevant documents (up to `cutoff` of them) found in the first `cutoff` results."""
    return np.count_nonzero(np.isin(relevant, returned[:cutoff])) / min(len(relevant), cutoff)


def latency_summary(latencies_ns: np.ndarray) -> dict[str, float]:
    ms = latencies_ns / 1e6
    return {
        "latency_mean_ms": float(ms.mean()),
        "latency_p50_ms": float(np.percentile(ms, 50)),
        "latency_p95_ms": float(np.percentile(ms, 95)),
        "latency_p99_ms": float(np.percentile(ms, 99)),
        "latency_max_ms": float(ms.max()),
    }
