"""Process memory, sampled on a background thread, so the peak of one run is known in a reused worker."""

import threading

import psutil

MB = 2**20


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


class PeakRss:
    """Context manager sampling RSS every `interval` seconds; `.peak_mb` is the maximum seen."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_mb = max(self.peak_mb, rss_mb())
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())
