"""Shared fixtures: configs composed as the CLI composes them, pointed at temp dirs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from vssbench.track import store

CONF = Path(__file__).resolve().parents[1] / "conf"


def export_dataset(tmp_path_factory, *args: str) -> Path:
    """The tiny corpus written out by scripts/export_dataset.py as a user runs it; its out dir."""
    out = tmp_path_factory.mktemp("exported")
    cache = tmp_path_factory.mktemp("export-cache")
    subprocess.run(
        [
            sys.executable,
            "scripts/export_dataset.py",
            str(out),
            "scale=tiny",
            f"cache_dir={cache}",
            *args,
        ],
        cwd=CONF.parent,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One data cache for the session: tiny corpora are generated once, as in a real sweep."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _no_outside_tracking(monkeypatch):
    """Runs go to each test's temp store, whatever store the developer's shell points at.

    mlflow.set_tracking_uri() also exports MLFLOW_TRACKING_URI, so earlier tests leave it behind;
    mlflow.set_experiment() keeps its experiment in a module global (and MLFLOW_EXPERIMENT_ID),
    which makes a later run's start_run(run_id=...) in another store fail.
    """
    monkeypatch.setattr("vssbench.track.store.USER_TRACKING_URI", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)


# Overrides every test run starts from (a make_cfg test's own come after and win; the CLI
# appends them, as Hydra takes no override after -m's): one ef point unless a
# test asks for a curve, as the default curve's four would be most of the suite's query time
# (tests/test_trials.py runs one); a disturbed pass timed again once, soon, as tests run on busy
# machines and a launcher's concurrent jobs disturb each other.
QUICK = (
    "hnsw.ef_curve=[]",
    "bench.retries=1",
    "bench.retry_pause_s=0.2",
    "bench.trials=2",
    "bench.max_trials=2",
)


@pytest.fixture(scope="session")
def store_template(tmp_path_factory) -> Path:
    """An empty MLflow store made once by vssbench's own code: MLflow's migrations take ~2.6 s
    for every new store, and most tests' runs start one."""
    db = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    store._create_sqlite_store(db)
    return db


@pytest.fixture
def make_cfg(tmp_path, cache_dir, store_template):
    """Configs as the CLI composes them, their runs going to a store in tmp_path/mlruns (a copy
    of the empty template: tests of creating a store make their own)."""
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    shutil.copyfile(store_template, tmp_path / "mlruns" / "mlflow.db")

    def make(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(
                "config",
                overrides=[
                    "scale=tiny",
                    f"cache_dir={cache_dir}",
                    f"tracking.dir={tmp_path / 'mlruns'}",
                    *QUICK,
                    *overrides,
                ],
            )

    return make


@pytest.fixture
def cli(tmp_path, cache_dir):
    """Run `python -m vssbench ...` in tmp_path, as a user would; returns the CompletedProcess."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        return subprocess.run(
            [sys.executable, "-m", "vssbench", *args, *QUICK, f"cache_dir={cache_dir}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    return run


@pytest.fixture(scope="session")
def metadata():
    """Document metadata for engine-level tests: n rows, categories cycled."""

    def make(n: int, categories: tuple[str, ...] = ("가",)) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": np.arange(n, dtype=np.int32),
                "category": np.resize(np.array(categories), n),
                "region": "서울",
                "attribute": (np.arange(n) + 0.5) / n,
                "published": pd.Timestamp("2024-01-01"),
                "price": np.arange(n),
            }
        )

    return make


def run_main(capsys, main, *args: str) -> tuple[int, str, str]:
    """A command's main(argv) in this process: its exit status, stdout and stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code
    out = capsys.readouterr()
    return code, out.out, out.err
