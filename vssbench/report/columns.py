"""What a row of the report's frames holds, and the order scales and engines are shown in.

Metric columns come from vssbench.measure.definitions: a metric defined there (and listed in
its METRICS) is loaded, summarised, and left out of disturbed runs if it is a timing.
"""

import pandas as pd

from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import METRICS, RECALL

# Configuration columns: short name -> MLflow param.
CONFIG = {
    "dataset": "dataset.name",
    "noise": "dataset.noise",
    "scale": "scale.name",
    "n_docs": "scale.n_docs",
    "dim": "dim",
    "engine": "engine.name",
    "search": "search.name",
    "filter": "filter.name",
    "strategy": "filter.strategy",
    "selectivity": "filter.selectivity",
    "metric": "hnsw.metric",
    "M": "hnsw.M",
    "ef_construction": "hnsw.ef_construction",
    "ef_search": "hnsw.ef_search",
    "tokenizer": "search.tokenizer",
    "bm25": "search.bm25",
    "fusion": "search.fusion",
    "k": "k",
}
METRIC_COLUMNS = tuple(d.column for d in METRICS)
# Timings a disturbed run (tags.timing_disturbed) must not contribute; accuracy it still does.
TIMING_COLUMNS = tuple(d.column for d in METRICS if d.timing)
TABLE_COLUMNS = tuple(d.column for d in METRICS if d.in_table)

SCALE_ORDER = {"tiny": 0, "10k": 1, "100k": 2, "250k": 3}
DUCKDB = "duckdb_vss"  # the engine the benchmark is about: figures of one engine show it
ENGINE_RANK = {name: i for i, name in enumerate(ENGINES)}


def scale_rank(scale: str) -> int:
    """A scale's place by size; scales of other data or hosts ("tiny @node-a") come last."""
    return SCALE_ORDER.get(scale, 99)


def recall_label(df: pd.DataFrame) -> str:
    """recall@k with the runs' k, or literally recall@k when they differ."""
    ks = df["k"].dropna().unique()
    return RECALL.title(int(ks[0]) if len(ks) == 1 else None)
