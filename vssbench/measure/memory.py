"""Process memory, sampled on a background thread, so the peak of one run is known in a reused
worker; the processes a run starts and waits for (a build, the index probe) are counted with it."""

import contextlib
import ctypes
import gc
import subprocess
import threading
from collections.abc import Callable

import psutil

MB = 2**20

# Processes this one started and waits for: their memory is the run's as much as its own.
_CHILDREN: set[psutil.Process] = set()


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / MB


def give_back() -> None:
    """Return the memory Python has freed to the OS: glibc's malloc keeps freed heap pages
    (a cold 250k x 1024 run still held 2 GB after generating its data, through its build)."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator returns memory its own way
        return
    libc.malloc_trim(0)


def tree_rss_mb() -> float:
    """RSS of this process and of the children it waits for (shared pages counted in each)."""
    total = rss_mb()
    for child in list(_CHILDREN):
        with contextlib.suppress(psutil.NoSuchProcess):  # it has just ended
            total += child.memory_info().rss / MB
    return total


def run_counted(command: list[str], **popen: object) -> subprocess.CompletedProcess:
    """subprocess.run(command, **popen) with the child's RSS counted in every PeakRss."""
    with subprocess.Popen(command, **popen) as process:
        watched = psutil.Process(process.pid)
        _CHILDREN.add(watched)
        try:
            out, err = process.communicate()
        finally:
            _CHILDREN.discard(watched)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


class PeakRss:
    """Context manager sampling RSS (tree_rss_mb) every `interval` seconds; `.peak_mb` is the
    maximum seen, `.by_label` the maximum while `label()` named each stage (where the peak comes
    from)."""

    def __init__(self, interval: float = 0.05, label: Callable[[], str] = lambda: "run") -> None:
        self.interval = interval
        self.label = label
        self.peak_mb = 0.0
        self.by_label: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _record(self) -> None:
        now, label = tree_rss_mb(), self.label()
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
# - building the index in the run's process (peer engines, duckdb_vss without a cached index
#   file): DuckDB's copy of every (row id, vector), the index (usearch keeps its own vectors)
#   and what DuckDB keeps cached besides (2.8x the vectors at 100k x 1024, 2.0x at 250k x 1024);
# - building a duckdb_vss index file in a process of its own (engines/duckdb/index_file.py):
#   that process's libraries (BUILD_PROCESS_MB), its memory_limit (CREATE INDEX's collection of
#   every (row id, vector) with room to scan) and the index beside it; 250k x 1024 peaked at
#   2389 MB there under a 1250 MB limit;
# - querying: the index loaded from its file (1.6-1.9x the extension's own estimate) and
#   the table blocks DuckDB caches while it fetches result rows (up to the vectors' size).
BASE_MB = 450
METADATA_BYTES_PER_DOC = 300
CORPUS_TEXT_BYTES_PER_DOC = 5000
GRAPH_BYTES_PER_DOC_PER_M = 48
LOADED_INDEX_FACTOR = 1.75
FTS_BYTES_PER_DOC = 1500
KIWI_MODEL_MB = 450
BUILD_PROCESS_MB = 150


def estimate_mb(
    n_docs: int,
    dim: int,
    m: int,
    hybrid: bool,
    process_mb: float = BASE_MB,
    kiwi_loaded: bool = False,
    build_limit_mb: float | None = None,
) -> float:
    """Expected peak RSS of one run and the processes it waits for; logged beside the measured
    peak so it can be checked.

    `process_mb` is what the process holds when the run starts: a sweep runs its jobs one
    after another in one process, which keeps what earlier jobs loaded (kiwi's model, 450 MB,
    stays after a hybrid job: the vector runs after it peaked at 920-1020 MB at 10k, against
    an estimate of 510-660 made for a fresh process). `build_limit_mb`: the memory_limit of an
    index build in a process of its own; None for a build in the run's process."""
    vectors = n_docs * dim * 4
    index = n_docs * (dim * 4 + GRAPH_BYTES_PER_DOC_PER_M * m)
    if build_limit_mb is None:
        build = 3 * vectors + n_docs * (dim * 4 + 8) + index
    else:
        build = (BUILD_PROCESS_MB + build_limit_mb) * MB + index
    phases = (
        n_docs * CORPUS_TEXT_BYTES_PER_DOC + vectors,  # generating data
        build,  # building the index
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
