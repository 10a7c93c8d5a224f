"""Wall time per named stage of a run, so the cost around the measurement is visible."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from vssbench.progress import Expected


class Stopwatch:
    """Accumulates seconds per stage name; `metrics()` gives them as `stage.<name>_s`.
    `current` names the stage under way (for the memory sampler), or "other"; `expect` holds,
    per stage, what predicts how long it should take (the ETA of a long build)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current = "other"
        self.expect: dict[str, Callable[[], Expected | None]] = {}

    def expected(self, stage: str) -> Expected | None:
        """How long `stage` should take, predicted when asked: only a build that happens reads
        the store for it (0.5 s in a 50-run store), not a run that reuses its index."""
        predict = self.expect.get(stage)
        return predict() if predict else None

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
