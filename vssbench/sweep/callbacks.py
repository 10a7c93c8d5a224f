"""Hydra callbacks: the MLflow store and the sweep's parent run before jobs fan out, a line per
job as it ends, and a sweep summary after."""

import atexit
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock, Timeout
from hydra.core.override_parser.types import Quote, QuotedString
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from vssbench import faults, stop
from vssbench.config import dataset, paths, sweep
from vssbench.config.checks import ConfigError
from vssbench.config.plan import hpo_settings, store_location
from vssbench.config.scales import scale_sizes
from vssbench.config.schema import ScaleConfig
from vssbench.data.sources import beir
from vssbench.sweep import eta, state
from vssbench.sweep import results as hpo_results
from vssbench.sweep.results import Job
from vssbench.track import claim, preflight, store

log = logging.getLogger("vssbench")


class PrepareTracking(Callback):
    """Create the MLflow store, the experiment and the sweep's parent run before parallel jobs
    could race to create them; report each job as it ends and the whole sweep after."""

    def __init__(self) -> None:
        self._job_started = time.monotonic()

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns what a callback raises into a warning and goes on: every failure here
        # ends the run itself, in one line (values first: a bad one must not leave even empty
        # dirs behind).
        try:
            _cache_checks(config)
            dataset.checked(
                OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
            )
            _check_dirs(config, "hydra.run.dir", config.hydra.run.dir)
        except Exception as error:
            places = paths.writable_places(config)
            raise SystemExit(faults.one_line(error, places, Path.cwd())) from None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _cache_checks(config)
        jobs = sweep.planned_jobs(config)
        if jobs is not None and (bad := sweep.invalid_jobs(kwargs["config_name"], jobs)):
            # Before any work: a bad job is not found after the good ones have run.
            raise SystemExit(
                f"vssbench: bad configuration in {len(bad)} of {len(jobs)} jobs:\n  "
                + "\n  ".join(bad)
            )
        _check_launcher(config.hydra.launcher)
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        _check_dirs(config, "hydra.sweep.dir", str(sweep_dir))
        # Launchers compose each job's config again from these overrides, maybe in another dir
        # (Ray under `uv run` runs its workers in a copy of the working dir): the jobs must
        # write their dirs and statuses where this process reads them. Quoted as Hydra's
        # parser unquotes: it unescapes only the backslashes before a quote, so doubling every
        # backslash sent the jobs of `back\slash` to `back\\slash`, outside the sweep.
        quoted = QuotedString(text=str(sweep_dir), quote=Quote.single).with_quotes()
        config.hydra.overrides.hydra.append(f"hydra.sweep.dir={quoted}")
        _claim_sweep_dir(sweep_dir)
        state.clear_job_statuses(sweep_dir)  # an earlier sweep's, in a reused hydra.sweep.dir
        (sweep_dir / hpo_results.RESULTS_FILE).unlink(missing_ok=True)  # and its results
        stop.clear(sweep_dir)
        stop.install(sweep_dir)
        total = sweep.job_count(config)
        n_jobs = int(config.hydra.launcher.get("n_jobs", 1) or 1)
        overrides = sweep.sweep_overrides(config)
        try:
            experiment_id = store.prepare(store_location(config.tracking))
            claim.mark_dead_runs(experiment_id, config.tracking.stale_s)
            parent = state.open_parent(
                experiment_id, overrides, sweep.defining(overrides), total, n_jobs
            )
        except Exception as error:
            _release(sweep_dir)
            raise SystemExit(
                faults.one_line(error, paths.writable_places(config), sweep_dir)
            ) from None
        state.write_sweep_file(sweep_dir, parent, total, jobs)
        # A launcher that raises (joblib or submitit when a worker dies) skips on_multirun_end;
        # Hydra then exits through sys.exit, which still runs this.
        atexit.register(_end_sweep, config, aborted=True)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_started = time.monotonic()
        _cache_checks(config)  # a launcher's worker is a process of its own
        if state.read_sweep_file(Path(config.hydra.sweep.dir)) is not None:
            # Replaced when the job ends; left behind, it says the job's process died.
            status_file = Path(config.hydra.runtime.output_dir, state.STATUS_FILE)
            status_file.write_text(json.dumps(state.started()))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        status_file = Path(config.hydra.runtime.output_dir, state.STATUS_FILE)
        if job_return.status == JobStatus.FAILED:  # failed before the task could catch it
            error = job_return._return_value  # the exception; .return_value would re-raise it
            status_file.write_text(json.dumps(state.failure(error)))
        info = state.read_sweep_file(Path(config.hydra.sweep.dir))
        if info is None or not status_file.exists():  # a single run, not a sweep
            return
        status = json.loads(status_file.read_text())
        if status["status"] == "not started":  # the summary lists it; a line each is noise
            return
        job_s = time.monotonic() - self._job_started
        # Its seconds, for the ETA of the lines after it; replaced whole, as other jobs read it.
        written = status_file.with_suffix(".tmp")
        written.write_text(json.dumps({**status, "job_s": job_s}))
        os.replace(written, status_file)
        name = status.get("run") or " ".join(config.hydra.overrides.task)
        rows = state.job_statuses(Path(config.hydra.sweep.dir), info["total"])
        done = state.counts([s for _, s, _ in rows if s["status"] not in state.NOT_ENDED])
        # This job's values stand for what no job overrides: a basic sweep's jobs all override
        # the same keys.
        scale, search, engine = config.scale, str(config.search.name), str(config.engine.name)
        base = eta.JobKey(scale.n_docs, scale.n_queries, config.dim, search, engine)
        conf = [Path(s.path) for s in config.hydra.runtime.config_sources if s.provider == "main"]
        scales = scale_sizes(conf, ScaleConfig.n_queries)
        scales[scale.name] = (scale.n_docs, scale.n_queries)
        workers = eta.workers(config.hydra.launcher.get("n_jobs"), os.cpu_count() or 1)
        left_s = state.sweep_left_s(rows, info, base, scales, workers)
        log.info(state.job_line(name, status["status"], job_s, done, info["total"], left_s))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        _end_sweep(config, aborted=False)


def _end_sweep(config: DictConfig, aborted: bool) -> None:
    """The sweep summary and the parent run's end; `aborted`: the launcher raised (a worker
    process died under joblib or submitit, or under Ray more often than it retries)."""
    sweep_dir = Path(config.hydra.sweep.dir).resolve()
    lock = _SWEEP_LOCKS.pop(str(sweep_dir), None)
    info = state.read_sweep_file(sweep_dir)
    if lock is None or info is None:  # ended already, or never started
        return
    planned = sweep.planned_jobs(config)
    labels = [" ".join(job) for job in planned] if planned is not None else None
    rows = [
        (n, state.ended(s), label)
        for n, s, label in state.job_statuses(sweep_dir, info["total"], labels)
    ]
    counts = state.counts([status for _, status, _ in rows])
    stopped = stop.requested(sweep_dir)
    log.info(
        "sweep summary (%s)%s: %s",
        sweep_dir,
        " after the launcher stopped" if aborted else "",
        ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items()) if n),
    )
    for number, status, label in rows:
        detail = status.get("run") or status.get("error", "")
        log.info("  #%s %-11s %s  %s", number, status["status"], label, detail)
    try:
        store.prepare(store_location(config.tracking))
        _optuna_results(config, sweep_dir, rows, info["parent_run_id"])
        state.close_parent(info["parent_run_id"], counts, time.time() - info["started"])
    except Exception as error:
        log.warning("the sweep's MLflow run was not closed: %s", store.short(error))
    lock.release()
    if stopped:
        raise SystemExit(f"vssbench: the sweep stopped: {stopped}")
    if aborted:
        log.info("run the same command again: finished jobs are skipped, the others redone")
    elif counts["failed"]:
        raise SystemExit(f"vssbench: {counts['failed']} of {len(rows)} jobs failed")


def _optuna_results(
    config: DictConfig, sweep_dir: Path, rows: list[tuple[str, dict, str]], parent_run_id: str
) -> None:
    """The Optuna sweeper's results, labelled (sweep/results.py), printed and logged to the
    sweep's run; nothing for other sweepers."""
    results = sweep_dir / hpo_results.RESULTS_FILE
    if not results.exists():
        return
    jobs = [Job(state.job_overrides(sweep_dir / number), status) for number, status, _ in rows]
    hpo_results.rewrite(results, jobs, config.k, hpo_settings(config.hpo))
    log.info("optuna results:\n%s", results.read_text())
    mlflow.MlflowClient().log_artifact(parent_run_id, str(results))


def _check_launcher(launcher: DictConfig) -> None:
    """What a launcher would find wrong only once the sweep's run exists."""
    target = str(launcher.get("_target_", ""))
    n_jobs = launcher.get("n_jobs")
    if n_jobs is not None and (not isinstance(n_jobs, int) or n_jobs == 0):
        raise SystemExit(
            f"vssbench: bad configuration: hydra.launcher.n_jobs={n_jobs}: give the number of "
            "jobs run at once (1 or more; -1: one per core)"
        )
    if "SlurmLauncher" in target and shutil.which("sbatch") is None:
        raise SystemExit(
            "vssbench: bad configuration: hydra/launcher=submitit_slurm needs SLURM, and this "
            "machine has no sbatch: run it on a SLURM login node, or use hydra/launcher=joblib"
        )


def _release(sweep_dir: Path) -> None:
    lock = _SWEEP_LOCKS.pop(str(sweep_dir), None)
    if lock is not None:
        lock.release()


def _cache_checks(config: DictConfig) -> None:
    """A BEIR set's checks, made while each configuration is read (before any plan), cached in
    the command's cache_dir, anchored as the run anchors it: a second run parses no file."""
    try:
        cache_dir = Path(str(config.cache_dir))
    except Exception:  # a cache_dir that does not resolve: the check of the values says so
        return
    beir.keep_checks_in(Path(config.hydra.runtime.cwd) / cache_dir)


def _check_dirs(config: DictConfig, output_key: str, output_dir: str) -> None:
    try:
        location = store_location(config.tracking)
        preflight.check_dirs(config.cache_dir, location, output_key, output_dir)
    except ConfigError as error:
        raise SystemExit(f"vssbench: bad configuration: {error}") from None


# Sweep dir locks held by this (the sweep's main) process. Not kept on the callback, which
# Hydra pickles to the launcher's workers.
_SWEEP_LOCKS: dict[str, FileLock] = {}


def _claim_sweep_dir(sweep_dir: Path) -> None:
    """Held for the sweep's life: two sweeps writing job dirs and statuses into one sweep dir
    would each count the other's jobs."""
    lock = FileLock(str(sweep_dir / ".vssbench_sweep.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SystemExit(
            f"vssbench: hydra.sweep.dir={sweep_dir} is in use by another sweep; "
            "give this one its own hydra.sweep.dir"
        ) from None
    _SWEEP_LOCKS[str(sweep_dir)] = lock
