"""Retrieval quality beside speed, for the runs scored on the user's relevance labels or vectors
(a BEIR or Parquet set with labels, or embed=model): vector, BM25 and hybrid nDCG@10, MRR@10 and
the labels' recall at the run's k (BEIR's headline measures), with recall against exact search,
QPS and p50 from the same run."""

import mlflow
import numpy as np
import pandas as pd

from vssbench.config.schema import DatasetKind
from vssbench.measure.definitions import LATENCY_P50, NDCG, QPS, RECALL

TITLE = "Retrieval quality and speed: your labels, your vectors"
HALVES = ("vector", "bm25", "hybrid")


def _ndcg(metrics: dict[str, float], search: str, half: str) -> float:
    """A half's nDCG@10: a vector run has the vector half only, logged under the plain name."""
    if search == "hybrid":
        return metrics.get(f"{half}_ndcg_at_10", np.nan)
    return metrics.get("ndcg_at_10", np.nan) if half == "vector" else np.nan


def _row(run: pd.Series, metrics: dict[str, float], params: dict[str, str]) -> dict[str, object]:
    k = int(params.get("k", 10))
    recall = "relevant_recall_at_10" if k == 10 else f"relevant_recall_at_{k}"
    return {
        "configuration": run["configuration"],
        "data": run["scale"],
        "vectors": params.get("embed.model_name", "the dataset's"),
        "engine": run["engine"],
        **{f"nDCG@10 {h}": _ndcg(metrics, run["search"], h) for h in HALVES},
        "MRR@10": metrics.get("mrr_at_10", np.nan),
        f"labels' recall@{k}": metrics.get(recall, np.nan),
        "recall@k (exact)": run[RECALL.column],
        "QPS": run[QPS.column],
        "p50 ms": run[LATENCY_P50.column],
    }


def table(runs: pd.DataFrame) -> pd.DataFrame | None:
    """A row per labelled run on a user's data or model (its further metrics read from the
    store); None when there is none (the built-in corpus's quality is in the main tables)."""
    users = (runs["dataset"] != DatasetKind.synthetic_ko.value) | (runs["embed"] == "model")
    labelled = runs[users & runs[NDCG.column].notna()]
    if labelled.empty:
        return None
    client = mlflow.MlflowClient()
    rows = []
    for _, run in labelled.iterrows():
        data = client.get_run(run["run_id"]).data
        rows.append(_row(run, data.metrics, data.params))
    return pd.DataFrame(rows)
