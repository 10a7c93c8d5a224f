"""Process memory, sampled on a background thread, so the peak of one run is known in a reused worker."""

import threading
from collections.abc import Callable

import psutil

MB = 2**20


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


class PeakRss:
    """Context manager sampling RSS every `interval` seconds; `.peak_mb` is the maximum seen,
    `.by_label` the maximum while `label()` named each stage (where the peak comes from)."""

    def __init__(self, interval: float = 0.05, label: Callable[[], str] = lambda: "run") -> None:
        self.interval = interval
        self.label = label
        self.peak_mb = 0.0
        self.by_label: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _record(self) -> None:
        now, label = rss_mb(), self.label()
        self.peak_mb = max(self.peak_mb, now)
        self.by_label[label] = max(self.by_label.get(label, 0.0), now)

    def _sample(self) -> None:
        while True:
            self._record()
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._record()


# The peak is the largest of a run's phases, each on top of the process with its libraries
# (BASE_MB) and the documents' metadata. Fitted to the per-stage peaks of the 12-run grid
# `-m scale=10k,100k,250k dim=128,256,512,1024` (README, "Memory"):
# - generating data (cold cache): the corpus text, its features, one copy of the vectors;
# - building the index: DuckDB's copy of every (row id, vector), the index (usearch keeps its
#   own vectors) and what DuckDB keeps cached besides (2.8x the vectors at 100k x 1024, 2.0x
#   at 250k x 1024);
# - querying: the index loaded from its file (1.6-1.9x the extension's own estimate) and
#   the table blocks DuckDB caches while it fetches result rows (up to the vectors' size).
BASE_MB = 450
METADATA_BYTES_PER_DOC = 300
CORPUS_TEXT_BYTES_PER_DOC = 5000
GRAPH_BYTES_PER_DOC_PER_M = 48
LOADED_INDEX_FACTOR = 1.75
FTS_BYTES_PER_DOC = 1500
KIWI_MODEL_MB = 450


def estimate_mb(
    n_docs: int,
    dim: int,
    m: int,
    hybrid: bool,
    process_mb: float = BASE_MB,
    kiwi_loaded: bool = False,
) -> float:
    """Expected peak RSS of one run; logged beside the measured peak so it can be checked.

    `process_mb` is what the process holds when the run starts: a sweep runs its jobs one
    after another in one process, which keeps what earlier jobs loaded (kiwi's model, 450 MB,
    stays after a hybrid job: the vector runs after it peaked at 920-1020 MB at 10k, against
    an estimate of 510-660 made for a fresh process)."""
    vectors = n_docs * dim * 4
    index = n_docs * (dim * 4 + GRAPH_BYTES_PER_DOC_PER_M * m)
    phases = (
        n_docs * CORPUS_TEXT_BYTES_PER_DOC + vectors,  # generating data
        3 * vectors + n_docs * (dim * 4 + 8) + index,  # building the index
        LOADED_INDEX_FACTOR * index + vectors,  # querying
    )
    total = max(BASE_MB, process_mb) * MB + n_docs * METADATA_BYTES_PER_DOC + max(phases)
    if hybrid:
        total += n_docs * FTS_BYTES_PER_DOC + (0 if kiwi_loaded else KIWI_MODEL_MB * MB)
    return total / MB


def available_mb() -> float:
    return psutil.virtual_memory().available / MB


class MemoryGuardError(RuntimeError):
    """A run would not fit in the memory left for it."""

    kind = "not enough memory"  # how the one-line message before it calls the problem


def check_memory(estimate: float, concurrent_jobs: int, available: float) -> None:
    share = available / concurrent_jobs
    if estimate <= share:
        return
    if concurrent_jobs > 1:
        where = f" ({available:.0f} MB available / {concurrent_jobs} concurrent jobs); "
        where += "lower hydra.launcher.n_jobs, or set force_memory=true to run anyway"
    else:
        where = "; set force_memory=true to run anyway"
    raise MemoryGuardError(
        f"this run needs about {estimate:.0f} MB but {share:.0f} MB is available to it{where}"
    )
