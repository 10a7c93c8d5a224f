"""The sweep configurations: the 48-run grid, an Optuna study that resumes through MLflow, and
a sweep dir whose name holds a backslash."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from conftest import QUICK
from hydra import compose, initialize_config_dir

import vssbench.config.schema  # noqa: F401  (registers vssbench_schema, which config.yaml uses)

CONF = Path(__file__).resolve().parents[1] / "conf"


def _grid(name: str) -> list[tuple[str, ...]]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[f"+grid={name}"], return_hydra_config=True)
    axes = [str(v).split(",") for v in cfg.hydra.sweeper.params.values()]
    return list(itertools.product(*axes))


def test_full_grid_is_48_runs_and_fits_is_its_10k_100k_part():
    full = _grid("full")
    assert len(full) == 48 == len(set(full))
    fits = _grid("fits")
    assert len(fits) == 32 and set(fits) <= set(full)
    assert {combo[0] for combo in fits} == {"10k", "100k"}


@pytest.mark.slow
def test_optuna_study_runs_distinct_configurations_labels_them_and_resumes(tmp_path, cache_dir):
    # 3 configurations, 3 trials: NSGA-II's own draws repeat one; every one must run once.
    def study(label: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "vssbench",
                "-m",
                "hparams_search=hnsw_optuna",
                "scale=tiny",
                "dim=16",
                "hnsw.M=8",
                "hnsw.ef_construction=32",
                "hnsw.ef_search=choice(10,16,32)",
                "hydra.sweeper.n_trials=3",
                "hydra.sweeper.sampler.population_size=2",
                # Never disturbed, so never timed again: what is tested is the study, not QPS.
                "bench.max_other_cpu_share=1",
                *QUICK,
                f"cache_dir={cache_dir}",
                f"hydra.sweep.dir={tmp_path / label}",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        )

    first, again = study("first"), study("again")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "3 finished" in first.stdout and "3 skipped" in again.stdout
    assert "draws for a configuration not run yet" in first.stdout + first.stderr  # refused
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["vssbench"])
    runs = found[found["tags.fingerprint"].notna()].set_index("run_id")
    assert len(runs) == 3 and runs["tags.fingerprint"].nunique() == 3
    results = [
        yaml.safe_load((tmp_path / label / "optimization_results.yaml").read_text())
        for label in ("first", "again")
    ]
    assert results[0]["solutions"] == results[1]["solutions"]
    assert results[0]["trials"] == results[0]["configurations"] == 3
    solutions = results[0]["solutions"]
    assert len({s["run_id"] for s in solutions}) == len(solutions)  # each configuration once
    quiet = runs[runs["tags.timing_disturbed"] == "false"]
    assert sorted(results[0].get("timing_disturbed", [])) == sorted(
        runs.loc[runs["tags.timing_disturbed"] == "true", "tags.mlflow.runName"]
    )
    # The Pareto list is the quiet runs' Pareto set, each run once, its values named.
    assert {s["run_id"] for s in solutions} == _pareto(quiet)
    for solution in solutions:
        run = quiet.loc[solution["run_id"]]
        assert solution["values"] == {
            "recall_at_10": run["metrics.recall_at_10"],
            "qps": run["metrics.qps"],
        }
        assert solution["params"] == {"hnsw.ef_search": int(run["params.hnsw.ef_search"])}


def _pareto(runs) -> set[str]:
    """The runs no other run beats on recall@10 and QPS both."""
    points = runs[["metrics.recall_at_10", "metrics.qps"]]
    return {
        run_id
        for run_id, (recall, qps) in points.iterrows()
        if not any(
            r >= recall and q >= qps and (r, q) != (recall, qps) for r, q in points.to_numpy()
        )
    }


@pytest.mark.slow
def test_a_sweep_dir_with_a_backslash_keeps_its_jobs_under_it_and_under_the_sweeps_run(
    cli, tmp_path
):
    """A real two-job multirun (joblib, two workers) into `back\\slash sweep`: its job dirs,
    statuses and summary there, and its runs the sweep run's children. Before, the jobs were
    sent to `back\\\\slash sweep` (every backslash doubled in the override the jobs are composed
    from, which Hydra keeps as written where no quote follows): the sweep run had no children
    and the summary said `2 not started`."""
    sweep_dir = tmp_path / "back\\slash sweep"
    result = cli(
        "-m", "scale=tiny", "dim=32,48", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep_dir}"
    )
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir() if "slash" in p.name] == [sweep_dir.name]
    for job in ("0", "1"):
        status = json.loads((sweep_dir / job / "vssbench_status.json").read_text())
        assert status["status"] == "finished", status
    assert f"sweep summary ({sweep_dir}): 2 finished" in result.stdout
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=["vssbench"])
    sweeps = found[found["tags.kind"] == "sweep"]
    assert len(sweeps) == 1 and sweeps["metrics.finished"].iat[0] == 2
    jobs = found[found["tags.fingerprint"].notna()]
    assert list(jobs["tags.mlflow.parentRunId"]) == [sweeps["run_id"].iat[0]] * 2
