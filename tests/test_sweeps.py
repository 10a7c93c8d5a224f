"""The sweep configurations: the 48-run grid, and an Optuna study that resumes through MLflow."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

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
def test_resumed_optuna_study_skips_its_trials_and_keeps_the_pareto_set(tmp_path, cache_dir):
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
                "hydra.sweeper.n_trials=4",
                "hydra.sweeper.sampler.population_size=2",
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
    assert "4 finished" in first.stdout and "4 skipped" in again.stdout
    results = [
        yaml.safe_load((tmp_path / label / "optimization_results.yaml").read_text())
        for label in ("first", "again")
    ]
    assert results[0]["solutions"] == results[1]["solutions"]
    assert all(len(s["values"]) == 2 for s in results[0]["solutions"])  # recall and QPS
