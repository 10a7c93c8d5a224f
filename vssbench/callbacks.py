"""Hydra callbacks: the MLflow store before jobs fan out, and a sweep summary after."""

import json
import logging
from pathlib import Path
from typing import Any

import mlflow
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vssbench import tracking

log = logging.getLogger("vssbench")
STATUS_FILE = "vssbench_status.json"


class PrepareTracking(Callback):
    """Create the MLflow store and experiment before parallel jobs could race to create them;
    after the sweep, say which jobs were skipped, done or failed."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        experiment_id = tracking.prepare(config.tracking)
        tracking.mark_dead_runs(experiment_id)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED:
            error = job_return._return_value  # the exception; .return_value would re-raise it
            status = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
            Path(config.hydra.runtime.output_dir, STATUS_FILE).write_text(json.dumps(status))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = []
        for job_dir in sorted(
            (p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        ):
            status_file = job_dir / STATUS_FILE
            status = (
                json.loads(status_file.read_text())
                if status_file.exists()
                else {"status": "not run"}
            )
            overrides = job_dir / ".hydra" / "overrides.yaml"
            label = (
                " ".join(line.lstrip("- ").strip() for line in overrides.read_text().splitlines())
                if overrides.exists()
                else job_dir.name
            )
            rows.append((job_dir.name, status, label))
        counts: dict[str, int] = {}
        for _, status, _ in rows:
            counts[status["status"]] = counts.get(status["status"], 0) + 1
        log.info(
            "sweep summary (%s): %s",
            sweep_dir,
            ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        )
        for number, status, label in rows:
            detail = status.get("run") or status.get("error", "")
            log.info("  #%s %-8s %s  %s", number, status["status"], label, detail)
        results = sweep_dir / "optimization_results.yaml"
        if results.exists():
            log.info("optuna results:\n%s", results.read_text())
            experiment_id = tracking.prepare(config.tracking)
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=f"hpo-{sweep_dir.name}", tags={"kind": "hpo"}
            ):
                mlflow.log_artifact(str(results))
