"""Where a duckdb_vss index build's memory goes: the build's own processes at several memory
limits, on a cached vectors file.

    uv run python scripts/build_memory.py VECTORS.npy [--limits none,auto,0.8] [--rows N]

It runs the two steps of vssbench's build (engines/duckdb/index_file.py) as the benchmark does,
each in a fresh process, and prints each step's peak RSS (the kernel's high-water mark) next to
the raw vectors and to CREATE INDEX's collection of every (row id, vector), the floor the
limit cannot go under. --limits: `none` (no memory_limit), `auto` (the one vssbench sets), or
a multiple of the collection (0.8 is below it: DuckDB refuses the build, which is the point).
VECTORS.npy is a vectors file of a run's cache (cache_dir/vectors/*.npy); --rows takes its
first N rows. The index file is written to a temp dir and removed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench.engines.duckdb import index_file

MB = 2**20


def step(name: str, spec: dict, scratch: Path) -> tuple[int, float]:
    """Run one build step in a fresh process: its exit status and peak RSS in MB."""
    spec_file = scratch / f"{name}.json"
    spec_file.write_text(json.dumps(spec))
    command = [sys.executable, "-m", "vssbench.engines.duckdb.index_file", name, str(spec_file)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vectors", type=Path)
    parser.add_argument("--limits", default="none,auto")
    parser.add_argument("--rows", type=int, default=0, help="the file's first N rows (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="build-memory-") as tmp:
        scratch = Path(tmp)
        vectors = np.load(args.vectors, mmap_mode="r")
        if args.rows:
            vectors_path = scratch / "vectors.npy"
            np.save(vectors_path, np.ascontiguousarray(vectors[: args.rows]))
            vectors = np.load(vectors_path, mmap_mode="r")
        else:
            vectors_path = args.vectors
        n, dim = vectors.shape
        metadata = scratch / "metadata.parquet"
        pd.DataFrame({"id": np.arange(n, dtype=np.int32)}).to_parquet(metadata)
        raw = n * dim * 4 / MB
        collection = n * (dim * 4 + 8) / MB
        print(f"{n} x {dim}: vectors {raw:.0f} MB, CREATE INDEX's collection {collection:.0f} MB")
        print(f"{'limit MB':>10} {'load peak':>10} {'build peak':>11} {'x vectors':>10}  exit")
        for limit in args.limits.split(","):
            if limit == "none":
                limit_mb = 0
            elif limit == "auto":
                limit_mb = index_file.memory_limit_mb(n, dim)
            else:
                limit_mb = int(float(limit) * collection)
            path = scratch / "index.duckdb"
            path.unlink(missing_ok=True)
            spec = {
                "path": str(path),
                "metadata": str(metadata),
                "vectors": str(vectors_path),
                "hnsw": {"metric": "cosine", "M": 16, "ef_construction": 128},
                "threads": 2,
                "expected": None,
            }
            load_limit = index_file.LOAD_LIMIT_MB if limit_mb else 0
            _, load_peak = step("load", {**spec, "memory_limit_mb": load_limit}, scratch)
            code, build_peak = step("index", {**spec, "memory_limit_mb": limit_mb}, scratch)
            shown = limit_mb or "none"
            print(
                f"{shown:>10} {load_peak:>10.0f} {build_peak:>11.0f} "
                f"{build_peak / raw:>10.2f}  {code}",
                flush=True,
            )


if __name__ == "__main__":
    main()
