"""The timing harness, engine-agnostic: warm-up, repeated timed passes over the queries (one
client or several), and how much CPU other processes took while the clock ran."""

import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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

    @property
    def n_queries(self) -> int:
        return len(self.results) if self.ids is None else len(self.ids)

    @property
    def qps(self) -> float:
        return self.n_queries / self.elapsed_s


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


def timed_pass(step: Step, n: int, label: str) -> TimedPass:
    """One client: every query alone, nothing but the query inside the clock."""
    latencies = np.empty(n, np.int64)
    results = []
    progress = Progress(label, n, min_total=1000)
    with CpuOfOthers() as others:
        for i in range(n):
            start = clock()
            results.append(step(i))
            latencies[i] = clock() - start
            progress.update(i + 1)  # outside the clock
    return TimedPass(results, latencies, latencies.sum() / 1e9, others.share, others.resolution)


def concurrent_pass(steps: list[Step], n: int) -> TimedPass:
    """len(steps) clients, each a thread with its own step (its own cursor), taking the next
    query from a shared counter until all n are answered; QPS is n over the wall time."""
    latencies = np.empty(n, np.int64)
    results: list = [None] * n
    counter = itertools.count()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(step: Step) -> None:
        try:
            while True:
                with lock:
                    i = next(counter)
                if i >= n:
                    return
                start = clock()
                results[i] = step(i)
                latencies[i] = clock() - start
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

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
    return TimedPass(results, latencies, wall_s, others.share, others.resolution)


def batch_pass(run: Callable[[], list]) -> TimedPass:
    """All queries in one call (one statement); `run` returns per query what was found."""
    with CpuOfOthers() as others:
        start = clock()
        results = run()
        elapsed = clock() - start
    return TimedPass(results, np.array([elapsed]), elapsed / 1e9, others.share, others.resolution)


@dataclass(frozen=True)
class Guard:
    """When a pass is redone: other processes took more than max_share of the CPU while it ran.
    It is timed again after pause_s, at most `retries` times in a series (all its passes); the
    last attempt is kept either way."""

    max_share: float
    retries: int
    pause_s: float


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
    """Warm up once, then `repeats` timed passes; a disturbed one is timed again while the
    series has retries left (`guard`: a budget for all its passes, so that a machine that stays
    busy costs a few pauses, not a few per pass). The collector is paused while they run: a
    collection inside a pass is this process's own noise."""
    warm_up()
    _collect_young()
    gc.disable()
    passes: list[TimedPass] = []
    left = guard.retries
    try:
        for _ in range(repeats):
            timed = run_pass()
            while timed.other_cpu_share > guard.max_share and left > 0:
                left -= 1
                log.info(
                    "%s disturbed (other processes took %.0f%% of the CPU): again in %gs "
                    "(%d of %d retries left)",
                    label,
                    100 * timed.other_cpu_share,
                    guard.pause_s,
                    left,
                    guard.retries,
                )
                gc.enable()  # the pause is outside any pass
                time.sleep(guard.pause_s)
                _collect_young()
                gc.disable()
                attempts = timed.attempts + 1
                timed = run_pass()
                timed.attempts = attempts
            passes.append(timed)
    finally:
        gc.enable()
    return Timing(passes)


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
