"""The experiment's finished runs from MLflow as one row each, with fill-ins for runs logged
before a parameter existed, and the ef curve points each run measured. Metrics defined with an
interval come with its ends (NaN for runs logged before intervals)."""

from collections.abc import Callable

import mlflow
import numpy as np
import pandas as pd

from vssbench.config import identity
from vssbench.config.schema import DatasetConfig, DatasetKind
from vssbench.measure.definitions import METRICS, QPS, RECALL, curve_name
from vssbench.report.columns import (
    BUILD_COLUMNS,
    CONFIG,
    DUCKDB,
    INTERVALS,
    TIMING_COLUMNS,
    bound_columns,
)

# The ef curve's metrics the report reads, each with its interval's ends.
CURVE_COLUMNS = tuple(c for d in (RECALL, QPS) for c in (d.column, *bound_columns(d)))


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
    timings = [c for m in TIMING_COLUMNS for c in (m, *INTERVALS.get(m, ()))]
    runs["busy"] = _keep_or_mark(runs, "disturbed", timings)
    # Every run that reused a disturbed build's index carries the tag.
    runs["build_busy"] = _keep_or_mark(runs, "build_disturbed", list(BUILD_COLUMNS))
    return runs.reset_index(drop=True), left_out


def _keep_or_mark(runs: pd.DataFrame, flag: str, columns: list[str]) -> pd.Series:
    """Where a configuration has an undisturbed run, its disturbed runs' `columns` are left out;
    where it has none (a machine busy the whole time), they are kept, and the runs marked busy
    (returned) for every table, figure and finding to say so."""
    clean = (~runs[flag]).groupby([runs["fingerprint"], runs["host"]]).transform("any")
    runs.loc[runs[flag] & clean, columns] = np.nan
    return runs[flag] & ~clean


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


def _metric(raw: pd.DataFrame, name: Callable[[int], str]) -> list[float]:
    """A metric's values, its MLflow name read with each run's own k (NaN where not logged)."""
    return [
        row.get(f"metrics.{name(int(k))}", np.nan)
        for k, (_, row) in zip(raw["params.k"], raw.iterrows(), strict=True)
    ]


def _metrics(raw: pd.DataFrame) -> dict[str, list[float]]:
    """Every defined metric by its column, and the ends of those with an interval."""
    out = {d.column: _metric(raw, d.name) for d in METRICS}
    for d in METRICS:
        if d.interval:
            low, high = bound_columns(d)
            out[low] = _metric(raw, lambda k, d=d: d.bounds(k)[0])
            out[high] = _metric(raw, lambda k, d=d: d.bounds(k)[1])
    return out


def _tag(raw: pd.DataFrame, name: str, absent: str) -> pd.Series:
    """A tag's values; `absent` for runs logged before the tag existed."""
    return raw.get(f"tags.{name}", pd.Series(absent, raw.index)).astype(object).fillna(absent)


def _rows(raw: pd.DataFrame) -> pd.DataFrame:
    """MLflow's columns under the report's short names."""
    return pd.DataFrame(
        {
            "configuration": raw["tags.mlflow.runName"],
            "fingerprint": raw["tags.fingerprint"],
            "bench_version": raw["tags.bench_version"],
            "host": _tag(raw, "process.host", "unknown"),
            "run_id": raw["run_id"],
            "disturbed": _tag(raw, "timing_disturbed", "false").eq("true"),
            # Runs from before builds were watched: their build counts as undisturbed.
            "build_disturbed": _tag(raw, "build_disturbed", "false").eq("true"),
            # What a run's intervals are over: its trials, or the passes of its one process.
            "interval_over": raw.get("params.interval_over"),
            **{short: raw.get(f"params.{param}") for short, param in CONFIG.items()},
            **_metrics(raw),
        }
    )


def _fill_in_legacy(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs logged before a parameter existed: the value they measured with."""
    runs["engine"] = runs["engine"].fillna(DUCKDB)  # runs from before engines had a name
    runs["bm25"] = runs["bm25"].fillna("match_bm25")  # runs from before search.bm25
    runs["dataset"] = runs["dataset"].fillna(DatasetKind.synthetic_ko.value)  # before datasets
    runs["noise"] = runs["noise"].fillna("0.0")  # runs from before the knob had no noise
    runs["workload"] = runs["workload"].fillna("static")  # runs from before workloads
    runs["embed"] = runs["embed"].fillna("synthetic")  # runs from before embed=model
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
    # Vectors from a user's model are other data than the synthetic embedder's.
    model = runs["model"].notna()
    runs.loc[model, "scale"] = runs["scale"][model] + " " + runs["model"][model]
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


def _history(client: mlflow.MlflowClient, run_id: str, name: str) -> dict[int, float]:
    return {m.step: m.value for m in client.get_metric_history(run_id, name)}


def _curve(client: mlflow.MlflowClient, run: pd.Series) -> pd.DataFrame:
    """One run's ef points: per effective ef, recall and QPS with their intervals' ends (NaN
    where not logged); its headline point when it logged no curve."""
    k = int(run["k"])
    series: dict[str, dict[int, float]] = {}
    for d in (RECALL, QPS):
        series[d.column] = _history(client, run["run_id"], curve_name(d, k))
        if series[d.column]:  # a run without the curve has no ends either
            for column, end in zip(bound_columns(d), d.bounds(k), strict=True):
                # The curve's name with the suffix the definition gives the end.
                name = curve_name(d, k) + end.removeprefix(d.name(k))
                series[column] = _history(client, run["run_id"], name)
    efs = sorted(set(series[RECALL.column]) & set(series[QPS.column]))
    if not efs:
        return run[list(CURVE_COLUMNS)].to_frame().T.assign(ef=np.nan)
    return pd.DataFrame(
        {c: [series.get(c, {}).get(ef, np.nan) for ef in efs] for c in CURVE_COLUMNS}
    ).assign(ef=[float(ef) for ef in efs])


def load_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The recall/QPS points each run measured over its ef list (`ef_curve.*`, step = effective
    ef) with their intervals' ends; a run without them gives its headline point. A disturbed
    run gives none where its configuration has an undisturbed run (load_runs)."""
    client = mlflow.MlflowClient()
    kept = ~runs["disturbed"] | runs["busy"]
    parts = [_curve(client, run).assign(run_id=run["run_id"]) for _, run in runs[kept].iterrows()]
    columns = ["run_id", "ef", *CURVE_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns].astype({c: float for c in columns[1:]})
