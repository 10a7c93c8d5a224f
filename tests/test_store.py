"""A new MLflow store: no kill leaves it half-made, and concurrent first starts are safe."""

import os
import signal
import subprocess
import sys
import time

import mlflow
import pytest

from vssbench.track import store

pytestmark = pytest.mark.slow
PREPARE = (
    "import sys; from vssbench.track.store import StoreLocation, prepare; "
    "print(prepare(StoreLocation('vssbench', sys.argv[1], None)))"
)


def _prepare(store_dir) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-c", PREPARE, str(store_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _settings(store_dir) -> store.StoreLocation:
    return store.StoreLocation("vssbench", str(store_dir), None)


@pytest.mark.long
def test_concurrent_first_starts_share_one_store(tmp_path):
    starts = [_prepare(tmp_path / "mlruns") for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], [err for _, err in outputs]
    assert len({out.strip() for out, _ in outputs}) == 1  # one experiment id for all
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert [e.name for e in mlflow.search_experiments()].count("vssbench") == 1


@pytest.mark.parametrize("delay", [0.0, 0.3, 1.0])
def test_a_kill_while_the_store_is_created_leaves_none_half_made(tmp_path, delay):
    """SIGKILL `delay` s after MLflow starts its schema migrations (issue 9 broke the store
    4 times out of 4 this way); the next start must still work."""
    store_dir = tmp_path / "mlruns"
    victim = _prepare(store_dir)
    for line in victim.stderr:
        if "Updating database tables" in line:
            break
    time.sleep(delay)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    experiment_id = store.prepare(_settings(store_dir))
    run = mlflow.MlflowClient().create_run(experiment_id)
    mlflow.MlflowClient().set_terminated(run.info.run_id)
    assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
    assert [p.name for p in store_dir.iterdir() if p.name.endswith(".tmp")] == []
