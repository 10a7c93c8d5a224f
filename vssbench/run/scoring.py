"""Scoring what a search returned: recall against exact search, and MRR/nDCG against the labels."""

import numpy as np
import pandas as pd

from vssbench.data import filters
from vssbench.data.groundtruth import returned_distances
from vssbench.data.load import Dataset
from vssbench.measure import accuracy


def filter_values(data: Dataset, column: str | None) -> np.ndarray:
    """Each query's filter value (vssbench/filters.py), None without a filter."""
    if column is None:
        return np.full(len(data.queries), None, dtype=object)
    return data.filter_values


def exact_recall(data: Dataset, returned: list[np.ndarray], k: int, metric: str) -> np.ndarray:
    """Per query recall@k of `returned` against the exact nearest neighbours."""
    true_dist = returned_distances(data.query_vectors, data.doc_vectors, returned, metric)
    return accuracy.recall_at_k(true_dist, data.exact_dist, k)


def label_scores(
    data: Dataset, returned: list[np.ndarray], column: str | None, k: int = 10
) -> pd.DataFrame:
    """Per query rr@10, nDCG@10 and relevant recall@10 against the relevance labels, and the
    relevant recall at the run's k where k is not 10 (BEIR's headline recall@100 at k=100).

    With a filter, relevant documents the filter drops cannot be returned and do not count in
    the ideal ranking; a query left with none scores NaN.
    """
    doc_values = filters.doc_values(data.corpus, column) if column else None
    q = data.queries
    columns = ["rr_at_10", "ndcg_at_10", "relevant_found_at_10"]
    columns += [] if k == 10 else [f"relevant_found_at_{k}"]
    rows = []
    for got, relevant, grades, value in zip(
        returned, q["relevant"], q["grades"], filter_values(data, column), strict=True
    ):
        if column:
            keep = filters.matches(column, doc_values[relevant], value)
            relevant, grades = relevant[keep], grades[keep]
        if len(relevant) == 0:  # the filter keeps none (filter=attribute): nothing to find
            rows.append((np.nan,) * len(columns))
            continue
        row = (
            accuracy.reciprocal_rank(got, relevant, 10),
            accuracy.ndcg(got, relevant, grades, 10),
            accuracy.recall_of_relevant(got, relevant, 10),
        )
        rows.append(row if k == 10 else (*row, accuracy.recall_of_relevant(got, relevant, k)))
    return pd.DataFrame(rows, columns=columns)


def summarize_labels(scores: pd.DataFrame, kinds: pd.Series, prefix: str = "") -> dict[str, float]:
    """Means of label scores, overall and per query kind (`mrr_at_10.paraphrase`, ...)."""
    out = {
        # Queries whose filter keeps no relevant document have no label score (NaN): the means
        # are over the others, and this says how many that is.
        f"{prefix}labelled_query_share": float(scores["rr_at_10"].notna().mean()),
        f"{prefix}mrr_at_10": float(scores["rr_at_10"].mean()),
        f"{prefix}ndcg_at_10": float(scores["ndcg_at_10"].mean()),
        **{
            f"{prefix}relevant_recall_at_{c.rsplit('_', 1)[1]}": float(scores[c].mean())
            for c in scores
            if c.startswith("relevant_found_at_")
        },
    }
    # One kind (a file without kinds) would repeat the overall means.
    for kind in sorted(kinds.unique()) if kinds.nunique() > 1 else ():
        sel = (kinds == kind).to_numpy()
        if sel.any():
            out[f"{prefix}mrr_at_10.{kind}"] = float(scores.loc[sel, "rr_at_10"].mean())
            out[f"{prefix}ndcg_at_10.{kind}"] = float(scores.loc[sel, "ndcg_at_10"].mean())
    return out


def rows_summary(returned: list[np.ndarray], k: int, prefix: str = "") -> dict[str, float]:
    rows = np.array([len(r) for r in returned])
    return {
        f"{prefix}rows_returned_mean": float(rows.mean()),
        f"{prefix}short_result_share": float(np.mean(rows < k)),
    }


def per_query_frame(
    data: Dataset, returned: list[np.ndarray], latencies: np.ndarray, scores: pd.DataFrame | None
) -> pd.DataFrame:
    """One row per query: what was returned (the documents' own ids), how fast, and how it
    scores on the labels where there are labels."""
    q = data.queries
    frame = pd.DataFrame(
        {
            **{c: q[c] for c in ("qid", "kind", "text", "target", "category") if c in q},
            "returned_ids": [data.own_ids(r) for r in returned],
            "rows_returned": [len(r) for r in returned],
            "latency_ms": latencies / 1e6,
        }
    )
    return frame if scores is None else pd.concat([frame, scores], axis=1)
