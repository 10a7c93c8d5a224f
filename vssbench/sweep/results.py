"""optimization_results.yaml as a reader wants it: each value under its metric's name, each
solution once with its MLflow run, and the trials the study could not use. Written over the
Optuna sweeper's own file (bare lists of values) when the sweep ends."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vssbench.sweep.objective import HpoSettings, labelled

RESULTS_FILE = "optimization_results.yaml"  # where hydra-optuna-sweeper writes them


@dataclass(frozen=True)
class Job:
    """One trial's job: its overrides and its status file (sweep/state.py)."""

    overrides: list[str]
    status: dict[str, Any]


def rewrite(path: Path, jobs: list[Job], k: int, hpo: HpoSettings) -> None:
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(relabelled(raw, jobs, k, hpo), sort_keys=False))


def relabelled(raw: dict, jobs: list[Job], k: int, hpo: HpoSettings) -> dict:
    """The sweeper's results (`solutions` of a multi-objective study, else `best_params` and
    `best_value`) with named values; `trials` counts the jobs, `configurations` their runs."""
    runs = {job.status["run_id"] for job in jobs if job.status.get("run_id")}
    out: dict[str, Any] = {
        "name": raw["name"],
        "objective": hpo.objective,
        "trials": len(jobs),
        "configurations": len(runs),
    }
    if "solutions" in raw:
        found = [_solution(s["params"], s["values"], jobs, k, hpo) for s in raw["solutions"]]
        out["solutions"] = _once(found)
    else:
        out["best"] = _solution(raw["best_params"], [raw["best_value"]], jobs, k, hpo)
    disturbed = [job.status["run"] for job in jobs if job.status.get("timing_disturbed")]
    if disturbed:  # their QPS is in no value above; force=true on a quiet machine re-measures
        out["timing_disturbed"] = disturbed
    return out


def _solution(params: dict, values: list[float], jobs: list[Job], k: int, hpo: HpoSettings) -> dict:
    wanted = {f"{name}={value}" for name, value in params.items()}  # as the sweeper wrote them
    run_id = next((job.status.get("run_id") for job in jobs if wanted <= set(job.overrides)), None)
    return {"params": params, "values": labelled(values, k, hpo), "run_id": run_id}


def _once(solutions: list[dict]) -> list[dict]:
    """One entry per configuration (its MLflow run, else its params), the first kept."""
    seen, out = set(), []
    for solution in solutions:
        key = solution["run_id"] or tuple(sorted(solution["params"].items()))
        if key not in seen:
            seen.add(key)
            out.append(solution)
    return out
