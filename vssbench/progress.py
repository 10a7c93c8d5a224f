"""Progress of long steps in the log: counted steps with an ETA, and a heartbeat for opaque ones."""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("vssbench")


class Progress:
    """Logs `label: done/total, elapsed, ETA` at each tenth of `total`, for totals worth it."""

    def __init__(self, label: str, total: int, min_total: int = 1) -> None:
        self.label = label
        self.total = total
        self.step = max(total // 10, 1)
        # A quiet counter never reaches its next mark: one comparison per call.
        self.next = self.step if total >= min_total else float("inf")
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        if done < self.next:
            return
        self.next = (done // self.step + 1) * self.step
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done)
        log.info("%s: %d/%d, %.0f s, ETA %.0f s", self.label, done, self.total, elapsed, eta)


@dataclass(frozen=True)
class Expected:
    """How long a step should take, with its 95% interval, and what says so."""

    seconds: float
    low: float
    high: float
    basis: str


def eta_text(elapsed: float, expected: Expected | None) -> str:
    """`ETA 440 s (expected 560 s, 95% 420-750 s)`; past the expectation, by how much. The basis
    is logged once, where the expectation is made."""
    if expected is None:
        return "no ETA"
    span = f"expected {expected.seconds:.0f} s, 95% {expected.low:.0f}-{expected.high:.0f} s"
    left = expected.seconds - elapsed
    head = f"ETA {left:.0f} s" if left > 0 else f"{-left:.0f} s past the expected time"
    return f"{head} ({span})"


@contextmanager
def heartbeat(label: str, expected: Expected | None, interval: float = 10.0) -> Iterator[None]:
    """Every `interval` s, log the time elapsed and the ETA from `expected`. DuckDB's own
    query_progress() is no measure of an index build: it stopped at 66% on a 250k x 1024 build
    that was done."""
    stop = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not stop.wait(interval):
            elapsed = time.perf_counter() - start
            log.info("%s: %.0f s elapsed, %s", label, elapsed, eta_text(elapsed, expected))

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
