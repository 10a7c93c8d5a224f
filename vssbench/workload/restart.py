"""workload=restart: the cached index opened by fresh processes (workload/restart_child.py), each
timed from its start to its first answer, with the index file's pages dropped from the OS page
cache first (cold: that file only, never the machine's cache) and kept (warm)."""

import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench import faults
from vssbench.data.load import data_key, load_dataset
from vssbench.engines.registry import engine_class
from vssbench.measure import intervals
from vssbench.measure.timing import CpuOfOthers
from vssbench.run import points
from vssbench.run.plan import RunPlan
from vssbench.stopwatch import Stopwatch
from vssbench.workload.restart_child import RestartJob

log = logging.getLogger(__name__)

PREFIX = "restart."
MODES = ("cold", "warm")
STEADY_QUERIES = 200  # after the first answer: the steady state the first query is set against
# What a child reports, in seconds or milliseconds from its start (the parent's spawn).
TIMES = ("imported_s", "opened_s", "to_first_answer_s", "open_s", "first_query_ms", "steady_p50_ms")


@dataclass
class RestartResult:
    metrics: dict[str, float]
    params: dict[str, str]
    restarts: pd.DataFrame  # one row per fresh process


def drop_from_page_cache(path: Path) -> bool:
    """The pages of the index file (or of every file under an index directory) dropped from the
    OS page cache; False where posix_fadvise is not available."""
    if not hasattr(os, "posix_fadvise"):
        return False
    files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def measure(plan: RunPlan, watch: Stopwatch) -> RestartResult:
    with watch.stage("data"):
        data = load_dataset(plan.data, plan.cache_dir)
    eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
    try:
        facts = eng.open(data, plan.build, data_key(plan.data), plan.cache_dir, watch)
        versions = eng.versions()
    finally:
        eng.close()
    values = np.full(len(data.queries), None)
    n = min(STEADY_QUERIES + 1, len(data.queries))
    job = RestartJob(
        plan.engine.name,
        plan.engine.threads,
        plan.engine.options,
        eng.index_path,
        plan.build.metric,
        data.doc_vectors.shape[1],
        points.headline(plan.search, False, values),
        np.ascontiguousarray(data.query_vectors[:n]),
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="restart-") as scratch:
        job_file = Path(scratch, "job.pickle")
        job_file.write_bytes(pickle.dumps(job))
        for number in range(1, plan.workload.restarts + 1):
            for mode in MODES:
                with watch.stage(f"restart_{mode}"):
                    dropped = mode == "cold" and drop_from_page_cache(job.path)
                    rows.append({"restart": number, "mode": mode, "dropped": dropped})
                    # The child is waited for: its CPU is this run's, the rest is others'.
                    with CpuOfOthers() as others:
                        out = Path(scratch, "out.pickle")
                        rows[-1].update(_child(job_file, out, f"restart {number}, {mode}"))
                    rows[-1]["other_cpu_share"] = others.share
                log.info("restart %d, %s: %s", number, mode, _line(rows[-1]))
    return _result(pd.DataFrame(rows), facts, versions, eng.index_path)


def _child(job_file: Path, out: Path, label: str) -> dict[str, float]:
    """One restart's process, timed from its spawn. One that fails ends the run in one line
    naming it and its last line (a full disk: the no-space line), not in a bug's traceback:
    what killed it is outside vssbench's code."""
    started = time.time()
    command = [sys.executable, "-m", "vssbench.workload.restart_child", str(job_file), str(out)]
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        child = f"the restart child ({label})"
        raise faults.child_failed("restart failed", child, done.returncode, done.stderr)
    stamps = pickle.loads(out.read_bytes())
    return {
        "imported_s": stamps["imported"] - started,
        "opened_s": stamps["opened"] - started,
        "to_first_answer_s": stamps["answered"] - started,
        "open_s": stamps["opened"] - stamps["imported"],
        "first_query_ms": 1000 * (stamps["answered"] - stamps["opened"]),
        "steady_p50_ms": stamps["steady_p50_ms"],
        "read_mb": stamps["read_mb"],
    }


def _line(row: dict) -> str:
    return (
        f"first answer {row['to_first_answer_s']:.2f} s after start (open {row['open_s']:.2f} s, "
        f"first query {row['first_query_ms']:.1f} ms, then p50 {row['steady_p50_ms']:.2f} ms), "
        f"{row['read_mb']:.1f} MB read from storage"
    )


def _result(
    frame: pd.DataFrame, facts: dict, versions: dict[str, str], path: Path
) -> RestartResult:
    """Per mode, each time's geometric mean over the restarts with its interval, and the median
    of what they read; every restart's own numbers stay in the table."""
    metrics: dict[str, float] = {
        "index_file_mb": facts.get("index_file_mb", np.nan),
        "other_cpu_share": float(frame["other_cpu_share"].max()),
    }
    for mode in MODES:
        rows = frame[frame["mode"] == mode]
        for column in TIMES:
            est = intervals.log_mean(rows[column].to_numpy(float))
            name = f"{PREFIX}{mode}_{column}"
            metrics.update(
                {name: est.value, f"{name}_ci_low": est.low, f"{name}_ci_high": est.high}
            )
        metrics[f"{PREFIX}{mode}_read_mb"] = float(rows["read_mb"].median())
    dropped = bool(frame.loc[frame["mode"] == "cold", "dropped"].all())
    params = {
        "restart.cold": "the index file's pages dropped with posix_fadvise(POSIX_FADV_DONTNEED)"
        if dropped
        else "not cold: posix_fadvise is not available here, so cold equals warm",
        "restart.index_path": str(path),
        **{f"version.{n}": v for n, v in versions.items()},
    }
    return RestartResult(metrics, params, frame)
