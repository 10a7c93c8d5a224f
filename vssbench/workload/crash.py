"""workload.kills: crash tests on copies of a churned database file. A child process applies one
more round (deletes, updates and the re-insertion of deleted documents, each committed, then a
checkpoint) and is SIGKILLed at a seeded moment; another child reopens the copy and checks it
(workload/crash_child.py). The first copy is applied without a kill: the baseline of the checks
and the length of a round, over which the kill moments are drawn."""

import logging
import pickle
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench import faults
from vssbench.data.load import Dataset
from vssbench.run.plan import RunPlan
from vssbench.workload.runbook import Runbook, current_vectors

log = logging.getLogger(__name__)

CHECK_QUERIES = 20  # queries whose exact top-k rows must be findable through the index
OPENED = "opened"  # the child's first marker: its database is open, the round starts
START_TIMEOUT_S = 600.0  # a child that has not opened its copy by then is a failed outcome


@dataclass(frozen=True)
class CrashJob:
    """What a child needs: the engine, the copy, the round, and what to check it against."""

    engine: str
    threads: int
    options: object
    path: Path
    markers: Path
    metric: str
    dim: int
    k: int
    corpus: pd.DataFrame
    delete: np.ndarray
    update: np.ndarray
    update_vectors: np.ndarray
    insert: np.ndarray
    insert_vectors: np.ndarray
    live_before: np.ndarray
    queries: np.ndarray


def crash_round(data: Dataset, book: Runbook, plan: RunPlan) -> dict[str, np.ndarray]:
    """The round the children apply on top of the last one: a delete and an update share of
    the live rows, and deleted documents inserted again with their vectors (a re-insertion)."""
    c = plan.workload.churn
    rng = np.random.default_rng([plan.data.seed, 29])
    live = book.live_after(len(book.rounds))
    deleted = np.setdiff1d(np.concatenate([r.delete for r in book.rounds]), live)
    delete = np.sort(rng.choice(live, round(c.delete * len(live)), replace=False))
    kept = np.setdiff1d(live, delete)
    update = np.sort(rng.choice(kept, round(c.update * len(live)), replace=False))
    insert = np.sort(
        rng.choice(deleted, min(len(deleted), round(c.insert * len(data.corpus))), replace=False)
    )
    current = current_vectors(data.doc_vectors, book, len(book.rounds))
    # A small edit: the updated rows stay among their neighbours, so the check queries' exact
    # top-k holds updated rows as well as untouched ones.
    moved = current[update] + 0.01 * rng.standard_normal((len(update), current.shape[1])).astype(
        np.float32
    )
    return {
        "delete": delete,
        "update": update,
        "update_vectors": moved,
        "insert": insert,
        "insert_vectors": data.doc_vectors[insert],
        "live_before": live,
    }


def kills(plan: RunPlan, data: Dataset, book: Runbook, path: Path, count: int) -> pd.DataFrame:
    """One row per copy: the kill's moment, the markers the child wrote, and the checks."""
    ops = crash_round(data, book, plan)
    rng = np.random.default_rng([plan.data.seed, 31])
    rows, round_s = [], None
    for number in range(count + 1):
        copy = path.with_name(f"crash{number}.duckdb")
        shutil.copyfile(path, copy)
        job = CrashJob(
            plan.engine.name,
            plan.engine.threads,
            plan.engine.options,
            copy,
            copy.with_suffix(".markers"),
            plan.build.metric,
            data.doc_vectors.shape[1],
            plan.search.k,
            data.corpus,
            queries=data.query_vectors[:CHECK_QUERIES],
            **ops,
        )
        job_file = copy.with_suffix(".job")
        job_file.write_bytes(pickle.dumps(job))
        moment = None if number == 0 else float(rng.uniform(0, 1.2 * round_s))
        applied = _apply(job_file, job.markers, moment)
        if number == 0:
            round_s = max(applied["round_s"], 0.05)
        checked = _check(job_file)
        rows.append({"kill": number, **applied, **checked})
        log.info("crash test %d of %d: %s", number, count, rows[-1]["outcome"])
        for leftover in copy.parent.glob(copy.name + "*"):
            leftover.unlink(missing_ok=True)
    return pd.DataFrame(rows)


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "vssbench.workload.crash_child", *args]


def _markers(path: Path) -> list[tuple[str, float]]:
    if not path.exists():
        return []
    pairs = [line.split() for line in path.read_text().splitlines()]
    # A kill can cut the last line short: only whole "name time" lines count.
    return [(p[0], float(p[1])) for p in pairs if len(p) == 2 and p[1].replace(".", "").isdigit()]


def _apply(job_file: Path, markers: Path, moment: float | None) -> dict:
    """The child applying the round, killed `moment` s after it opened its copy (None: not
    killed): what it committed before, and how long its round took. A full disk is no outcome
    of a crash: it ends the run in its one line."""
    child = subprocess.Popen(_child("apply", str(job_file)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not any(n == OPENED for n, _ in _markers(markers)) and child.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    killed = False
    if moment is not None and child.poll() is None:
        time.sleep(moment)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed = True
    _, err = child.communicate()
    full = faults.child_no_space("the crash test's apply child", child.returncode, err)
    if full is not None:
        raise full
    seen = _markers(markers)
    opened = next((t for n, t in seen if n == OPENED), None)
    done = [n for n, _ in seen if n != OPENED]
    return {
        "moment_s": np.nan if moment is None else moment,
        "killed": killed,
        "committed": " ".join(done) or "nothing",
        "round_s": (seen[-1][1] - opened) if opened is not None and done else np.nan,
        "apply_error": "" if child.returncode in (0, -signal.SIGKILL) else _last(err),
    }


def _check(job_file: Path) -> dict:
    """The copy reopened by a fresh child and checked; a child that dies is an outcome too, but
    not one a full disk stopped: that ends the run in its one line."""
    out = job_file.with_suffix(".checked")
    done = subprocess.run(
        _child("check", str(job_file), str(out)), stderr=subprocess.PIPE, text=True
    )
    full = faults.child_no_space("the crash test's check child", done.returncode, done.stderr)
    if full is not None:
        raise full
    if done.returncode != 0 or not out.exists():
        how = f"signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        return {"opened": False, "outcome": f"reopen died ({how}): {_last(done.stderr)}"}
    return pickle.loads(out.read_bytes())


def _last(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
