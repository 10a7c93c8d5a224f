"""Wall time per named stage of a run, so the cost around the measurement is visible."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from vssbench.progress import Expected


class Stopwatch:
    """Accumulates seconds per stage name; `metrics()` gives them as `stage.<name>_s`.
    `current` names the stage under way (for the memory sampler), or "other"; `expected` holds
    how long a stage should take, where something predicts it (the ETA of a long build)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current = "other"
        self.expected: dict[str, Expected] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, outer = time.perf_counter(), self.current
        self.current = name
        try:
            yield
        finally:
            self.current = outer
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def metrics(self) -> dict[str, float]:
        return {f"stage.{name}_s": seconds for name, seconds in self.seconds.items()}
