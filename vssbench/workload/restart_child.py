"""One restart (workload/restart.py): a fresh process imports the engine, opens the cached index,
answers one query, then the steady-state queries; it writes the moments (epoch seconds) and the
bytes it read from storage."""

import pickle
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vssbench.engines.params import QuerySettings


@dataclass(frozen=True)
class RestartJob:
    """What a restart opens and asks; light to unpickle, so the engine's import is what is timed."""

    engine: str
    threads: int
    options: object
    path: Path
    metric: str
    dim: int
    settings: QuerySettings
    queries: np.ndarray


def _read_bytes() -> float:
    """Bytes this process had the storage layer fetch (Linux /proc/self/io), in MB."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def main(job_file: str, out: str) -> None:
    job = pickle.loads(Path(job_file).read_bytes())
    from vssbench.engines.registry import engine_class

    eng = engine_class(job.engine)(job.threads, job.options)
    imported = time.time()
    eng.prepare()
    eng.attach(job.path, job.metric, job.dim)
    eng.set_query(job.settings)
    opened = time.time()
    eng.ids(eng.query(job.queries[0]))
    answered = time.time()
    latencies = []
    for vector in job.queries[1:]:
        t = time.perf_counter_ns()
        eng.query(vector)
        latencies.append(time.perf_counter_ns() - t)
    stamps = {
        "imported": imported,
        "opened": opened,
        "answered": answered,
        "steady_p50_ms": float(np.median(latencies)) / 1e6 if latencies else float("nan"),
        "read_mb": _read_bytes(),
    }
    eng.close()
    Path(out).write_bytes(pickle.dumps(stamps))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except BaseException as error:
        # Imported only now: the restart is timed from its spawn, and importing faults took
        # 2-3 ms of it on the 2-core VM.
        from vssbench import faults

        faults.exit_if_no_space(error)
        raise
