"""What the planner fits: the runs of one engine, M and ef_construction, and per quantity the
(n, dim, value) observations they give."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vssbench.config.schema import FilterKind, SearchKind, WorkloadKind
from vssbench.measure.definitions import BUILD_S, INDEX_MB, PEAK_RSS_MB, QPS, RECALL

# Logged by the engines with their build (engines/duckdb/index_file.py, engines/library.py) and
# documented in measure/definitions.py's FURTHER, which has no MetricDef to name it by.
FILE_MB = "index_file_mb"
# The quantities one index build gives: a run that reused a cached index logs that build's.
PER_BUILD = (BUILD_S.column, INDEX_MB.column, FILE_MB)
# A run of this shape measures the index alone: no full-text index, filter or churn beside it.
SHAPE = {
    "workload": WorkloadKind.static.value,
    "search": SearchKind.vector.value,
    "filter": FilterKind.none.value,
}
# Runs that differ in one of these measured other data, another distance, k or machine: one fit
# must not pool them.
SAME = ("dataset", "noise", "embed", "model", "metric", "k", "host")
# Recall is a mean over queries: a point at exactly the target may be stored a rounding below.
RECALL_SLACK = 1e-9


class CapacityError(RuntimeError):
    """Nothing to fit, or runs that must not be pooled; the message says what the store has."""


@dataclass(frozen=True)
class Quantity:
    name: str
    missing: str  # why a run gives no observation of it


def quantities(recall: float) -> tuple[Quantity, ...]:
    """What is fitted, in the table's order; QPS is read at the recall target."""
    logged = "no run at the fitted sizes logged it"
    return (
        Quantity(BUILD_S.column, logged + " (or every build was disturbed)"),
        Quantity(INDEX_MB.column, logged),
        Quantity(FILE_MB, logged),
        Quantity(PEAK_RSS_MB.column, logged),
        Quantity(
            qps_name(recall),
            f"no run at the fitted sizes has an undisturbed ef point with recall >= {recall:g}",
        ),
    )


def qps_name(recall: float) -> str:
    return f"{QPS.column}@recall>={recall:g}"


def _available(runs: pd.DataFrame) -> str:
    """What the store holds: per engine, M and ef_construction, its dims and runs."""
    groups = runs.groupby(["engine", "M", "ef_construction"])["dim"]
    return "; ".join(
        f"{engine} M {m} ef_construction {efc}: dims {', '.join(map(str, sorted(set(dims))))} "
        f"({len(dims)} runs)"
        for (engine, m, efc), dims in groups
    )


def family(runs: pd.DataFrame, engine: str, m: int, efc: int) -> pd.DataFrame:
    """The runs of the shape the planner fits with this engine, M and ef_construction (every
    dim); raises CapacityError naming what the store has when there are none."""
    shaped = runs[np.logical_and.reduce([runs[key] == value for key, value in SHAPE.items()])]
    shape = ", ".join(f"{key}={value}" for key, value in SHAPE.items())
    if shaped.empty:
        raise CapacityError(f"no finished runs with {shape}; the store has {len(runs)} others")
    chosen = shaped[
        (shaped["engine"] == engine)
        & (shaped["M"].astype(str) == str(m))
        & (shaped["ef_construction"].astype(str) == str(efc))
    ]
    if chosen.empty:
        raise CapacityError(
            f"no finished runs of {engine} with M {m} and ef_construction {efc} ({shape}); "
            f"the store has {_available(shaped)}"
        )
    for key in SAME:
        values = sorted(chosen[key].astype(str).unique())
        if len(values) > 1:
            raise CapacityError(
                f"the runs mix {key} {', '.join(values)}: keep one with {key}=VALUE"
            )
    return chosen


def qps_at_recall(curves: pd.DataFrame, recall: float) -> pd.Series:
    """Per run_id, the best QPS among its ef points with recall >= the target."""
    reached = curves[curves[RECALL.column] >= recall - RECALL_SLACK]
    return reached.groupby("run_id")[QPS.column].max()


def observations(runs: pd.DataFrame, curves: pd.DataFrame, recall: float) -> pd.DataFrame:
    """Columns quantity, n, dim, value: one row per run, or per index build for PER_BUILD
    quantities (runs of one size with the same build numbers are one build); only positive
    finite values."""
    qps = qps_name(recall)
    wide = runs.assign(**{qps: runs["run_id"].map(qps_at_recall(curves, recall))})
    builds = wide.drop_duplicates(["n_docs", "dim", *PER_BUILD])
    parts = [
        (builds if q.name in PER_BUILD else wide)[["n_docs", "dim", q.name]]
        .set_axis(["n", "dim", "value"], axis=1)
        .assign(quantity=q.name)
        for q in quantities(recall)
    ]
    long = pd.concat(parts, ignore_index=True).astype({"n": int, "dim": int, "value": float})
    return long[np.isfinite(long["value"]) & (long["value"] > 0)].reset_index(drop=True)
