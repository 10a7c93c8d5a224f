"""vssbench's settings for Hydra's launchers, stored under the plugins' own names
(hydra/launcher=joblib, ray, submitit_local, submitit_slurm) in place of the plugins' nodes. A
config file of the same name would be merged onto the plugin's node as its schema, which Hydra
deprecates since 1.1; the plugin's dataclass with vssbench's values is one config, checked by
the same types. A plugin that is not installed (an optional extra) is left out."""

import importlib
import os
from collections.abc import Callable
from types import ModuleType

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins

LAUNCHERS: dict[str, tuple[str, Callable[[ModuleType], object]]] = {
    # The default. One job at a time: concurrent jobs share the cores and contaminate each
    # other's latency.
    "joblib": (
        "hydra_plugins.hydra_joblib_launcher.config",
        lambda plugin: plugin.JobLibLauncherConf(n_jobs=1),
    ),
    # Extra `ray`: each job a Ray task. A local Ray instance by default, without the dashboard's
    # web server (on loopback only with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the environment);
    # an existing cluster with hydra.launcher.ray.init.address=auto on one of its nodes, or
    # ray://HEAD:10001. A job holds 2 CPUs (engine.threads's default), so a 2-core node runs one
    # job at a time as the joblib default does; a task whose worker dies (SIGKILL, OOM kill, a
    # lost node) runs once more, and that attempt marks the dead run KILLED and runs the job.
    "ray": (
        "hydra_plugins.hydra_ray_launcher._config",
        lambda plugin: plugin.RayLauncherConf(
            ray=plugin.RayConf(
                init={"address": None, "include_dashboard": False},
                remote={"num_cpus": 2, "max_retries": 1},
            )
        ),
    ),
    # Extra `submitit`: each job in its own process on this host, all started at once; a dry run
    # of a SLURM sweep's jobs, not a timing set-up.
    "submitit_local": (
        "hydra_plugins.hydra_submitit_launcher.config",
        lambda plugin: plugin.LocalQueueConf(timeout_min=720),
    ),
    # Extra `submitit`: each job a SLURM job array task. Set the partition and account of your
    # cluster, e.g. hydra.launcher.partition=cpu; cpus_per_task is engine.threads's default
    # (raise both together).
    "submitit_slurm": (
        "hydra_plugins.hydra_submitit_launcher.config",
        lambda plugin: plugin.SlurmQueueConf(timeout_min=720, cpus_per_task=2, array_parallelism=8),
    ),
}


def register() -> None:
    """Store each installed launcher's config with vssbench's values over the plugin's own.
    Hydra's plugin scan executes the plugins' modules again, storing their nodes anew: the scan
    is made first (once per process, ~0.1 s), so it is the plugins' nodes that are replaced."""
    # Under `uv run`, Ray starts its workers with `uv run` again in a copy of the current dir:
    # from any dir but the project's that finds no project, so the workers die at start and a
    # sweep hangs (or Ray refuses with --project). A local instance's workers must run the
    # driver's own Python, as they do without the hook; a user may still turn it on.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    Plugins.instance()
    for name, (module, configure) in LAUNCHERS.items():
        try:
            plugin = importlib.import_module(module)
        except ImportError:
            continue
        ConfigStore.instance().store(
            group="hydra/launcher", name=name, node=configure(plugin), provider="vssbench"
        )
