"""What a row of the report's frames holds, and the order scales and engines are shown in.

Metric columns come from vssbench.measure.definitions: a metric defined there (and listed in
its METRICS) is loaded and summarised (a timing of a disturbed run only where its configuration
has no undisturbed run, and then marked busy: report/load.py); one
defined with an interval is loaded with the two ends its definition names.
"""

import pandas as pd

from vssbench.config.scales import CONF_DIR, scale_sizes
from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import BUILD_S, METRICS, RECALL, MetricDef

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
    "workload": "workload.name",
    "embed": "embed.name",
    "model": "embed.model_name",  # embed=model: the model that made the vectors
}
METRIC_COLUMNS = tuple(d.column for d in METRICS)
# Timings a disturbed run (tags.timing_disturbed) contributes only where no undisturbed run of its
# configuration does; accuracy it always does.
TIMING_COLUMNS = tuple(d.column for d in METRICS if d.timing)
TABLE_COLUMNS = tuple(d.column for d in METRICS if d.in_table)
# A build timed while other processes took the CPU (tags.build_disturbed) is treated as a
# disturbed run's timings are.
BUILD_COLUMNS = (BUILD_S.column,)


def bound_columns(metric: MetricDef) -> tuple[str, str]:
    """The report's names of an interval metric's ends: its column with the suffixes of the
    MLflow names its definition gives (recall_ci_low for recall_at_10_ci_low)."""
    name = metric.name(10)
    low, high = metric.bounds(10)
    return metric.column + low.removeprefix(name), metric.column + high.removeprefix(name)


# Metrics logged with a 95% interval: column -> (low column, high column).
INTERVALS = {d.column: bound_columns(d) for d in METRICS if d.interval}
BOUND_COLUMNS = tuple(end for ends in INTERVALS.values() for end in ends)

# What an index is apart from its size: build time and memory are drawn and compared per family.
INDEX_FAMILY = ["engine", "dim", "M", "ef_construction", "metric"]
# How a family's settings read in a label: d128 M16 efc128 cosine.
FAMILY_PREFIX = {"dim": "d", "M": "M", "ef_construction": "efc", "metric": ""}

# The scale options by size (conf/scale/ owns them).
SCALE_ORDER = {
    name: rank
    for rank, (name, _) in enumerate(
        sorted(scale_sizes([CONF_DIR], 0).items(), key=lambda item: item[1])
    )
}
DUCKDB = "duckdb_vss"  # the engine the benchmark is about: figures of one engine show it
ENGINE_RANK = {name: i for i, name in enumerate(ENGINES)}


def scale_rank(scale: str) -> int:
    """A scale's place by size; scales of other data or hosts ("tiny @node-a") come last."""
    return SCALE_ORDER.get(scale, 99)


def recall_label(df: pd.DataFrame) -> str:
    """recall@k with the runs' k, or literally recall@k when they differ."""
    ks = df["k"].dropna().unique()
    return RECALL.title(int(ks[0]) if len(ks) == 1 else None)
