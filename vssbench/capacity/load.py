"""The runs a capacity fit reads from MLflow: the report's rows of the experiment's finished
runs, each chosen run's index file size, and their ef curve points."""

import mlflow
import pandas as pd

from vssbench.capacity.observations import FILE_MB
from vssbench.report.load import load_curves, load_runs


def runs(experiment: str, filters: dict[str, str]) -> pd.DataFrame:
    """The experiment's finished runs of this benchmark version, as the report reads them:
    disturbed timings and builds already NaN (report/load.py)."""
    found, _ = load_runs(experiment, filters, all_versions=False)
    return found


def with_file_size(chosen: pd.DataFrame) -> pd.DataFrame:
    """`chosen` with each run's logged index file size (NaN where not logged)."""
    client = mlflow.MlflowClient()
    sizes = [client.get_run(run_id).data.metrics.get(FILE_MB) for run_id in chosen["run_id"]]
    return chosen.assign(**{FILE_MB: pd.to_numeric(pd.Series(sizes, chosen.index))})


def curves(chosen: pd.DataFrame) -> pd.DataFrame:
    """The chosen runs' ef points: run_id, ef, recall, QPS (none from disturbed runs)."""
    return load_curves(chosen)
