"""The experiment's finished runs from MLflow as one row each, with fill-ins for runs logged
before a parameter existed, and the ef curve points each run measured."""

import mlflow
import numpy as np
import pandas as pd

from vssbench.config import identity
from vssbench.config.schema import DatasetConfig, DatasetKind
from vssbench.measure.definitions import METRICS, QPS, RECALL, MetricDef, curve_name
from vssbench.report.columns import CONFIG, DUCKDB, TIMING_COLUMNS


class ReportError(RuntimeError):
    """Nothing to report on; the message says why."""


def load_runs(
    experiment: str, filters: dict[str, str], all_versions: bool
) -> tuple[pd.DataFrame, int]:
    """Finished benchmark runs as one row each with short column names; also how many runs of
    older benchmark versions were left out."""
    runs = _fill_in_legacy(_rows(_finished_runs(experiment)))
    runs = _keep_data_and_hosts_apart(runs)
    # Only filter=attribute reads filter.selectivity.
    runs["selectivity"] = pd.to_numeric(runs["selectivity"]).where(runs["filter"] == "attribute")
    runs, left_out = _select(runs, experiment, filters, all_versions)
    runs["n_docs"] = runs["n_docs"].astype(int)
    runs["dim"] = runs["dim"].astype(int)
    # A disturbed run's timings are left out of every figure, table and finding.
    runs.loc[runs["disturbed"], [m for m in TIMING_COLUMNS if m in runs]] = np.nan
    return runs.reset_index(drop=True), left_out


def _finished_runs(experiment: str) -> pd.DataFrame:
    """MLflow's frame of the experiment's finished benchmark runs."""
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ReportError(f"no experiment named {experiment!r} at {mlflow.get_tracking_uri()}")
    raw = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'"
    )
    if "tags.fingerprint" not in raw:
        raise ReportError(f"experiment {experiment!r} has no finished benchmark runs yet")
    return raw[raw["tags.fingerprint"].notna()]  # report and hpo runs carry no fingerprint


def _metric(raw: pd.DataFrame, metric: MetricDef) -> object:
    """A metric's column; one that depends on k is read with each run's own k."""
    if "{k}" not in metric.pattern:
        return raw.get(f"metrics.{metric.pattern}")
    return [
        row.get(f"metrics.{metric.name(int(k))}", np.nan)
        for k, (_, row) in zip(raw["params.k"], raw.iterrows(), strict=True)
    ]


def _rows(raw: pd.DataFrame) -> pd.DataFrame:
    """MLflow's columns under the report's short names."""
    return pd.DataFrame(
        {
            "configuration": raw["tags.mlflow.runName"],
            "fingerprint": raw["tags.fingerprint"],
            "bench_version": raw["tags.bench_version"],
            "host": raw.get("tags.process.host", pd.Series(None, raw.index)).fillna("unknown"),
            "run_id": raw["run_id"],
            "disturbed": raw.get("tags.timing_disturbed", pd.Series("false", raw.index))
            .fillna("false")
            .eq("true"),
            **{short: raw.get(f"params.{param}") for short, param in CONFIG.items()},
            **{d.column: _metric(raw, d) for d in METRICS},
        }
    )


def _fill_in_legacy(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs logged before a parameter existed: the value they measured with."""
    runs["engine"] = runs["engine"].fillna(DUCKDB)  # runs from before engines had a name
    runs["bm25"] = runs["bm25"].fillna("match_bm25")  # runs from before search.bm25
    runs["dataset"] = runs["dataset"].fillna(DatasetKind.synthetic_ko.value)  # before datasets
    runs["noise"] = runs["noise"].fillna("0.0")  # runs from before the knob had no noise
    return runs


def _keep_data_and_hosts_apart(runs: pd.DataFrame) -> pd.DataFrame:
    """Scales renamed so that no median, figure or finding mixes other data or other hosts."""
    # Synthetic data of another difficulty is other data: its scale says so.
    noise = pd.to_numeric(runs["noise"]).where(runs["dataset"] == DatasetKind.synthetic_ko)
    other = noise.notna() & (noise != DatasetConfig().noise)
    runs.loc[other, "scale"] = [
        f"{scale} noise {value:g}"
        for scale, value in zip(runs["scale"][other], noise[other], strict=True)
    ]
    # Timings from different hosts are different measurements: with runs from several hosts,
    # each host's runs are a scale of their own.
    if runs["host"].nunique() > 1:
        runs["scale"] = runs["scale"] + " @" + runs["host"]
    return runs


def _select(
    runs: pd.DataFrame, experiment: str, filters: dict[str, str], all_versions: bool
) -> tuple[pd.DataFrame, int]:
    """The runs of this benchmark version (unless all_versions) that match the filters; also
    how many older-version runs were left out."""
    old = runs["bench_version"] != identity.BENCH_VERSION
    left_out = 0 if all_versions else int(old.sum())
    if not all_versions:
        runs = runs[~old]
    for key, value in filters.items():
        if key not in runs:
            raise ReportError(f"unknown filter {key}={value}; filter on one of {sorted(CONFIG)}")
        runs = runs[runs[key].astype(str) == value]
    if runs.empty:
        shown = " ".join(f"{k}={v}" for k, v in filters.items()) or "none"
        raise ReportError(
            f"no finished runs of benchmark version {identity.BENCH_VERSION} in {experiment!r} "
            f"match the filters ({shown}); {left_out} older-version runs left out"
        )
    return runs, left_out


def load_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The recall/QPS points each run measured over its ef list (`ef_curve.*`, step = effective
    ef); a run without them gives its headline point. Disturbed runs give none."""
    client = mlflow.MlflowClient()
    rows = []
    for run in runs[~runs["disturbed"]].itertuples():
        k = int(run.k)
        recall = {
            m.step: m.value for m in client.get_metric_history(run.run_id, curve_name(RECALL, k))
        }
        qps = {m.step: m.value for m in client.get_metric_history(run.run_id, curve_name(QPS, k))}
        points = [(ef, recall[ef], qps[ef]) for ef in sorted(recall) if ef in qps]
        if not points:
            points = [(None, getattr(run, RECALL.column), getattr(run, QPS.column))]
        rows += [(run.run_id, ef, r, q) for ef, r, q in points]
    return pd.DataFrame(rows, columns=["run_id", "ef", RECALL.column, QPS.column])
