"""A side of a comparison as the user named it: an experiment, a sweep (its parent run, by run
id or name), a single run id, or an MLflow filter string; read into its finished benchmark runs."""

import re
from dataclasses import dataclass, field

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from vssbench.compare.pairing import StoredRun
from vssbench.config import identity

# Keys that say where results go and whether to run, not what is run: never paired on.
_SCHEMA = identity.schema_defaults()
RUN_CONTROL = tuple(
    f"{key}.*" if isinstance(_SCHEMA.get(key), dict) else key for key in identity.NOT_IN_FINGERPRINT
)

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
# An MLflow filter names what it filters on by an entity's prefix, e.g. params.dim = '16'.
_FILTER = re.compile(r"\b(params|metrics|tags|attributes|attribute|attr|run|datasets?)\.\S")


class SideError(ValueError):
    """A side that names nothing, or nothing to compare; the message says why."""


@dataclass(frozen=True)
class Side:
    spec: str  # as the user typed it
    description: str  # e.g. "experiment 'base'"
    experiment_id: str  # where a comparison about this side is logged
    runs: list[StoredRun]
    notes: list[str] = field(default_factory=list)


def _flat(node: object, prefix: str = "") -> dict[str, str]:
    if not isinstance(node, dict):
        return {prefix: str(node)}
    out: dict[str, str] = {}
    for key, value in node.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else key))
    return out


def _configuration_defaults() -> dict[str, str]:
    """Every configuration key with its default as a run's params write it, run control left
    out: a key a run has no param for (added after it ran) counts as its default, as in the
    fingerprint (config/identity.canonical)."""
    control = tuple(identity.NOT_IN_FINGERPRINT)
    return {key: value for key, value in _flat(_SCHEMA).items() if key.split(".")[0] not in control}


DEFAULTS = _configuration_defaults()


def _stored(run: Run) -> StoredRun:
    params = run.data.params
    return StoredRun(
        run_id=run.info.run_id,
        name=run.info.run_name or run.info.run_id,
        experiment_id=run.info.experiment_id,
        config={key: params.get(key, default) for key, default in DEFAULTS.items()},
        tags=dict(run.data.tags),
        params=dict(params),
    )


def _benchmark_runs(experiment_ids: list[str], condition: str = "") -> tuple[list, int]:
    """The finished benchmark runs (they carry a fingerprint; sweep, report and compare runs do
    not), the latest of each configuration; also how many older ones were left out."""
    where = "attributes.status = 'FINISHED'" + (f" and {condition}" if condition else "")
    found = mlflow.search_runs(
        experiment_ids=experiment_ids,
        filter_string=where,
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    latest: dict[tuple, StoredRun] = {}
    older = 0
    for run in found:
        if "fingerprint" not in run.data.tags:
            continue
        stored = _stored(run)
        key = tuple(sorted(stored.config.items()))
        if key in latest:
            older += 1
        else:
            latest[key] = stored
    return list(latest.values()), older


def _side(spec: str, description: str, experiment_id: str, runs: list, older: int) -> Side:
    if not runs:
        raise SideError(f"{description} has no finished benchmark runs")
    runs_word = "run" if older == 1 else "runs"
    notes = [
        f"{older} older {runs_word} of its configurations left out (the latest of each is used)"
    ]
    return Side(spec, description, experiment_id, runs, notes if older else [])


def resolve(spec: str) -> Side:
    """The side named by `spec`: an experiment's name first, then a run id (a sweep's parent
    or one benchmark run), a sweep's run name, and last an MLflow filter over all experiments."""
    experiment = mlflow.get_experiment_by_name(spec)
    if experiment is not None and experiment.lifecycle_stage == "active":
        runs, older = _benchmark_runs([experiment.experiment_id])
        return _side(spec, f"experiment {spec!r}", experiment.experiment_id, runs, older)
    run = _run_by_id(spec) if _RUN_ID.match(spec) else _sweep_by_name(spec)
    if run is not None:
        return _run_side(spec, run)
    if _FILTER.search(spec):
        return _filter_side(spec)
    names = ", ".join(repr(e.name) for e in mlflow.search_experiments(max_results=20)) or "none"
    raise SideError(
        f"{spec!r} is no experiment, sweep, run id or MLflow filter in {mlflow.get_tracking_uri()}"
        f" (experiments: {names})"
    )


def _run_by_id(run_id: str) -> Run | None:
    try:
        return mlflow.MlflowClient().get_run(run_id)
    except MlflowException:
        return None


def _sweep_by_name(name: str) -> Run | None:
    if "'" in name:  # MLflow's filter strings cannot quote it
        return None
    ids = [e.experiment_id for e in mlflow.search_experiments()]
    found = mlflow.search_runs(
        experiment_ids=ids,
        filter_string=f"tags.kind = 'sweep' and attributes.run_name = '{name}'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    if len({run.info.experiment_id for run in found}) > 1:
        where = ", ".join(f"{r.info.run_id} (experiment {r.info.experiment_id})" for r in found)
        raise SideError(
            f"sweeps named {name!r} are in several experiments: name one by run id: {where}"
        )
    return found[0] if found else None


def _run_side(spec: str, run: Run) -> Side:
    """A sweep's parent run stands for its child runs; a benchmark run for itself."""
    tags, experiment_id = run.data.tags, run.info.experiment_id
    if tags.get("kind") == "sweep":
        runs, older = _benchmark_runs(
            [experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
        )
        described = f"sweep {run.info.run_name!r} (run {run.info.run_id})"
        side = _side(spec, described, experiment_id, runs, older)
        jobs = int(tags.get("sweep_jobs", len(runs)))
        if len(runs) + older < jobs:
            # A job skipped because its configuration had finished already belongs to that run.
            side.notes.append(
                f"{len(runs) + older} of the sweep's {jobs} jobs are its runs (a skipped job's "
                "run belongs to the run that finished it first)"
            )
        return side
    if "fingerprint" not in tags or run.info.status != "FINISHED":
        raise SideError(f"run {spec} is neither a sweep nor a finished benchmark run")
    return Side(spec, f"run {run.info.run_name!r}", experiment_id, [_stored(run)])


def _filter_side(spec: str) -> Side:
    experiments = mlflow.search_experiments()
    try:
        runs, older = _benchmark_runs([e.experiment_id for e in experiments], spec)
    except MlflowException as error:
        first = str(error).strip().splitlines()[0]
        raise SideError(f"bad MLflow filter {spec!r}: {first}") from None
    # A comparison about a filter is logged where its latest run is.
    experiment_id = runs[0].experiment_id if runs else experiments[0].experiment_id
    return _side(spec, f"filter {spec!r}", experiment_id, runs, older)
