"""The commands of the README, run as a user runs them."""

import json
import os
import platform
import signal
import subprocess
import sys
import time

import mlflow
import pytest
from conftest import QUICK
from filelock import FileLock

from vssbench.track import store

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("hnsw.M=1", "hnsw.M=1: must be between 2 and 512"),
        ("dim=0", "dim=0: must be between 2 and 4096"),
        ("k=5000", "k=5000: must be between 1 and scale.n_docs (2000)"),
        ("hnsw.metric=foo", "Invalid value 'foo', expected one of [l2sq, cosine, ip]"),
        (
            "tracking.stale_s=30",
            "tracking.stale_s=30.0: must be at least 4 heartbeats (60): a live run must not pass",
        ),
    ],
)
def test_bad_override_stops_before_any_work(cli, tmp_path, override, message):
    result = cli("scale=tiny", override)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()


# CI's time: the fast suite's two-job sweep (tests/test_entry_points.py), the chaos sweep's
# resume and the launchers' reruns cover it there.
@pytest.mark.long
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
    found = mlflow.search_runs(experiment_names=["vssbench"])
    runs = found[found["tags.fingerprint"].notna()]
    assert sorted(runs["tags.mlflow.runName"]) == [
        "duckdb_vss-tiny-d32-vector-none-cosine-M16-efc128-ef64",
        "duckdb_vss-tiny-d48-vector-none-cosine-M16-efc128-ef64",
    ]
    assert set(runs["status"]) == {"FINISHED"}
    assert (tmp_path / "multirun" / "0").is_dir() and (tmp_path / "multirun" / "1").is_dir()
    # One line per job as it ends, counting up to the planned total.
    assert "[1/2] duckdb_vss-tiny-d" in result.stdout and "[2/2] duckdb_vss-tiny-d" in result.stdout
    assert "finished in" in result.stdout and "(skipped 0, failed 0)" in result.stdout

    # The sweep is one parent run; its jobs' runs are its children.
    sweeps = mlflow.search_runs(experiment_names=["vssbench"], filter_string="tags.kind = 'sweep'")
    assert len(sweeps) == 1 and sweeps["status"].iat[0] == "FINISHED"
    parent = sweeps["run_id"].iat[0]
    assert sweeps["metrics.finished"].iat[0] == 2 and sweeps["tags.sweep_jobs"].iat[0] == "2"
    assert list(runs["tags.mlflow.parentRunId"]) == [parent, parent]

    # The same sweep again (overrides in another order, another sweep dir) reuses the parent.
    again = cli(
        "-m",
        "dim=32,48",
        "scale=tiny",
        f"hydra.sweep.dir={tmp_path / 'multirun-again'}",
    )
    assert again.returncode == 0, again.stderr
    assert "[2/2]" in again.stdout and "(skipped 2, failed 0)" in again.stdout
    sweeps = mlflow.search_runs(experiment_names=["vssbench"], filter_string="tags.kind = 'sweep'")
    assert list(sweeps["run_id"]) == [parent] and sweeps["tags.sweep_attempts"].iat[0] == "2"
    history = mlflow.MlflowClient().get_metric_history(parent, "skipped")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.0), (2, 2.0)]


# tests/test_chaos.py kills and resumes a sweep in CI; this is the same class of fault, timed.
@pytest.mark.long
def test_killed_sweep_resumes_only_the_unfinished_runs(tmp_path, cache_dir):
    """kill -9 of the whole sweep while its second run is under way, then the same command again."""
    args = [
        sys.executable,
        "-m",
        "vssbench",
        "-m",
        "scale=tiny",
        "scale.n_queries=2000",
        "dim=16,24,32",
        f"cache_dir={cache_dir}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        *QUICK,
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # The store exists before the sweep starts, so this test's polling cannot race the
    # sweep's creation of a new sqlite schema (which corrupts it).
    store.prepare(store.StoreLocation("vssbench", str(tmp_path / "mlruns"), None))

    def runs():
        found = mlflow.search_runs(experiment_names=["vssbench"])
        return found[found["tags.fingerprint"].notna()] if "tags.fingerprint" in found else None

    sweep = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scratch = cache_dir / "scratch" / platform.node()  # this host's runs' scratch dirs
    deadline = time.monotonic() + 300
    while True:
        found = runs()
        if (
            found is not None
            and (
                (found["tags.mlflow.runName"].str.startswith("duckdb_vss-tiny-d24"))
                & (found["status"] == "RUNNING")
            ).any()
            and scratch.exists()
            and any(scratch.iterdir())
        ):
            break
        assert sweep.poll() is None, "the sweep ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    left = list(scratch.iterdir())
    assert len(left) == 1  # the killed run's scratch dir, named by its pid
    before = runs()
    first = before.loc[before["status"] == "FINISHED", "run_id"].tolist()
    assert len(first) == 1

    again = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert not list(scratch.iterdir())  # the dead run's, and each run's own
    assert "2 finished, 1 skipped" in again.stdout
    after = runs()
    statuses = (
        after.groupby(after["tags.mlflow.runName"].str[:19])["status"].apply(sorted).to_dict()
    )
    assert statuses == {
        "duckdb_vss-tiny-d16": ["FINISHED"],
        "duckdb_vss-tiny-d24": ["FINISHED", "KILLED"],
        "duckdb_vss-tiny-d32": ["FINISHED"],
    }
    assert first[0] in set(after.loc[after["status"] == "FINISHED", "run_id"])  # skipped, kept
    # The killed sweep's parent run was taken up again and finished; its children hang under it.
    sweeps = mlflow.search_runs(experiment_names=["vssbench"], filter_string="tags.kind = 'sweep'")
    assert list(sweeps["status"]) == ["FINISHED"]
    assert set(after["tags.mlflow.parentRunId"]) == {sweeps["run_id"].iat[0]}


def test_memory_guard_refuses_with_the_numbers(cli, tmp_path):
    result = cli(
        "scale=tiny", "dim=4096", "scale.n_docs=1000000", "scale.n_queries=10", "queries.warmup=5"
    )
    assert result.returncode != 0
    assert "vssbench: not enough memory: this run needs about" in result.stderr
    assert "force_memory=true" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_job_stops_the_sweep_before_any_work(cli, tmp_path):
    result = cli("-m", "scale=tiny", "hnsw.M=16,1", f"hydra.sweep.dir={tmp_path / 'multirun'}")
    assert result.returncode != 0
    assert "vssbench: bad configuration in 1 of 2 jobs:" in result.stderr
    assert "hnsw.M=1 " in result.stderr and "hnsw.M=1: must be between 2 and 512" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()  # the valid job did not run first


@pytest.mark.long
def test_a_failed_job_is_reported_and_the_sweep_goes_on(cli, tmp_path):
    sweep_dir = tmp_path / "multirun"
    result = cli(
        "-m",
        "scale=tiny",
        "search=hybrid",
        "search.tokenizer=bigram",
        "search.min_bm25_hit_rate=1.0,0.3",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 1
    assert "sweep summary" in result.stdout and "1 failed, 1 finished" in result.stdout
    assert "failed in" in result.stdout and "(skipped 0, failed 1)" in result.stdout
    assert "vssbench: 1 of 2 jobs failed" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    status = json.loads((sweep_dir / "0" / "vssbench_status.json").read_text())
    assert status["error"].startswith("BM25CheckError") and "Traceback" in status["traceback"]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    by_kind = runs.groupby(runs["tags.kind"].fillna("run"))["status"].apply(sorted).to_dict()
    assert by_kind == {"run": ["FAILED", "FINISHED"], "sweep": ["FAILED"]}


@pytest.mark.parametrize(
    ("mode", "setting"),
    [
        ((), "cache_dir={bad}"),
        (("-m",), "cache_dir={bad}"),
        ((), "tracking.dir={bad}"),
        (("-m",), "tracking.uri=sqlite:///{bad}/mlflow.db"),
        ((), "hydra.run.dir={bad}"),
        (("-m",), "hydra.sweep.dir={bad}"),
    ],
)
def test_an_unwritable_dir_stops_before_any_work_naming_the_setting(tmp_path, mode, setting):
    # Under a plain file nothing can be created, whoever runs the test (root ignores modes).
    (tmp_path / "a_file").write_text("")
    setting = setting.format(bad=tmp_path / "a_file" / "dir")
    result = subprocess.run(
        [sys.executable, "-m", "vssbench", *mode, "scale=tiny", setting],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"vssbench: bad configuration: {setting}: cannot write to "), last
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("**/mlflow.db")) and not list(tmp_path.glob("**/*.duckdb"))


@pytest.mark.long
def test_two_sweeps_started_together_keep_their_own_dirs_and_summaries(tmp_path, cache_dir):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [
        sys.executable,
        "-m",
        "vssbench",
        "-m",
        "scale=tiny",
        "dim=24",
        f"cache_dir={cache_dir}",
        *QUICK,
    ]
    sweeps = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [sweep.communicate(timeout=300)[0] for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0]
    dirs = list((tmp_path / "multirun").glob("*/*"))
    assert len(dirs) == 2, dirs
    summaries = sorted(
        line.split(": ", 1)[1]
        for out in outputs
        for line in out.splitlines()
        if "sweep summary" in line
    )
    # One ran the configuration, the other found it finished: neither counted the other's job.
    assert summaries == ["1 finished", "1 skipped"]


def test_a_sweep_dir_in_use_by_another_sweep_is_refused(cli, tmp_path):
    sweep_dir = tmp_path / "multirun"
    sweep_dir.mkdir()
    with FileLock(str(sweep_dir / ".vssbench_sweep.lock")):  # as a running sweep holds it
        result = cli("-m", "scale=tiny", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 1
    assert f"vssbench: hydra.sweep.dir={sweep_dir} is in use by another sweep" in result.stderr
    assert not list(tmp_path.glob("**/mlflow.db"))
    assert [p.name for p in sweep_dir.iterdir()] == [".vssbench_sweep.lock"]


@pytest.mark.long
def test_a_reused_sweep_dir_counts_only_this_sweeps_jobs(cli, tmp_path):
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'multirun'}"
    assert cli("-m", "scale=tiny", "dim=24,32", sweep_dir).returncode == 0
    result = cli("-m", "scale=tiny", "dim=24", sweep_dir)
    assert result.returncode == 0
    assert "sweep summary" in result.stdout
    summary = next(line for line in result.stdout.splitlines() if "sweep summary" in line)
    assert summary.endswith(": 1 skipped"), summary  # job dir 1 is the earlier sweep's
