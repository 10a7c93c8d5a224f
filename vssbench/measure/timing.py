"""The timing harness, engine-agnostic: warm-up, repeated timed passes over the queries (one
client or several), and how much CPU other processes took while the clock ran."""

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from vssbench.measure import accuracy
from vssbench.progress import Progress

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

    @property
    def qps(self) -> float:
        return len(self.results) / self.elapsed_s


TICK_S = 0.01  # the resolution of the kernel's CPU time counters (USER_HZ 100)


class _CpuOfOthers:
    """CPU time the machine spent outside this process between start and stop, as a share of
    all its cores over that wall time."""

    def __enter__(self) -> "_CpuOfOthers":
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
        t = self._me.cpu_times()
        return t.user + t.system


def timed_pass(step: Step, n: int, label: str) -> TimedPass:
    """One client: every query alone, nothing but the query inside the clock."""
    latencies = np.empty(n, np.int64)
    results = []
    progress = Progress(label, n, min_total=1000)
    with _CpuOfOthers() as others:
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
    with _CpuOfOthers() as others:
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
    with _CpuOfOthers() as others:
        start = clock()
        results = run()
        elapsed = clock() - start
    return TimedPass(results, np.array([elapsed]), elapsed / 1e9, others.share, others.resolution)


@dataclass
class Timing:
    """Repeated passes of the same queries; the best pass (highest QPS) is the one reported, as
    ann-benchmarks does, with the median and spread beside it."""

    passes: list[TimedPass]

    @property
    def best(self) -> TimedPass:
        return max(self.passes, key=lambda p: p.qps)

    def summary(self) -> dict[str, float]:
        qps = np.array([p.qps for p in self.passes])
        best = self.best
        return {
            "qps": best.qps,
            "qps_median": float(np.median(qps)),
            "qps_spread": float((qps.max() - qps.min()) / np.median(qps)),
            "timed_passes": float(len(self.passes)),
            "other_cpu_share": best.other_cpu_share,
            "other_cpu_share_max": max(p.other_cpu_share for p in self.passes),
            "other_cpu_share_resolution": best.other_cpu_resolution,
            **accuracy.latency_summary(best.latencies_ns),
        }


def repeated(
    run_pass: Callable[[], TimedPass], warm_up: Callable[[], None], repeats: int
) -> Timing:
    """Warm up once, then `repeats` timed passes."""
    warm_up()
    return Timing([run_pass() for _ in range(repeats)])


def one_client(step: Step, n: int, label: str, warmup: int, repeats: int) -> Timing:
    """Warm up with `warmup` queries, then `repeats` one-client passes over the n queries."""
    return repeated(lambda: timed_pass(step, n, label), lambda: warm_up(step, warmup), repeats)


def warm_up(step: Step, n: int) -> None:
    for i in range(n):
        step(i)
