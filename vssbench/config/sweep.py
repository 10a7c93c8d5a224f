"""A sweep's jobs as Hydra will launch them, read from its configuration, and checked before any runs."""

from hydra import compose
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, ValidationError

from vssbench.config.checks import ConfigError
from vssbench.config.dataset import checked
from vssbench.config.schema import RUN_CONTROL_KEYS
from vssbench.data.sources.files import DataFileError

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def sweep_overrides(config: DictConfig) -> list[str]:
    """What defines the sweep: the sweeper's params (e.g. from +grid=full) and the command line."""
    params = config.hydra.sweeper.get("params") or {}
    return [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)


def planned_jobs(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, as Hydra's basic sweeper will launch them; None for a sweeper that
    picks its jobs as it goes (Optuna)."""
    if config.hydra.sweeper._target_ != BASIC_SWEEPER:
        return None
    parsed = OverridesParser.create().parse_overrides(sweep_overrides(config))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_count(config: DictConfig) -> int:
    jobs = planned_jobs(config)
    return len(jobs) if jobs is not None else int(config.hydra.sweeper.n_trials)


def invalid_jobs(config_name: str, jobs: list[list[str]]) -> list[str]:
    """One line per planned job whose configuration fails validation, composed as the job's."""
    bad = []
    for overrides in jobs:
        try:
            checked(compose(config_name=config_name, overrides=overrides))
        except (ConfigError, DataFileError, ConfigCompositionException, ValidationError) as error:
            bad.append(f"{' '.join(overrides)}: {error}".splitlines()[0])
    return bad


def defining(overrides: list[str]) -> list[str]:
    """The overrides that define what a sweep runs: not those that only say where results go
    or whether to re-run (tracking, cache_dir, force)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        text
        for text, o in zip(overrides, parsed, strict=True)
        if o.get_key_element().lstrip("+~").split(".")[0] not in RUN_CONTROL_KEYS
    ]
