"""A multirun as one MLflow parent run, found again by its overrides when the sweep resumes,
and one console line per job as it ends."""

import hashlib
import json
import logging
import os
import platform
import time
import traceback
from pathlib import Path

import mlflow
from mlflow.entities import Metric

from vssbench.sweep import eta
from vssbench.track import claim, store

log = logging.getLogger("vssbench")

SWEEP_FILE = "vssbench_sweep.json"
STATUS_FILE = "vssbench_status.json"
NOT_ENDED = ("not run", "running", "not started")  # statuses of jobs a sweep has yet to end


def sweep_key(defining: list[str]) -> str:
    """Same sweep, same key, whatever the order of its defining overrides."""
    return hashlib.sha256(json.dumps(sorted(defining)).encode()).hexdigest()[:16]


def open_parent(
    experiment_id: str, overrides: list[str], defining: list[str], total: int, n_jobs: int
) -> str:
    """The sweep's parent run: the one with the same key (of the `defining` overrides) if this
    sweep ran before, else a new one."""
    key = sweep_key(defining)
    client = mlflow.MlflowClient()
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.kind = 'sweep' and tags.sweep_key = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    tags = {
        "kind": "sweep",
        "sweep_key": key,
        "sweep_overrides": " ".join(overrides),
        "sweep_jobs": str(total),
        "sweep_n_jobs": str(n_jobs),
        **claim.process_tags(),
        **store.hardware_tags(),
    }
    if found:
        run_id = found[0].info.run_id
        attempt = int(found[0].data.tags.get("sweep_attempts", "0")) + 1
        client.update_run(run_id, status="RUNNING")
        log.info("sweep resumes its MLflow run %s (attempt %d)", run_id, attempt)
    else:
        name = ("sweep " + " ".join(defining))[:200]
        run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        attempt = 1
        log.info("sweep MLflow run %s", run_id)
    for name, value in {**tags, "sweep_attempts": str(attempt)}.items():
        client.set_tag(run_id, name, value)
    return run_id


def failure(error: BaseException, line: str | None = None) -> dict:
    """A failed job's status: the error in one line (faults.one_line's), and its traceback."""
    return {
        "status": "failed",
        "error": (line or f"{type(error).__name__}: {error}").removeprefix("vssbench: "),
        "traceback": "".join(traceback.format_exception(error)),
    }


def started() -> dict:
    """A job's status while it runs: who runs it, for the summary if its process dies."""
    return {"status": "running", "host": platform.node(), "pid": os.getpid()}


def ended(status: dict) -> dict:
    """A job's status once the sweep has ended: one still running had its process die."""
    if status["status"] != "running":
        return status
    return {
        "status": "failed",
        "error": f"its process ({status['host']}, pid {status['pid']}) died: killed?",
    }


def write_sweep_file(
    sweep_dir: Path, run_id: str, total: int, jobs: list[list[str]] | None
) -> None:
    """`jobs`: each planned job's overrides, in job order (None: a sweeper that picks its jobs
    as it goes), which the ETA of every job's line weighs."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    info = {"parent_run_id": run_id, "started": time.time(), "total": total, "jobs": jobs}
    (sweep_dir / SWEEP_FILE).write_text(json.dumps(info))


def read_sweep_file(sweep_dir: Path) -> dict | None:
    path = sweep_dir / SWEEP_FILE
    return json.loads(path.read_text()) if path.exists() else None


def clear_job_statuses(sweep_dir: Path) -> None:
    for status_file in sweep_dir.glob(f"*/{STATUS_FILE}"):
        status_file.unlink()


def job_statuses(
    sweep_dir: Path, total: int, labels: list[str] | None = None
) -> list[tuple[str, dict, str]]:
    """(job number, status, overrides) of this sweep's `total` jobs, in job order; a job
    without a dir never started (`labels`: the planned jobs' overrides, when known). A reused
    sweep dir may hold more dirs, from an earlier sweep."""
    rows = []
    for number in range(total):
        job_dir = sweep_dir / str(number)
        status_file = job_dir / STATUS_FILE
        status = json.loads(status_file.read_text()) if status_file.exists() else {}
        status.setdefault("status", "not run" if job_dir.exists() else "not started")
        overrides = job_overrides(job_dir)
        label = " ".join(overrides) if overrides else (labels[number] if labels else str(number))
        if status["status"] == "not started" and not job_dir.exists() and labels is None:
            continue  # a sweeper that picks its jobs as it goes did not get to this one
        rows.append((str(number), status, label))
    return rows


def job_overrides(job_dir: Path) -> list[str]:
    """The job's overrides as Hydra recorded them (.hydra/overrides.yaml); none before it ran."""
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if not overrides.exists():
        return []
    return [line.lstrip("- ").strip() for line in overrides.read_text().splitlines()]


def counts(statuses: list[dict]) -> dict[str, int]:
    out = {"finished": 0, "skipped": 0, "failed": 0}
    for status in statuses:
        name = status["status"].replace(" ", "_")
        out[name] = out.get(name, 0) + 1
    return out


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def sweep_left_s(
    rows: list[tuple[str, dict, str]],
    info: dict,
    base: eta.JobKey,
    scales: dict[str, tuple[int, int]],
    workers: int,
) -> float:
    """Seconds the sweep's jobs left will take (eta.left_s), from its job statuses (`rows`, as
    job_statuses gives them; `job_s`: an ended job's seconds) and its sweep file (`info`)."""
    ended = {int(n): status for n, status, _ in rows if status["status"] not in NOT_ENDED}
    planned = info["jobs"]
    if planned is None:
        # A sweeper that picks its jobs as it goes (Optuna) has no list of the jobs left to
        # weigh: the wall time so far is spread evenly over them.
        elapsed_s = time.time() - info["started"]
        return eta.even_spread_s(elapsed_s, len(ended), info["total"] - len(ended))
    keys = eta.job_keys(planned, base, scales)
    done = [
        (keys[n], status["status"], status["job_s"])
        for n, status in ended.items()
        if "job_s" in status
    ]
    left = [key for n, key in enumerate(keys) if n not in ended]
    return eta.left_s(done, left, workers)


def job_line(
    name: str, status: str, job_s: float, done: dict[str, int], total: int, left_s: float
) -> str:
    """`[7/48] 100k-d512-... finished in 93 s (skipped 3, failed 0), ETA 41 min`: `left_s` is
    what the jobs left will take (sweep_left_s)."""
    ended = sum(done.values())
    left = max(total - ended, 0)
    eta_text = f"ETA {_duration(left_s)}" if left and ended else "last job"
    return (
        f"[{ended}/{total}] {name} {status} in {_duration(job_s)} "
        f"(skipped {done['skipped']}, failed {done['failed']}), {eta_text}"
    )


def close_parent(run_id: str, attempt_counts: dict[str, int], wall_s: float) -> None:
    """Log this attempt's counts and wall time (step = attempt) and end the parent run."""
    client = mlflow.MlflowClient()
    attempt = int(client.get_run(run_id).data.tags.get("sweep_attempts", "1"))
    now = int(time.time() * 1000)
    values = {**attempt_counts, "jobs": sum(attempt_counts.values()), "sweep_wall_s": wall_s}
    client.log_batch(
        run_id, metrics=[Metric(name, float(v), now, attempt) for name, v in values.items()]
    )
    done = sum(attempt_counts.get(s, 0) for s in ("finished", "skipped", "synced"))
    ok = sum(attempt_counts.values()) == done
    client.set_terminated(run_id, status="FINISHED" if ok else "FAILED")
