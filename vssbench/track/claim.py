"""One run per fingerprint, for processes on one host (a file lock beside a local store) or on
many hosts that share an MLflow tracking server (a claim through the server).

A claim is the run itself: a RUNNING run tagged with the fingerprint and a heartbeat that a
thread refreshes. Claims rank by start time, then run id, and the first live one holds the
fingerprint. A run becomes visible only once the server stored it and start times come from
each host's clock, so a claimant that ranks first looks again after `settle_s` before it goes
on: two claimants can both go on only if their clocks and request latencies differ by more
than that. A claimant that does not rank first deletes its run and waits for the holder to
finish (then the fingerprint is done) or to die (then it claims again). A run is dead when its
process is gone (same host) or its heartbeat is older than `stale_s` (any host); the next
claimant marks it KILLED.
"""

import logging
import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import psutil
from filelock import FileLock
from mlflow.entities import Run

from vssbench.stop import Interrupted, received
from vssbench.track.store import TrackingError, short

log = logging.getLogger(__name__)

HEARTBEAT_TAG = "process.heartbeat"


@dataclass(frozen=True)
class ClaimSettings:
    """A run refreshes its heartbeat every `heartbeat_s`; a RUNNING run of another host whose
    heartbeat is older than `stale_s` is dead; a claim through a server is checked again after
    `settle_s`."""

    heartbeat_s: float
    stale_s: float
    settle_s: float


def process_tags() -> dict[str, str]:
    """Who runs this: lets a later start tell a crashed run (its process gone) from a live one."""
    me = psutil.Process()
    return {
        "process.host": platform.node(),
        "process.pid": str(me.pid),
        "process.started": f"{me.create_time():.3f}",
    }


def alive(run: Run, stale_s: float, now: float) -> bool:
    """Whether a RUNNING run's process still runs: by its pid on this host, else by its
    heartbeat; a run without either (a sweep's parent on another host) is not ours to judge."""
    tags = run.data.tags
    if tags.get("process.host") == platform.node() and "process.pid" in tags:
        try:
            proc = psutil.Process(int(tags["process.pid"]))
            return f"{proc.create_time():.3f}" == tags.get("process.started")
        except psutil.NoSuchProcess:
            return False
    beat = tags.get(HEARTBEAT_TAG)
    return beat is None or now - float(beat) <= stale_s


def mark_dead_runs(experiment_id: str, stale_s: float) -> list[str]:
    """Mark RUNNING runs whose process is gone (kill -9, OOM, a killed worker, a host that
    stopped) as KILLED."""
    running = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        output_format="list",
    )
    now = time.time()
    dead = [run for run in running if not alive(run, stale_s, now)]
    client = mlflow.MlflowClient()
    for run in dead:
        client.set_terminated(run.info.run_id, status="KILLED")
        log.warning(
            "marked run %s (%s, host %s) KILLED: its process is gone",
            run.info.run_id,
            run.info.run_name,
            run.data.tags.get("process.host", "?"),
        )
    return [run.info.run_id for run in dead]


def find_finished(experiment_id: str, fp: str) -> Run | None:
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.fingerprint = '{fp}' and attributes.status = 'FINISHED'",
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


class _Heartbeat:
    """Refreshes a run's heartbeat tag every `interval_s` until stopped; while `paused` its
    thread only waits, and whoever paused it beats it between timed passes (quiet())."""

    def __init__(self, run_id: str, interval_s: float) -> None:
        self._run_id = run_id
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._client = mlflow.MlflowClient()
        self._failing = False
        self._last = time.monotonic()
        self.paused = False
        self._thread = threading.Thread(target=self._beat, name="vssbench-heartbeat", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval_s):
            if not self.paused:
                self.send()

    def beat_if_due(self) -> None:
        if time.monotonic() - self._last >= self._interval_s:
            self.send()

    def send(self) -> None:
        # A server restart must not end the run: the next beat may land. One line when beats
        # stop landing and one when they land again, not one per beat.
        self._last = time.monotonic()
        try:
            self._client.set_tag(self._run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
        except Exception as error:
            if not self._failing:
                log.warning("heartbeat of run %s not stored: %s", self._run_id, short(error))
            self._failing = True
            return
        if self._failing:
            log.info("heartbeat of run %s stored again", self._run_id)
        self._failing = False

    def stop(self) -> None:
        _LIVE.discard(self)
        self._stop.set()
        self._thread.join()


# This process's heartbeats, which quiet() pauses.
_LIVE: set[_Heartbeat] = set()


@contextmanager
def quiet() -> Iterator[Callable[[], None]]:
    """This process's heartbeats paused while the block runs (its timing workers' passes); the
    callable it yields sends those that are due, for the moments between two passes. Other hosts
    take a run for dead after stale_s without a beat: a series far longer than that is not one
    this pause can keep alive."""
    beats = list(_LIVE)

    def between() -> None:
        for beat in beats:
            beat.beat_if_due()

    for beat in beats:
        beat.paused = True
    try:
        yield between
    finally:
        for beat in beats:
            beat.paused = False


@contextmanager
def claimed(
    claims: ClaimSettings,
    experiment_id: str,
    fp: str,
    name: str,
    tags: dict[str, str],
    skip_finished: bool,
    lock_dir: Path | None,
) -> Iterator[str | Run]:
    """Yields the id of a new RUNNING run this process holds for `fp`, or the FINISHED run with
    `fp` that made it unnecessary. `lock_dir`: a local store's lock dir (one host); None claims
    through the tracking server."""
    if lock_dir is not None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_dir / f"{fp}.lock")):
            mark_dead_runs(experiment_id, claims.stale_s)
            done = find_finished(experiment_id, fp) if skip_finished else None
            if done is not None:
                yield done
                return
            with _held(_create(experiment_id, name, tags, fp), claims.heartbeat_s) as run_id:
                yield run_id
        return
    while True:
        mark_dead_runs(experiment_id, claims.stale_s)
        done = find_finished(experiment_id, fp) if skip_finished else None
        if done is not None:
            yield done
            return
        run_id = _create(experiment_id, name, tags, fp)
        with _held(run_id, claims.heartbeat_s):
            holder = _holder(experiment_id, fp, claims.stale_s)
            if holder == run_id:
                time.sleep(claims.settle_s)
                holder = _holder(experiment_id, fp, claims.stale_s)
            if holder == run_id:
                yield run_id
                return
        client = mlflow.MlflowClient()
        client.set_terminated(run_id, status="KILLED")  # withdrawn: not a run of its own
        client.delete_run(run_id)
        _wait_for(holder, fp, claims)


def _create(experiment_id: str, name: str, tags: dict[str, str], fp: str) -> str:
    beat = {HEARTBEAT_TAG: f"{time.time():.0f}"}
    run = mlflow.MlflowClient().create_run(
        experiment_id, run_name=name, tags={**tags, **beat, "fingerprint": fp}
    )
    return run.info.run_id


@contextmanager
def _held(run_id: str, heartbeat_s: float) -> Iterator[str]:
    """The run's heartbeat while the block runs; a block that fails before the run ends leaves
    it FAILED (KILLED when interrupted), not RUNNING. A store that failed is not asked: its run
    is marked KILLED by the next claimant, and its saved results sent (track/journal.py)."""
    beat = _Heartbeat(run_id, heartbeat_s)
    try:
        yield run_id
    except TrackingError:
        raise
    except BaseException as error:
        stopped = isinstance(error, KeyboardInterrupt | Interrupted) or received()
        status = "KILLED" if stopped else "FAILED"
        try:
            client = mlflow.MlflowClient()
            if client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, status=status)
        except Exception as store_error:
            log.warning("run %s not marked %s: %s", run_id, status, short(store_error))
        raise
    finally:
        beat.stop()


def _holder(experiment_id: str, fp: str, stale_s: float) -> str | None:
    """The first live claim on `fp`: the earliest start, then the lowest run id."""
    running = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.fingerprint = '{fp}' and attributes.status = 'RUNNING'",
        output_format="list",
    )
    now = time.time()
    live = [run for run in running if alive(run, stale_s, now)]
    first = min(live, key=lambda run: (run.info.start_time, run.info.run_id), default=None)
    return first.info.run_id if first else None


def _wait_for(holder: str | None, fp: str, claims: ClaimSettings) -> None:
    """Until the holder's run ends or dies."""
    if holder is None:
        return
    client = mlflow.MlflowClient()
    run = client.get_run(holder)
    log.info(
        "waiting for run %s (%s, host %s), which holds fingerprint %s",
        holder,
        run.info.run_name,
        run.data.tags.get("process.host", "?"),
        fp,
    )
    while run.info.status == "RUNNING" and alive(run, claims.stale_s, time.time()):
        time.sleep(min(claims.heartbeat_s, 5.0))
        run = client.get_run(holder)
