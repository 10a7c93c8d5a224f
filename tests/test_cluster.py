"""Sweeps beyond one machine, on loopback: a real `mlflow server` as the shared checkpoint, the
Ray and submitit launchers, claims on a fingerprint through the server, and killed workers.

The launchers are optional extras: their tests skip with the extra to install, except in CI
(.ci/run), which installs every extra and sets VSSBENCH_REQUIRE_LAUNCHERS=1."""

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import psutil
import pytest
from conftest import QUICK
from hydra import compose, initialize_config_dir
from mlflow.entities import ViewType

from vssbench.config import identity
from vssbench.track import claim
from vssbench.track.local_server import mlflow_server

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# As the README runs it, through `uv run`, and from another dir than the project's: Ray
# re-runs its workers through the `uv run` it finds among a driver's parents unless vssbench
# turns that off, and from another dir those workers find no project and die.
UV = shutil.which("uv")
PYTHON = [UV, "run", "--project", str(ROOT), "--no-sync", "python"] if UV else [sys.executable]
REQUIRED = os.environ.get("VSSBENCH_REQUIRE_LAUNCHERS") == "1"
# A local Ray instance on 2 CPUs, its dashboard off (vssbench/config/launchers.py), on loopback
# only: Ray's single-machine switch (README, "Running on a cluster").
RAY = ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"]
RAY_ON_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

pytestmark = pytest.mark.slow


def needs(module: str, extra: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not REQUIRED and importlib.util.find_spec(module) is None,
        reason=f"needs the optional extra: uv sync --extra {extra}",
    )


needs_ray = needs("hydra_plugins.hydra_ray_launcher", "ray")
needs_submitit = needs("hydra_plugins.hydra_submitit_launcher", "submitit")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 with a sqlite store, stopped by its PID after."""
    with mlflow_server(tmp_path_factory.mktemp("server")) as uri:
        yield uri


@pytest.fixture
def vss(tmp_path, cache_dir, server):
    """`python -m vssbench ...` against the server, in the background; .result() waits."""

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*PYTHON, "-m", "vssbench", *args, *QUICK, f"cache_dir={cache_dir}"],
            cwd=tmp_path,
            env={**os.environ, **RAY_ON_LOOPBACK, "MLFLOW_TRACKING_URI": server},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    return start


def listening(proc: subprocess.Popen) -> set[str]:
    """The addresses that the process's descendants (a local Ray instance's servers and
    workers) listen on."""
    found = set()
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return found
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            found |= {
                c.laddr.ip for c in child.net_connections("tcp") if c.status == psutil.CONN_LISTEN
            }
    return found


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def runs(server: str, experiment: str) -> list[mlflow.entities.Run]:
    mlflow.set_tracking_uri(server)
    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def benchmark_runs(server: str, experiment: str, status: str) -> list[mlflow.entities.Run]:
    return [
        r
        for r in runs(server, experiment)
        if "fingerprint" in r.data.tags and r.info.status == status
    ]


def kill_when_running(server: str, experiment: str, name_part: str) -> int:
    """SIGKILL the process of the first RUNNING benchmark run whose name has `name_part`."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for run in benchmark_runs(server, experiment, "RUNNING"):
            if name_part in run.info.run_name:
                pid = int(run.data.tags["process.pid"])
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.2)
    raise AssertionError(f"no RUNNING run with {name_part!r} in 300 s")


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param(RAY, id="ray", marks=needs_ray),
        pytest.param(["hydra/launcher=submitit_local"], id="submitit_local", marks=needs_submitit),
    ],
)
def test_a_two_job_sweep_finishes_through_the_launcher_and_a_rerun_skips_both(
    vss, server, launcher
):
    experiment = f"two-jobs-{launcher[0].rsplit('=', 1)[1]}"
    sweep = ["-m", "scale=tiny", "dim=16,24", *launcher, f"tracking.experiment={experiment}"]
    proc = vss(*sweep)
    addresses = set()
    while proc.poll() is None:
        addresses |= listening(proc)
        time.sleep(0.2)
    code, out = finish(proc)
    assert code == 0, out
    assert "2 finished" in out
    if launcher == RAY:  # Ray's GCS, raylet and workers listened, on loopback only
        assert addresses and addresses <= LOOPBACK, addresses

    done = benchmark_runs(server, experiment, "FINISHED")
    assert sorted(r.data.params["dim"] for r in done) == ["16", "24"]
    parents = [r for r in runs(server, experiment) if r.data.tags.get("kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in done} == {parents[0].info.run_id}
    assert parents[0].data.metrics["finished"] == 2

    code, out = finish(vss(*sweep))
    assert code == 0, out
    assert "2 skipped" in out
    assert len(benchmark_runs(server, experiment, "FINISHED")) == 2
    history = mlflow.MlflowClient().get_metric_history(parents[0].info.run_id, "skipped")
    assert [(m.step, m.value) for m in history] == [(1, 0.0), (2, 2.0)]


@pytest.mark.long
def test_two_processes_racing_on_one_fingerprint_give_one_finished_run(vss, server):
    experiment = "race"
    args = ["scale=tiny", "dim=20", "bench.repeats=10", f"tracking.experiment={experiment}"]
    first = vss(*args, "hydra.run.dir=outputs/a")
    second = vss(*args, "hydra.run.dir=outputs/b")
    (code_a, out_a), (code_b, out_b) = finish(first), finish(second)
    assert code_a == 0 and code_b == 0, out_a + out_b
    done = benchmark_runs(server, experiment, "FINISHED")
    assert len(done) == 1
    logs = [out_a, out_b]
    # One ran it; the other waited for its claim (or found it finished) and skipped it.
    assert sum("finished duckdb_vss-tiny-d20" in out for out in logs) == 1
    loser = next(out for out in logs if "skipped duckdb_vss-tiny-d20" in out)
    assert f"finished run {done[0].info.run_id}" in loser
    assert not benchmark_runs(server, experiment, "RUNNING")


def _config_of(*overrides: str):
    """The configuration a `vss(*overrides)` process runs (it appends QUICK)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*overrides, *QUICK])


def _foreign_claim(server: str, experiment: str, fp: str, heartbeat_age_s: float) -> str:
    """A RUNNING run on fingerprint `fp` as another host's process would leave it."""
    mlflow.set_tracking_uri(server)
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    tags = {
        "fingerprint": fp,
        "process.host": "another-host",
        "process.pid": "1",
        "process.started": "0.000",
        claim.HEARTBEAT_TAG: f"{time.time() - heartbeat_age_s:.0f}",
    }
    return client.create_run(experiment_id, run_name="elsewhere", tags=tags).info.run_id


@pytest.mark.long
def test_a_live_claim_from_another_host_is_waited_for_and_a_stale_one_taken_over(vss, server):
    experiment = "foreign"
    args = ["scale=tiny", "dim=28", f"tracking.experiment={experiment}"]
    fp = identity.fingerprint(_config_of(*args))

    live = _foreign_claim(server, experiment, fp, heartbeat_age_s=0)
    waiting = vss(*args, "hydra.run.dir=outputs/live")
    client = mlflow.MlflowClient()
    deadline = time.monotonic() + 120
    while not any(
        r.info.lifecycle_stage == "deleted"
        # The waiting process withdraws (deletes) its own claim.
        for r in client.search_runs(
            [client.get_run(live).info.experiment_id], run_view_type=ViewType.ALL
        )
    ):
        assert waiting.poll() is None, waiting.communicate()[0]
        assert time.monotonic() < deadline, "the second process never yielded to the live claim"
        time.sleep(0.2)
    time.sleep(3)
    assert waiting.poll() is None  # still waiting for the live claim
    client.set_terminated(live, status="FAILED")  # the other host's run ends without a result
    code, out = finish(waiting)
    assert code == 0, out
    assert f"waiting for run {live}" in out and "finished duckdb_vss-tiny-d28" in out
    assert len(benchmark_runs(server, experiment, "FINISHED")) == 1

    other = ["scale=tiny", "dim=28", "tracking.experiment=foreign-stale"]
    stale = _foreign_claim(server, "foreign-stale", identity.fingerprint(_config_of(*other)), 600)
    code, out = finish(vss(*other))
    assert code == 0, out
    assert client.get_run(stale).info.status == "KILLED"
    assert "host another-host) KILLED" in out
    assert len(benchmark_runs(server, "foreign-stale", "FINISHED")) == 1


@needs_submitit
@pytest.mark.long
def test_a_killed_workers_job_is_reported_failed_and_redone_on_rerun(vss, server):
    experiment = "killed-submitit"
    sweep = [
        "-m",
        "scale=tiny,10k",
        "dim=16",
        "hydra/launcher=submitit_local",
        f"tracking.experiment={experiment}",
    ]
    proc = vss(*sweep)
    pid = kill_when_running(server, experiment, "-10k-")
    code, out = finish(proc)
    assert code != 0
    assert "after the launcher stopped: 1 failed, 1 finished" in out
    assert f"pid {pid}) died" in out

    code, out = finish(vss(*sweep))
    assert code == 0, out
    assert "1 finished, 1 skipped" in out
    assert "#0 skipped" in out and "#1 finished" in out
    killed = benchmark_runs(server, experiment, "KILLED")
    assert [int(r.data.tags["process.pid"]) for r in killed] == [pid]
    assert len(benchmark_runs(server, experiment, "FINISHED")) == 2


@needs_ray
@pytest.mark.long
def test_ray_runs_a_killed_workers_job_again_in_the_same_sweep(vss, server):
    """vssbench/config/launchers.py keeps Ray's own retry (max_retries 1): the task runs again
    in a new worker, which marks the dead run KILLED and finishes the job."""
    experiment = "killed-ray"
    proc = vss("-m", "scale=tiny,10k", "dim=24", *RAY, f"tracking.experiment={experiment}")
    pid = kill_when_running(server, experiment, "-10k-")
    code, out = finish(proc)
    assert code == 0, out
    assert "2 finished" in out and "retries remaining" in out
    killed = benchmark_runs(server, experiment, "KILLED")
    assert [int(r.data.tags["process.pid"]) for r in killed] == [pid]
    finished = benchmark_runs(server, experiment, "FINISHED")
    assert sorted(r.data.params["scale.name"] for r in finished) == ["10k", "tiny"]
