"""Faults a user meets, against real parts: a real `mlflow server` on 127.0.0.1 killed mid-run
and started again, real signals, a real full file system (tmpfs, where this process may mount
one), real damaged stores and bad settings. Each must end in one line and lose nothing.

A full disk in a child process is real too: a tmpfs the test fills the moment the child starts
(where this process may mount one), or /dev/full, which fails every write with ENOSPC (no root
needed; DuckDB opens it as an empty database file and fails writing its header)."""

import contextlib
import errno
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import QUICK

from vssbench import faults
from vssbench.engines.duckdb import index_file
from vssbench.engines.params import QuerySettings
from vssbench.engines.registry import DuckDBVssOptions
from vssbench.track.journal import JOURNAL_DIR, RESULTS_FILE, Destination, Journal
from vssbench.track.local_server import mlflow_server
from vssbench.track.store import TrackingError
from vssbench.workload import crash, restart
from vssbench.workload.crash import CrashJob
from vssbench.workload.restart_child import RestartJob

ROOT = Path(__file__).resolve().parents[1]


def _vss(args: list[str], cwd: Path, cache: Path, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-m", "vssbench", *args, "scale=tiny", *QUICK, f"cache_dir={cache}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def _until(proc: subprocess.Popen, fragment: str, seen: list[str]) -> None:
    """Read the process's output until a line holds `fragment`."""
    for line in proc.stdout:
        seen.append(line)
        if fragment in line:
            return
    raise AssertionError(f"{fragment!r} never printed:\n{''.join(seen)}")


def _finish(proc: subprocess.Popen, seen: list[str]) -> str:
    seen.append(proc.stdout.read())
    proc.wait(timeout=300)
    return "".join(seen)


def _kill_server(uri: str) -> None:
    """SIGKILL the server's process group, as a host that dies would stop it."""
    port = int(uri.rsplit(":", 1)[1])
    pid = next(c.pid for c in psutil.net_connections("tcp") if c.laddr.port == port and c.pid)
    os.killpg(os.getpgid(pid), signal.SIGKILL)


def _runs(uri: str) -> list[mlflow.entities.Run]:
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("vssbench")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    return [run for run in runs if "fingerprint" in run.data.tags]


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_sweep_whose_server_dies_stops_keeps_its_results_and_sends_them_when_rerun(
    tmp_path, cache_dir
):
    """The server dies once job 0 has claimed its run: job 0 measures to the end and keeps its
    results, job 1 does not start, the sweep ends in one line; the same sweep run again once the
    server is back sends job 0's saved results without measuring it and measures job 1."""
    root = tmp_path / "server"
    root.mkdir()
    # One retry: how long the default schedule takes is the closed-port test's business.
    sweep = ["-m", "dim=16,24", "tracking.system_metrics_interval_s=0", "tracking.retries=1"]
    with mlflow_server(root) as uri:
        port = int(uri.rsplit(":", 1)[1])
        args = [*sweep, f"tracking.uri={uri}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        proc, seen = _vss(args, tmp_path, cache_dir), []
        _until(proc, "corpus:", seen)
        _kill_server(uri)
        started = time.monotonic()
        output = _finish(proc, seen)
        ended_s = time.monotonic() - started
    assert proc.returncode == 1, output
    assert "Traceback" not in output and "Retrying" not in output, output
    last = _last_line(output)
    assert last.startswith("vssbench: the sweep stopped: tracking store failed: results not sent")
    assert "uv run python -m vssbench.sync" in last
    assert "#0 unsent" in output and "#1 not started" in output, output
    assert ended_s < 120  # bounded retries, not MLflow's 4 minutes per call
    journal = tmp_path / "sweep" / "0" / JOURNAL_DIR
    saved = json.loads((journal / RESULTS_FILE).read_text())
    assert not saved["sent"] and len(saved["metrics"]) > 50

    with mlflow_server(root, port=port) as uri:
        again = _vss(args, tmp_path, cache_dir)
        output = _finish(again, [])
        assert again.returncode == 0, output
        assert "synced duckdb_vss-tiny-d16" in output
        assert "1 finished, 1 synced" in output  # job 0 is sent, not measured again
        runs = {r.data.tags["fingerprint"]: r for r in _runs(uri)}
        assert [r.info.status for r in runs.values()] == ["FINISHED"] * 2
        (synced,) = [r for r in runs.values() if r.info.run_name.startswith("duckdb_vss-tiny-d16")]
        assert set(synced.data.metrics) == {m[0] for m in saved["metrics"]}
        artifacts = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(synced.info.run_id)}
        assert {"config.yaml", "per_query.parquet", "plots"} <= artifacts
    assert json.loads((journal / RESULTS_FILE).read_text())["sent"]


def test_sync_sends_a_saved_journal_once_and_ends_its_run_finished(tmp_path):
    """`python -m vssbench.sync DIR` on a journal saved while the store was away: its run gets
    every param, metric step and artifact and is FINISHED; a second sync has nothing to send."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment("vssbench")
    run_id = client.create_run(experiment, run_name="r").info.run_id
    to = Destination(uri, experiment, run_id, "r", "fp")
    saved = Journal(tmp_path / "sweep" / "0" / JOURNAL_DIR, to, tmp_path / "unsent")
    saved.log_params({"dim": 16})
    saved.log_steps({"ef_curve.qps": [(16, 900.0), (64, 500.0)]})
    saved.log_table(pd.DataFrame({"q": [1, 2]}), "per_query.parquet")
    marker = saved.mark_unsent()

    def sync() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "vssbench.sync", str(tmp_path / "sweep")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert f"[1/1] sent r to run {run_id}" in sync()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params == {"dim": "16"}
    history = client.get_metric_history(run_id, "ef_curve.qps")
    assert sorted((m.step, m.value) for m in history) == [(16, 900.0), (64, 500.0)]
    assert [a.path for a in client.list_artifacts(run_id)] == ["per_query.parquet"]
    assert not marker.exists()
    assert sync().startswith("nothing to send")


# The single run's path of the sweep test above (CI runs that one).
@pytest.mark.long
def test_a_run_whose_server_dies_is_synced_by_the_same_command_once_it_is_back(tmp_path, cache_dir):
    """Rerun after the store is back: the saved results are sent, nothing is measured again,
    one FINISHED run and none RUNNING."""
    root = tmp_path / "server"
    root.mkdir()
    with mlflow_server(root) as uri:
        port = int(uri.rsplit(":", 1)[1])
        args = ["dim=16", f"tracking.uri={uri}", f"hydra.run.dir={tmp_path / 'out'}"]
        proc, seen = _vss(args, tmp_path, cache_dir), []
        _until(proc, "corpus:", seen)
        _kill_server(uri)
        output = _finish(proc, seen)
    assert proc.returncode == 1 and "Traceback" not in output, output
    assert _last_line(output).startswith("vssbench: tracking store failed: results not sent")
    with mlflow_server(root, port=port) as uri:
        again = _vss(args, tmp_path, cache_dir)
        output = _finish(again, [])
        assert again.returncode == 0, output
        assert "synced duckdb_vss-tiny-d16" in output and "timing " not in output
        (run,) = _runs(uri)
        assert run.info.status == "FINISHED"
        assert "recall_at_10" in run.data.metrics


@pytest.mark.slow
def test_a_store_that_cannot_be_reached_fails_in_one_line_within_seconds(tmp_path, cli):
    """A closed port: MLflow's defaults retried for 4 min 19 s; the bounded retries take
    seconds, and the sweep's parent run is never made."""
    started = time.monotonic()
    result = cli("-m", "dim=16,24", "tracking.uri=http://127.0.0.1:9", "tracking.retries=1")
    took = time.monotonic() - started
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = _last_line(result.stderr)
    assert last.startswith("vssbench: ") and "127.0.0.1:9" in last, result.stderr
    assert took < 60


@pytest.mark.parametrize(
    "case",
    ["not_a_database", "n_jobs_0", "unset_env", "slurm_without_sbatch"],
)
@pytest.mark.slow
def test_a_user_caused_failure_ends_in_one_line(tmp_path, cli, case):
    store_dir = tmp_path / "mlruns"
    args = {
        "not_a_database": ["scale=tiny", f"tracking.dir={store_dir}"],
        "n_jobs_0": ["-m", "dim=16,24", "hydra.launcher.n_jobs=0", f"tracking.dir={store_dir}"],
        "unset_env": ["tracking.dir=${oc.env:VSSBENCH_NOT_SET_ANYWHERE}"],
        "slurm_without_sbatch": [
            "-m",
            "dim=16,24",
            "hydra/launcher=submitit_slurm",
            f"tracking.dir={store_dir}",
        ],
    }[case]
    if case == "not_a_database":
        store_dir.mkdir()
        (store_dir / "mlflow.db").write_bytes(b"this is no sqlite file" * 100)
    if case == "slurm_without_sbatch":
        pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="extra submitit")
        if any(Path(p, "sbatch").exists() for p in os.environ["PATH"].split(os.pathsep)):
            pytest.skip("this machine has SLURM's sbatch")
    result = cli(*args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = _last_line(result.stderr)
    # One line, with nothing before it (Hydra warns about a callback that raises).
    assert [line for line in result.stderr.splitlines() if line.strip()] == [last], result.stderr
    expected = {
        "not_a_database": "the MLflow store is not a database",
        "n_jobs_0": "hydra.launcher.n_jobs=0",
        "unset_env": "VSSBENCH_NOT_SET_ANYWHERE, which is not set",
        "slurm_without_sbatch": "needs SLURM",
    }[case]
    assert last.startswith("vssbench: ") and expected in last, result.stderr
    if case in ("n_jobs_0", "slurm_without_sbatch"):  # refused before the sweep's run exists
        db = store_dir / "mlflow.db"
        assert not db.exists() or not mlflow.MlflowClient(f"sqlite:///{db}").search_runs(["0"])


@pytest.mark.slow
def test_report_out_at_a_file_is_one_line(tmp_path):
    (tmp_path / "taken").write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "vssbench.report", "--out", str(tmp_path / "taken")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert _last_line(result.stderr).startswith("vssbench: bad configuration: --out")


def test_a_bug_is_reported_as_one_with_its_traceback_in_a_file(tmp_path):
    try:
        {}["no such key"]
    except KeyError as error:
        line = faults.one_line(error, {}, tmp_path)
    assert line.startswith("vssbench: internal error, a bug in vssbench (KeyError")
    (written,) = tmp_path.glob("vssbench-traceback-*.txt")
    assert str(written) in line and "Traceback" in written.read_text()


def test_a_store_failure_with_saved_results_says_where_they_are(tmp_path):
    error = TrackingError("results not sent to X; they are saved in D", saved=True)
    error.__cause__ = OSError(28, "No space left on device")
    assert faults.explain(error, {}) == f"tracking store failed: {error}"


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)])
    return done.returncode == 0


@pytest.mark.slow
def test_a_full_disk_under_cache_dir_is_one_line_naming_it(tmp_path):
    """A real 2 MB tmpfs as cache_dir: the corpus and index do not fit."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "2m"):
        pytest.skip("mounting a tmpfs needs root (CI runs it)")
    try:
        proc = _vss(["dim=128", f"tracking.dir={tmp_path / 'mlruns'}"], tmp_path, small)
        output = _finish(proc, [])
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert proc.returncode == 1 and "Traceback" not in output, output
    last = _last_line(output)
    assert last.startswith("vssbench: no space left on a device"), output
    assert f"cache_dir={small}" in last


# -- a full disk in a child process ------------------------------------------------------------

FULL = Path("/dev/full")
NO_SPACE = re.compile(r"vssbench: no space left on a device \((.+)\): free space there")


def _no_space_line(error: BaseException, places: dict[str, Path], tmp_path: Path) -> str:
    line = faults.one_line(error, places, tmp_path)
    assert NO_SPACE.fullmatch(line), line
    return line


def _index_spec(tmp_path: Path, n: int = 50, dim: int = 8) -> tuple[dict, np.ndarray]:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    corpus = pd.DataFrame({"id": np.arange(n)})
    spec = {
        "metadata": str(index_file._metadata_file(corpus, tmp_path)),
        "vectors": str(index_file._vectors_file(vectors, tmp_path)),
        "hnsw": {"metric": "cosine", "M": 8, "ef_construction": 32},
        "threads": 1,
        "expected": None,
    }
    return spec, vectors


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
def test_a_full_disk_in_the_index_build_step_is_the_one_no_space_line(tmp_path, capfd):
    """The load step's process writes its database to /dev/full: DuckDB's own ENOSPC. Before,
    the child printed DuckDB's traceback and the build was run again without a memory_limit."""
    spec, _ = _index_spec(tmp_path)
    # _child, not build(): build() removes a failed attempt's file, and /dev/full is no file to
    # remove.
    with pytest.raises(OSError) as raised:
        index_file._child("load", {**spec, "path": str(FULL), "memory_limit_mb": 0}, tmp_path)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(FULL)
    assert "Traceback" not in capfd.readouterr().err  # the child's stderr is the console
    line = _no_space_line(raised.value, {"cache_dir": tmp_path}, tmp_path)
    # The dir that filled is in no place of the run's: it comes first.
    assert re.match(
        rf"vssbench: no space left on a device \(/dev has \d+ MB free; "
        rf"cache_dir={tmp_path} has \d+ MB free\)",
        line,
    ), line


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
def test_a_full_disk_in_the_crash_check_child_ends_the_run_not_as_an_outcome(tmp_path):
    """The check child reopens its copy, /dev/full: before, 'open failed: IO Error: Could not
    write file "/dev/full": No space left on device' was recorded as a crash outcome."""
    none = np.array([], np.int64)
    job = CrashJob(
        "duckdb_vss",
        1,
        DuckDBVssOptions(),
        path=FULL,
        markers=tmp_path / "copy.markers",
        metric="cosine",
        dim=8,
        k=10,
        corpus=pd.DataFrame(),
        delete=none,
        update=none,
        update_vectors=np.zeros((0, 8), np.float32),
        insert=none,
        insert_vectors=np.zeros((0, 8), np.float32),
        live_before=none,
        queries=np.ones((1, 8), np.float32),
    )
    job_file = tmp_path / "copy.job"
    job_file.write_bytes(pickle.dumps(job))
    with pytest.raises(OSError) as raised:
        crash._check(job_file)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(FULL)
    assert "the crash test's check child" in str(raised.value)
    _no_space_line(raised.value, {"cache_dir": tmp_path}, tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
def test_a_full_disk_in_a_restart_child_is_the_one_no_space_line(tmp_path):
    """A real index (built by the two build steps and the memory probe, each a child), opened
    by a restart child that writes its times to /dev/full."""
    spec, vectors = _index_spec(tmp_path)
    index = tmp_path / "index.duckdb"
    facts = index_file.build(
        index, pd.read_parquet(spec["metadata"]), vectors, spec["hnsw"], threads=1
    )
    assert facts["index_build_attempts"] == 1 and facts["index_memory_mb"] > 0
    settings = QuerySettings(ef_search=16, limit=5)
    job = RestartJob("duckdb_vss", 1, DuckDBVssOptions(), index, "cosine", 8, settings, vectors[:3])
    job_file = tmp_path / "job.pickle"
    job_file.write_bytes(pickle.dumps(job))
    with pytest.raises(OSError) as raised:
        restart._child(job_file, FULL, "restart 1, cold")
    assert raised.value.errno == errno.ENOSPC
    assert "the restart child (restart 1, cold)" in str(raised.value)
    # A write's OSError names no file: the line names the run's places.
    line = _no_space_line(raised.value, {"cache_dir": tmp_path}, tmp_path)
    assert line.startswith(f"vssbench: no space left on a device (cache_dir={tmp_path} has ")


def _fill(path: Path) -> None:
    """Zeros written into a file under `path` until its file system has no page left."""
    with open(path / "filler", "wb", buffering=0) as filler:
        for chunk in (2**20, 4096):
            with contextlib.suppress(OSError):
                while True:
                    filler.write(bytes(chunk))
    assert os.statvfs(path).f_bavail == 0


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _child_of(proc: subprocess.Popen, module: str, timeout_s: float = 600) -> psutil.Process:
    """The first process under `proc` that runs `python -m module`."""
    parent, deadline = psutil.Process(proc.pid), time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if module in child.cmdline():
                    return child
        time.sleep(0.002)
    raise AssertionError(f"no {module} process started (exit {proc.returncode})")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("vssbench.engines.duckdb.index_file", []),
        # Long (CI's time): /dev/full tests the restart child in CI.
        pytest.param(
            "vssbench.workload.restart_child", ["workload=restart"], marks=pytest.mark.long
        ),
        ("vssbench.run.trial_worker", []),
    ],
)
def test_a_full_disk_in_a_child_process_is_one_line_naming_cache_dir(tmp_path, module, args):
    """A real 30 MB tmpfs as cache_dir, filled the moment the child starts (it has written
    nothing yet, and its parent writes nothing while it waits for it)."""
    small = tmp_path / "small"
    if not _mount_tmpfs(small, "30m"):
        pytest.skip("mounting a tmpfs needs root (CI runs it)")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    store_dir = tmp_path / "mlruns"
    command = [sys.executable, "-m", "vssbench", "scale=tiny", "dim=16", *args, *QUICK]
    command += [f"cache_dir={small}", f"tracking.dir={store_dir}", f"hydra.run.dir={tmp_path}/job"]
    proc = None
    try:
        with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
            proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err)
            child = _child_of(proc, module)
            _fill(small)
            alive = _alive(child)
            proc.wait(timeout=600)
    finally:
        if proc is not None and proc.poll() is None:  # a failed assertion above: the tmpfs is busy
            proc.kill()
            proc.wait()
        subprocess.run(["umount", str(small)], check=True)
    assert alive, f"{module} ended before the disk was full: the test proves nothing"
    stderr = (tmp_path / "err").read_text()
    output = (tmp_path / "out").read_text() + stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    lines = [line for line in stderr.splitlines() if line.startswith("vssbench")]
    assert lines == [_last_line(stderr)] and NO_SPACE.fullmatch(lines[0]), stderr
    assert f"cache_dir={small} has 0 MB free" in lines[0]
    assert "without a memory_limit" not in output  # no build again that cannot help
    runs = _runs(f"sqlite:///{store_dir / 'mlflow.db'}")
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_a_sweep_at_once_and_lists_every_job(tmp_path, cache_dir, sent):
    """SIGINT to the sweep's process group, as a terminal sends it (or SIGTERM, as a scheduler
    sends it), while job 0 builds: job 0 is KILLED, jobs 1-2 never run, no traceback."""
    store_dir = tmp_path / "mlruns"
    args = ["-m", "dim=16,24,32", f"tracking.dir={store_dir}", f"hydra.sweep.dir={tmp_path}/s"]
    proc, seen = _vss(args, tmp_path, cache_dir, start_new_session=True), []
    _until(proc, "corpus:", seen)
    started = time.monotonic()
    os.killpg(proc.pid, sent)
    output = _finish(proc, seen)
    assert time.monotonic() - started < 30
    assert proc.returncode == 1 and "Traceback" not in output, output
    assert _last_line(output) == f"vssbench: the sweep stopped: interrupted ({sent.name})"
    assert "#0 interrupted" in output
    assert "#1 not started" in output and "#2 not started" in output
    runs = _runs(f"sqlite:///{store_dir / 'mlflow.db'}")
    assert [r.info.status for r in runs] == ["KILLED"]
