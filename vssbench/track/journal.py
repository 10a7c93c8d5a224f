"""A run's results written to its job dir as they are made, then sent to the tracking store in
one go: a store that is down or fails mid-way loses nothing, and `python -m vssbench.sync DIR`
(or the next run of the same configuration) sends them later, into the same MLflow run.

The journal is `<dir>/results.json` (where to send it, tags, params, metrics with their steps
and timestamps, and whether it was sent) beside `<dir>/artifacts/`. Sending is idempotent:
MLflow keeps one copy of a metric logged twice with the same timestamp and step, and a param
logged again with the same value; so a send cut short is simply sent again.
"""

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from vssbench.track.store import TrackingError, short

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
JOURNAL_DIR = "vssbench_results"  # in a run's job dir
UNSENT_DIR = "unsent"  # under cache_dir: <fingerprint>.json names the journal of a run not sent
# MLflow's limits per log_batch call.
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}


@dataclass(frozen=True)
class Destination:
    """The MLflow run a journal belongs to."""

    tracking_uri: str
    experiment_id: str
    run_id: str
    run_name: str
    fingerprint: str


class Journal:
    """Results of one run, kept on disk from the first call on."""

    def __init__(self, dir: Path, to: Destination, unsent_dir: Path) -> None:
        self.dir = dir
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "artifacts").mkdir(exist_ok=True)
        self._data = {
            "destination": to.__dict__,
            "unsent_marker": str(unsent_dir / f"{to.fingerprint}.json"),
            "sent": False,
            "tags": {},
            "params": {},
            "metrics": [],
        }
        self._write()

    @property
    def run_id(self) -> str:
        return self._data["destination"]["run_id"]

    @property
    def tags(self) -> dict[str, str]:
        return dict(self._data["tags"])

    def log_params(self, params: dict[str, object]) -> None:
        self._data["params"].update({name: str(value) for name, value in params.items()})
        self._write()

    def set_tags(self, tags: dict[str, object]) -> None:
        self._data["tags"].update({name: str(value) for name, value in tags.items()})
        self._write()

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self._data["metrics"] += [[name, float(v), now, step] for name, v in metrics.items()]
        self._write()

    def log_steps(self, steps: dict[str, list[tuple[int, float]]]) -> None:
        """Curves: per metric, (step, value) points."""
        now = int(time.time() * 1000)
        points = [[m, float(v), now, int(step)] for m, pts in steps.items() for step, v in pts]
        self._data["metrics"] += points
        self._write()

    def log_text(self, text: str, artifact: str) -> None:
        self._artifact_path(artifact).write_text(text)

    def log_figure(self, figure: plt.Figure, artifact: str) -> None:
        figure.savefig(self._artifact_path(artifact))
        plt.close(figure)

    def log_table(self, frame: pd.DataFrame, artifact: str) -> None:
        frame.to_parquet(self._artifact_path(artifact), index=False)

    def _artifact_path(self, artifact: str) -> Path:
        path = self.dir / "artifacts" / artifact
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _write(self) -> None:
        tmp = self.dir / f".{RESULTS_FILE}.tmp"
        tmp.write_text(json.dumps(self._data))
        os.replace(tmp, self.dir / RESULTS_FILE)

    def mark_unsent(self) -> Path:
        """Leave a marker under cache_dir so the next run of this configuration sends it."""
        marker = Path(self._data["unsent_marker"])
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"journal": str(self.dir)}))
        return marker


def read(dir: Path) -> dict:
    return json.loads((dir / RESULTS_FILE).read_text())


def unsent_journal(unsent_dir: Path, fingerprint: str, tracking_uri: str) -> Path | None:
    """The journal dir of this configuration's run that was measured for this store but not
    sent, if any (one meant for another store waits for `vssbench.sync`)."""
    marker = unsent_dir / f"{fingerprint}.json"
    if not marker.exists():
        return None
    journal = Path(json.loads(marker.read_text())["journal"])
    if not (journal / RESULTS_FILE).exists() or read(journal)["sent"]:
        marker.unlink(missing_ok=True)  # sent since, or its job dir removed: nothing to send
        return None
    return journal if read(journal)["destination"]["tracking_uri"] == tracking_uri else None


def send(dir: Path, tracking_uri: str | None = None) -> str:
    """Send a journal to its run (created again if the store no longer has it) and end that
    run FINISHED; returns the run id. TrackingError, naming the journal, if the store fails."""
    data = read(dir)
    to = Destination(**data["destination"])
    uri = tracking_uri or to.tracking_uri
    try:
        client = mlflow.MlflowClient(uri)
        run_id = _run_in_store(client, to, data["tags"])
        for kind, entities in _entities(data).items():
            for start in range(0, len(entities), _BATCH[kind]):
                client.log_batch(run_id, **{kind: entities[start : start + _BATCH[kind]]})
        if any((dir / "artifacts").iterdir()):
            client.log_artifacts(run_id, str(dir / "artifacts"))
        client.set_terminated(run_id, status="FINISHED")
    except Exception as error:
        raise TrackingError(unsent_message(dir, uri, error), saved=True) from error
    data["sent"] = True
    data["destination"]["run_id"] = run_id
    tmp = dir / f".{RESULTS_FILE}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, dir / RESULTS_FILE)
    Path(data["unsent_marker"]).unlink(missing_ok=True)
    return run_id


def unsent_message(dir: Path, uri: str, error: BaseException) -> str:
    return (
        f"results not sent to {uri} ({short(error)}); they are saved in {dir}: send them with "
        f"`uv run python -m vssbench.sync {dir}`, or run the same command again"
    )


def _run_in_store(client: mlflow.MlflowClient, to: Destination, tags: dict[str, str]) -> str:
    """The journal's run, or a new run with its tags when the store has lost it (a server
    started on a new database)."""
    try:
        client.get_run(to.run_id)
        return to.run_id
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    experiment = client.get_experiment(to.experiment_id)
    log.warning("run %s is not in the store: sending %s as a new run", to.run_id, to.run_name)
    return client.create_run(experiment.experiment_id, run_name=to.run_name, tags=tags).info.run_id


def _entities(data: dict) -> dict[str, list]:
    return {
        "params": [Param(name, value) for name, value in data["params"].items()],
        "tags": [RunTag(name, value) for name, value in data["tags"].items()],
        "metrics": [Metric(name, value, ts, step) for name, value, ts, step in data["metrics"]],
    }
