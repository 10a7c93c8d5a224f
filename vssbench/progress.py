"""Progress of long steps in the log: counted steps with an ETA, and a heartbeat for opaque ones."""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def heartbeat(label: str, percent: Callable[[], float], interval: float = 10.0) -> Iterator[None]:
    """Every `interval` s, log elapsed time and `percent()` (DuckDB's own estimate, which is
    uneven for an index build: no ETA is derived from it)."""
    stop = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not stop.wait(interval):
            done = percent()
            shown = f"{done:.0f}% by DuckDB's estimate, " if done >= 0 else ""
            log.info("%s: %s%.0f s elapsed", label, shown, time.perf_counter() - start)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
