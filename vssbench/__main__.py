"""Entry point: `python -m vssbench [overrides]` runs one configuration, `-m` sweeps many."""

import json
import logging
import time
from pathlib import Path

import hydra
import psutil
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from vssbench import faults, stop
from vssbench.config import paths
from vssbench.config.plan import hpo_settings, read_plan
from vssbench.run import runner
from vssbench.run.plan import RunPlan
from vssbench.stopwatch import Stopwatch
from vssbench.sweep import state
from vssbench.sweep.objective import objective
from vssbench.track.store import TrackingError

log = logging.getLogger("vssbench")

# A sweep's worker process runs many jobs; only its first paid for starting the process.
_started_process = False


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | list[float] | None:
    """Returns the objective sweepers optimise (recall@k unless hpo.objective says otherwise)."""
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    job_dir = Path(hydra_cfg.runtime.output_dir)
    sweep_dir = Path(hydra_cfg.sweep.dir) if multirun else None
    status_file = job_dir / state.STATUS_FILE
    stop.install(sweep_dir)
    if sweep_dir is not None and (why := stop.requested(sweep_dir)):
        status_file.write_text(json.dumps({"status": "not started", "error": why}))
        return None
    try:
        with stop.job():
            outcome, plan = _run(cfg, hydra_cfg, multirun, job_dir)
    except (Exception, stop.Interrupted) as error:  # or what a signal became on its way up
        places = {"hydra output": job_dir, **paths.writable_places(cfg)}
        line = faults.one_line(error, places, job_dir)
        interrupted = stop.received() is not None or isinstance(error, stop.Interrupted)
        if not multirun:
            raise SystemExit("vssbench: interrupted" if interrupted else line) from None
        # In a sweep the job fails and the sweep goes on: Hydra's sweeper would stop at the
        # first exception and print no summary. A store that failed or a signal stops it.
        status = state.failure(error, line)
        if interrupted:
            status = {**status, "status": "interrupted", "error": "interrupted"}
        elif isinstance(error, TrackingError):
            status["status"] = "unsent" if error.saved else "failed"
            stop.request(sweep_dir, line.removeprefix("vssbench: "))
        log.error("%s", status["error"])
        status_file.write_text(json.dumps(status))
        return None
    if sweep_dir is not None and stop.received():
        stop.request(sweep_dir, f"interrupted ({stop.received()})")  # it ended all the same
    status = {"status": outcome.status, "run": outcome.name, "run_id": outcome.run_id}
    status_file.write_text(json.dumps({**status, "timing_disturbed": outcome.timing_disturbed}))
    if plan.workload.name == "restart":
        return None  # times to a first answer: nothing a sweeper optimises
    hpo = hpo_settings(cfg.hpo)
    return objective(outcome.metrics, plan.search.k, hpo, outcome.timing_disturbed)


def _run(
    cfg: DictConfig, hydra_cfg: DictConfig, multirun: bool, job_dir: Path
) -> tuple[runner.Outcome, RunPlan]:
    global _started_process
    cfg = paths.anchored(cfg, Path(hydra_cfg.runtime.cwd))
    jobs = int(hydra_cfg.launcher.get("n_jobs", 1) or 1) if multirun else 1
    watch = Stopwatch()
    if not _started_process:
        watch.seconds["startup"] = time.time() - psutil.Process().create_time()
        _started_process = True
    info = state.read_sweep_file(Path(hydra_cfg.sweep.dir)) if multirun else None
    parent = info["parent_run_id"] if info else None
    plan = read_plan(cfg)
    outcome = runner.run(
        plan, concurrent_jobs=jobs, parent_run_id=parent, watch=watch, job_dir=job_dir
    )
    return outcome, plan


if __name__ == "__main__":
    main()
