"""The commands of the README, run as a user runs them."""

import mlflow
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hnsw.M=1", "hnsw.M=1: must be between 2 and 512"),
        ("dim=0", "dim=0: must be between 2 and 4096"),
        ("k=5000", "k=5000: must be between 1 and scale.n_docs (2000)"),
        ("hnsw.metric=foo", "Invalid value 'foo', expected one of [l2sq, cosine, ip]"),
    ],
)
def test_bad_override_stops_before_any_work(cli, tmp_path, override, message):
    result = cli("scale=tiny", override)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()


def test_joblib_multirun_gives_two_finished_runs(cli, tmp_path):
    result = cli(
        "-m",
        "scale=tiny",
        "dim=32,48",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
    )
    assert result.returncode == 0, result.stderr
    assert "Joblib.Parallel(n_jobs=2" in result.stderr + result.stdout
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    assert sorted(runs["tags.mlflow.runName"]) == [
        "tiny-d32-vector-none-cosine-M16-efc128-ef64",
        "tiny-d48-vector-none-cosine-M16-efc128-ef64",
    ]
    assert set(runs["status"]) == {"FINISHED"}
    assert (tmp_path / "multirun" / "0").is_dir() and (tmp_path / "multirun" / "1").is_dir()
