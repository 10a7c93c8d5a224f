"""Hydra callbacks: the MLflow store and the sweep's parent run before jobs fan out, a line per
job as it ends, and a sweep summary after."""

import json
import logging
import time
from pathlib import Path
from typing import Any

import mlflow
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from vssbench import sweep, tracking

log = logging.getLogger("vssbench")


class PrepareTracking(Callback):
    """Create the MLflow store, the experiment and the sweep's parent run before parallel jobs
    could race to create them; report each job as it ends and the whole sweep after."""

    def __init__(self) -> None:
        self._job_started = time.monotonic()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = sweep.planned_jobs(config)
        if jobs is not None and (bad := sweep.invalid_jobs(kwargs["config_name"], jobs)):
            # Before any work: a bad job is not found after the good ones have run.
            raise SystemExit(
                f"vssbench: bad configuration in {len(bad)} of {len(jobs)} jobs:\n  "
                + "\n  ".join(bad)
            )
        experiment_id = tracking.prepare(config.tracking)
        tracking.mark_dead_runs(experiment_id)
        total = sweep.job_count(config)
        n_jobs = int(config.hydra.launcher.get("n_jobs", 1) or 1)
        parent = sweep.open_parent(experiment_id, config, total, n_jobs)
        sweep.write_sweep_file(Path(config.hydra.sweep.dir), parent, total)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        status_file = Path(config.hydra.runtime.output_dir, sweep.STATUS_FILE)
        if job_return.status == JobStatus.FAILED:  # failed before the task could catch it
            error = job_return._return_value  # the exception; .return_value would re-raise it
            status_file.write_text(json.dumps(sweep.failure(error)))
        info = sweep.read_sweep_file(Path(config.hydra.sweep.dir))
        if info is None or not status_file.exists():  # a single run, not a sweep
            return
        status = json.loads(status_file.read_text())
        name = status.get("run") or " ".join(config.hydra.overrides.task)
        statuses = [s for _, s, _ in sweep.job_statuses(Path(config.hydra.sweep.dir))]
        done = sweep.counts([s for s in statuses if s["status"] != "not run"])
        log.info(
            sweep.job_line(
                name,
                status["status"],
                time.monotonic() - self._job_started,
                done,
                info["total"],
                time.time() - info["started"],
            )
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = sweep.job_statuses(sweep_dir)
        counts = sweep.counts([status for _, status, _ in rows])
        log.info(
            "sweep summary (%s): %s",
            sweep_dir,
            ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if n),
        )
        for number, status, label in rows:
            detail = status.get("run") or status.get("error", "")
            log.info("  #%s %-8s %s  %s", number, status["status"], label, detail)
        info = sweep.read_sweep_file(sweep_dir)
        if info is None:
            return
        tracking.prepare(config.tracking)
        results = sweep_dir / "optimization_results.yaml"
        if results.exists():
            log.info("optuna results:\n%s", results.read_text())
            mlflow.MlflowClient().log_artifact(info["parent_run_id"], str(results))
        sweep.close_parent(info["parent_run_id"], counts, time.time() - info["started"])
        if counts["failed"]:
            raise SystemExit(f"vssbench: {counts['failed']} of {len(rows)} jobs failed")
