"""What one stored run gives a comparison, read from its artifacts: the independent values
(trials, else passes) of its headline timings, and its recall per query."""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from vssbench.compare.pairing import StoredRun
from vssbench.measure import definitions, intervals
from vssbench.measure.definitions import MetricDef

PASSES = "timings/passes.parquet"
PER_QUERY = "per_query.parquet"
BATCH = "batch"  # the series of all queries in one statement


@dataclass(frozen=True)
class Timed:
    """A compared timing: its metric, the passes table's column and series it is read from."""

    metric: MetricDef
    column: str
    series: str | None  # None: the run's headline series


# One client's QPS and p99 at the headline, and the batch's QPS: a single query on tiny data
# is mostly per-statement overhead, which a batch pays once, so the search itself shows there.
TIMINGS = (
    Timed(definitions.QPS, "qps", None),
    Timed(definitions.LATENCY_P99, "latency_p99_ms", None),
    Timed(definitions.BATCH_QPS, "qps", BATCH),
)


@dataclass(frozen=True)
class Evidence:
    """`timings` maps a metric's name to its units (a series the run did not time is left out);
    it is empty when `no_timings` says why."""

    k: int
    timings: dict[str, np.ndarray] = field(default_factory=dict)
    no_timings: str | None = None
    unit: str = "passes"  # what one value of `timings` is: a trial or a pass
    # compare --run: value i of each timing is the trial that ran next to the other side's
    # trial i, so the two sides are compared pair by pair.
    paired: bool = False
    recall: np.ndarray | None = None  # recall@k per query, in query order
    query_ids: np.ndarray | None = None


def _artifact(run_id: str, path: str, into: Path) -> pd.DataFrame | None:
    """A parquet artifact of the run, or None when it has none by that name."""
    folder = str(Path(path).parent) if "/" in path else None
    listed = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, folder)}
    if path not in listed:
        return None
    local = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path, dst_path=str(into)
    )
    return pd.read_parquet(local)


def _timings(run: StoredRun, passes: pd.DataFrame | None) -> dict:
    """Evidence fields for the headline timings, or why there are none."""
    if run.tags.get("timing_disturbed") == "true":
        return {"no_timings": "timing disturbed (its retries ran out)"}
    if passes is None:
        version = run.tags.get("bench_version", "?")
        return {"no_timings": f"no timings artifact (bench_version {version}): re-run"}
    headline = run.params.get("headline_series")
    if not (passes["series"] == headline).any():
        return {"no_timings": f"no timed passes of its headline series {headline!r}"}
    return headline_units(passes, headline)


def headline_units(passes: pd.DataFrame, headline: str) -> dict:
    """Evidence fields of the compared timings, from a passes table (timings/passes.parquet)."""
    out = {}
    for timed in TIMINGS:
        rows = passes[passes["series"] == (timed.series or headline)]
        if not rows.empty:
            out[timed.metric.pattern] = intervals.units(rows, timed.column)
    trials = passes.loc[passes["series"] == headline, "trial"].nunique()
    return {"timings": out, "unit": "trials" if trials > 1 else "passes"}


def load(run: StoredRun) -> Evidence:
    """The run's evidence, from its artifacts and params."""
    k = int(run.config["k"])
    with tempfile.TemporaryDirectory(prefix="vssbench-compare-") as tmp:
        passes = _artifact(run.run_id, PASSES, Path(tmp))
        per_query = _artifact(run.run_id, PER_QUERY, Path(tmp))
    column = definitions.RECALL.name(k)
    recall = query_ids = None
    if per_query is not None and column in per_query:
        recall = per_query[column].to_numpy(float)
        query_ids = per_query["qid"].to_numpy() if "qid" in per_query else None
    return Evidence(k=k, recall=recall, query_ids=query_ids, **_timings(run, passes))
