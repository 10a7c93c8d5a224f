"""`python -m vssbench.engines.index_probe ENGINE FILE METRIC DIM`: prints the RSS (MB) a fresh process
gains by opening an engine's index file and answering one query, i.e. the memory the loaded
index takes. The engine's library is imported and connected before the first reading."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from vssbench import faults
from vssbench.engines.params import QuerySettings
from vssbench.engines.registry import engine_class
from vssbench.measure.memory import rss_mb, run_counted


def index_memory_mb(engine: str, path: Path, metric: str, dim: int) -> float:
    """RSS a fresh process gains by opening the index and answering one query.

    RSS growth across a build is no measure: the allocator hands out memory the process freed
    before (it logged 124-335 MB for a 250k x 1024 DuckDB index that takes 2 GB loaded).
    """
    probe = [
        sys.executable,
        "-m",
        "vssbench.engines.index_probe",
        engine,
        str(path),
        metric,
        str(dim),
    ]
    out = run_counted(probe, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    full = faults.child_no_space("the index memory probe", out.returncode, out.stderr)
    if full is not None:
        raise full
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines() or ["(no output)"]
        raise RuntimeError(f"index memory probe failed (exit {out.returncode}): {lines[-1]}")
    return float(out.stdout.split()[-1])


def main() -> None:
    name, path, metric, dim = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    eng = engine_class(name)(threads=1)
    eng.prepare()  # the library loaded (DuckDB: connected, extensions loaded): not the index
    before = rss_mb()
    # The index is read from the file when a query first uses it.
    eng.attach(path, metric, dim)
    eng.set_query(QuerySettings(ef_search=64, limit=1))
    eng.query(np.ones(dim, np.float32))
    print(f"{rss_mb() - before:.1f}")


if __name__ == "__main__":
    faults.child_main(main)
