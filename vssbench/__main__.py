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

from vssbench.config import paths
from vssbench.config.checks import ConfigError
from vssbench.config.plan import hpo_settings, read_plan
from vssbench.data.sources.files import DataFileError
from vssbench.measure.memory import MemoryGuardError
from vssbench.run import runner
from vssbench.stopwatch import Stopwatch
from vssbench.sweep import state
from vssbench.sweep.objective import objective, timing_disturbed

log = logging.getLogger("vssbench")

# A sweep's worker process runs many jobs; only its first paid for starting the process.
_started_process = False


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | list[float] | None:
    """Returns the objective sweepers optimise (recall@k unless hpo.objective says otherwise)."""
    hydra_cfg = HydraConfig.get()
    cfg = paths.anchored(cfg, Path(hydra_cfg.runtime.cwd))
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    jobs = int(hydra_cfg.launcher.get("n_jobs", 1) or 1) if multirun else 1
    global _started_process
    watch = Stopwatch()
    if not _started_process:
        watch.seconds["startup"] = time.time() - psutil.Process().create_time()
        _started_process = True
    info = state.read_sweep_file(Path(hydra_cfg.sweep.dir)) if multirun else None
    parent = info["parent_run_id"] if info else None
    status_file = Path(hydra_cfg.runtime.output_dir, state.STATUS_FILE)
    try:
        plan = read_plan(cfg)
        outcome = runner.run(plan, concurrent_jobs=jobs, parent_run_id=parent, watch=watch)
    except Exception as error:
        if not multirun:
            if isinstance(error, ConfigError | DataFileError | MemoryGuardError):
                kind = "not enough memory" if isinstance(error, MemoryGuardError) else error.kind
                raise SystemExit(f"vssbench: {kind}: {error}") from None
            raise
        # In a sweep the job fails and the sweep goes on: Hydra's sweeper would stop at the
        # first exception and print no summary. The traceback goes to the job's status file.
        log.error("job failed: %s: %s", type(error).__name__, error)
        status_file.write_text(json.dumps(state.failure(error)))
        return None  # a failed Optuna trial; NaN made the sweeper raise (sweep/objective.py)
    disturbed = timing_disturbed(outcome.run_id)
    status = {"status": outcome.status, "run": outcome.name, "run_id": outcome.run_id}
    status_file.write_text(json.dumps({**status, "timing_disturbed": disturbed}))
    if plan.workload.name == "restart":
        return None  # times to a first answer: nothing a sweeper optimises
    return objective(outcome.metrics, plan.search.k, hpo_settings(cfg.hpo), disturbed)


if __name__ == "__main__":
    main()
