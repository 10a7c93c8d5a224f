"""The timing harness, engine-agnostic: warm-up, repeated timed passes over the queries (one
client or several), how much CPU other processes took while the clock ran, and how long the
timing threads waited for a CPU."""

import gc
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from vssbench.progress import Progress

log = logging.getLogger(__name__)

# The clock of every timed query, and of the parts a step times inside itself (hybrid search).
clock = time.perf_counter_ns

Step = Callable[[int], Any]  # answers query i and returns what the engine gave back


@dataclass
class TimedPass:
    results: list  # per query, what the step returned
    latencies_ns: np.ndarray
    # The time the queries took: the sum of their latencies for one client (nothing else is in
    # the clock), the wall time for concurrent clients or a batch.
    elapsed_s: float
    other_cpu_share: float  # of the whole machine, taken by other processes during the pass
    other_cpu_resolution: float  # shares below this read as 0 (the counters' tick)
    attempts: int = 1  # 1 + the times it was redone because it was disturbed
    ids: list[np.ndarray] | None = None  # per query, the ids found (Timing.keep_ids)
    # How long the timing thread(s) were runnable but not running during the pass, summed over
    # them (a batch: over every thread of the process); NaN where /proc cannot tell (not Linux).
    wait_s: float = math.nan
    # The process that timed the pass: every trial's passes come from a process of their own.
    pid: int = field(default_factory=os.getpid)
    clients: int = 1  # threads that timed queries at once (concurrent_pass)

    @property
    def n_queries(self) -> int:
        return len(self.results) if self.ids is None else len(self.ids)

    @property
    def qps(self) -> float:
        return self.n_queries / self.elapsed_s

    @property
    def wait_share(self) -> float:
        """The run-queue wait as a share of the pass's time (summed over several threads, it can
        pass 1); NaN where it was not measured."""
        return self.wait_s / self.elapsed_s if self.elapsed_s > 0 else math.nan


TICK_S = 0.01  # the resolution of the kernel's CPU time counters (USER_HZ 100)


class CpuOfOthers:
    """CPU time the machine spent outside this process between start and stop, as a share of
    all its cores over that wall time."""

    def __enter__(self) -> "CpuOfOthers":
        self._me = psutil.Process()
        self._start = (time.perf_counter(), self._busy(), self._mine())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, mine = (
            a - b
            for a, b in zip(
                (time.perf_counter(), self._busy(), self._mine()), self._start, strict=True
            )
        )
        cores = psutil.cpu_count() or 1
        self.own_s = mine
        # The counters tick in 10 ms per core: a pass of a few ms could read a whole tick of
        # someone else's time as a share above 1. Up to one tick per counter read is slack.
        slack = TICK_S * 2 * (cores + 1)
        self.share = max(busy - mine - slack, 0.0) / (wall * cores)
        # The smallest share this window can see: a pass of 30 ms (fast libraries) sees none.
        self.resolution = slack / (wall * cores)

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        # On Linux guest and guest_nice are already inside user and nice.
        skip = ("idle", "iowait", "guest", "guest_nice")
        return sum(getattr(t, f) for f in t._fields if f not in skip)

    def _mine(self) -> float:
        """This process's CPU time and that of its children it waited for: a build's own memory
        probe (a fresh process) is not someone else's load."""
        t = self._me.cpu_times()
        return t.user + t.system + t.children_user + t.children_system


TASKS = "/proc/self/task"


def _run_delay_ns(tid: int) -> int | None:
    """How long task `tid` of this process has waited on a run queue since it started: the
    second field of its schedstat (ns). None where the file cannot be read (the task has ended,
    or this is not Linux)."""
    try:
        with open(f"{TASKS}/{tid}/schedstat", "rb", buffering=0) as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def thread_wait_s() -> float:
    """The calling thread's run-queue wait so far (s), NaN without /proc: one small file read,
    so it costs microseconds; read it outside any query's clock."""
    ns = _run_delay_ns(threading.get_native_id())
    return math.nan if ns is None else ns / 1e9


def _tasks_run_delay() -> dict[int, int] | None:
    """Every thread of this process and its run-queue wait so far (ns); None without /proc."""
    try:
        tids = [int(t) for t in os.listdir(TASKS)]
    except OSError:
        return None
    delays = {tid: _run_delay_ns(tid) for tid in tids}
    return {tid: ns for tid, ns in delays.items() if ns is not None}  # ended since the listing


def _tasks_waited_s(before: dict[int, int] | None) -> float:
    """The run-queue wait of this process's threads since `before` (_tasks_run_delay), in s."""
    after = _tasks_run_delay()
    if before is None or after is None:
        return math.nan
    # Per thread, so that one that ends during the pass takes its whole wait out of neither
    # side (its wait inside the pass is lost: a small undercount); one that starts counts from 0.
    return sum(max(ns - before.get(tid, 0), 0) for tid, ns in after.items()) / 1e9


def timed_pass(step: Step, n: int, label: str) -> TimedPass:
    """One client: every query alone, nothing but the query inside the clock."""
    latencies = np.empty(n, np.int64)
    results = []
    progress = Progress(label, n, min_total=1000)
    with CpuOfOthers() as others:
        waited = thread_wait_s()
        for i in range(n):
            start = clock()
            results.append(step(i))
            latencies[i] = clock() - start
            progress.update(i + 1)  # outside the clock
        waited = thread_wait_s() - waited
    elapsed = latencies.sum() / 1e9
    return TimedPass(results, latencies, elapsed, others.share, others.resolution, wait_s=waited)


def concurrent_pass(steps: list[Step], n: int) -> TimedPass:
    """len(steps) clients, each a thread with its own step (its own cursor), taking the next
    query from a shared counter until all n are answered; QPS is n over the wall time."""
    latencies = np.empty(n, np.int64)
    results: list = [None] * n
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []
    waits: list[float] = []  # per client thread, read by the thread itself (its own schedstat)

    def client(step: Step) -> None:
        waited = thread_wait_s()
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= n:
                    break
                start = clock()
                results[i] = step(i)
                latencies[i] = clock() - start
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)
        waits.append(thread_wait_s() - waited)

    threads = [threading.Thread(target=client, args=(step,)) for step in steps]
    with CpuOfOthers() as others:
        started = clock()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall_s = (clock() - started) / 1e9
    if errors:
        raise errors[0]
    return TimedPass(
        results,
        latencies,
        wall_s,
        others.share,
        others.resolution,
        wait_s=sum(waits),
        clients=len(steps),
    )


def batch_pass(run: Callable[[], list]) -> TimedPass:
    """All queries in one call (one statement); `run` returns per query what was found."""
    with CpuOfOthers() as others:
        # The engine may work in threads of its own inside the call (DuckDB does) while the
        # calling thread sleeps, so the wait is summed over every thread of the process.
        # /proc/self/schedstat would not do: it is the main thread's alone (and /proc/schedstat
        # is per CPU, of every process).
        before = _tasks_run_delay()
        start = clock()
        results = run()
        elapsed = clock() - start
        waited = _tasks_waited_s(before)
    return TimedPass(
        results,
        np.array([elapsed]),
        elapsed / 1e9,
        others.share,
        others.resolution,
        wait_s=waited,
    )


@dataclass(frozen=True)
class Guard:
    """When a pass is redone: other processes took more than max_share of the machine's CPU
    while it ran, or its timing thread(s) waited runnable for more than max_share of its time.
    It is timed again after pause_s and a new warm-up, at most `retries` times in a series (all
    its passes); the last attempt is kept either way.

    One threshold for both: each is a share of the pass's time that went to something other
    than the pass (the other-CPU share counts other processes on any core but cannot see what
    fits in its counters' tick slack; the run-queue wait counts, to the ns, only what kept the
    timing thread off a core, this process's own threads included). The question is the same,
    how much of a pass may be lost before its time is not the engine's, so it has one answer,
    and no second setting to keep apart in fingerprints, sweeps and the report."""

    max_share: float
    retries: int
    pause_s: float

    def disturbed(self, timed: TimedPass) -> bool:
        # A wait that was not measured (NaN) compares False: the other-CPU share alone decides.
        # Concurrent clients wait for each other whenever they outnumber the cores: their wait
        # is recorded, not held against the pass.
        waited = timed.clients == 1 and timed.wait_share > self.max_share
        return timed.other_cpu_share > self.max_share or waited


@dataclass
class Timing:
    """Repeated passes of the same queries (one series of a trial: an ef point, the batch, a
    client level); run/timings.py turns the passes of every trial into estimates."""

    passes: list[TimedPass]
    series: str = ""

    @property
    def typical(self) -> TimedPass:
        """The pass of median QPS (the lower one of an even count): its latencies go into the
        per-query table."""
        ranked = sorted(self.passes, key=lambda p: p.qps)
        return ranked[(len(ranked) - 1) // 2]

    def keep_ids(self, extract: Callable[[Any], np.ndarray]) -> None:
        """Each pass's returned ids from its results, which are then dropped (a trial's passes
        travel to the run's process without engine objects)."""
        for p in self.passes:
            p.ids = [extract(r) for r in p.results]
            p.results = []


def _collect_young() -> None:
    """The garbage of the warm-up and the passes before, so none waits through the paused
    passes: the young generations hold it, and a full collection of a large heap (a test
    process, a sweep in one process) costs about 0.5 s per timed point."""
    gc.collect(1)


def repeated(
    run_pass: Callable[[], TimedPass],
    warm_up: Callable[[], None],
    repeats: int,
    guard: Guard,
    label: str = "pass",
) -> Timing:
    """Warm up, then `repeats` timed passes; a disturbed one is warmed up and timed again while
    the series has retries left (`guard`: a budget for all its passes, so that a machine that
    stays busy costs a few pauses, not a few per pass), and the series logs one line for its
    retries. The collector is paused while passes run: a collection inside a pass is this
    process's own noise."""
    warm_up()
    _collect_young()
    gc.disable()
    passes: list[TimedPass] = []
    # The shares (other processes', run-queue wait) of each disturbed attempt timed again; not
    # the attempts themselves, which hold the engine's results.
    redone: list[tuple[float, float]] = []
    left = guard.retries
    try:
        for _ in range(repeats):
            timed = run_pass()
            while guard.disturbed(timed) and left > 0:
                left -= 1
                redone.append((timed.other_cpu_share, timed.wait_share))
                gc.enable()  # the pause is outside any pass
                time.sleep(guard.pause_s)
                # The pause let other work into the caches the pass had warmed: warm them again,
                # as the first pass had them.
                warm_up()
                _collect_young()
                gc.disable()
                attempts = timed.attempts + 1
                timed = run_pass()
                timed.attempts = attempts
            passes.append(timed)
    finally:
        gc.enable()
    if redone:
        _log_retries(label, passes, redone, left)
    return Timing(passes)


def _log_retries(
    label: str, passes: list[TimedPass], redone: list[tuple[float, float]], left: int
) -> None:
    """One line for a series' retries, with the worst shares of the attempts it redid (each
    kept pass records its attempts)."""
    waits = [wait for _, wait in redone if not math.isnan(wait)]
    waited = f"waited runnable up to {100 * max(waits):.0f}%" if waits else "wait not measured"
    log.info(
        "%s: %d of %d passes retried (other processes up to %.0f%% of the CPU, %s), "
        "%d retries left",
        label,
        sum(p.attempts > 1 for p in passes),
        len(passes),
        100 * max(other for other, _ in redone),
        waited,
        left,
    )


def one_client(step: Step, n: int, label: str, warmup: int, repeats: int, guard: Guard) -> Timing:
    """Warm up with `warmup` queries, then `repeats` one-client passes over the n queries."""
    return repeated(
        lambda: timed_pass(step, n, label),
        lambda: warm_up(step, warmup),
        repeats,
        guard,
        label,
    )


def warm_up(step: Step, n: int) -> None:
    for i in range(n):
        step(i)
