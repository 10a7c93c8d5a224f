"""A cached DuckDB index file built in processes of its own: one loads the table, one builds the
index under a memory_limit, so the run's process never holds DuckDB's copies of the vectors.

    python -m vssbench.engines.duckdb.index_file load|index SPEC.json

Measured at 50k x 1024 (195 MB of vectors, scripts/build_memory.py): the build's process
peaked at 993 MB without a limit and 679 MB under this one (308 MB); under 156 MB, below
CREATE INDEX's 196 MB collection, DuckDB refused the build. What is left is DuckDB's own floor:
the collection of every (row id, vector) that CREATE INDEX makes before it builds
(buffer-managed, it cannot spill) and the index, which keeps its own copy of the vectors.
"""

import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vssbench import faults, mapped
from vssbench.engines.duckdb import sql
from vssbench.engines.index_probe import index_memory_mb
from vssbench.measure.memory import MB, rss_mb, run_counted
from vssbench.progress import Expected

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# CREATE INDEX's collection is buffer-managed and cannot spill: a limit below it fails the
# build (50k x 1024: 156 MB against a 196 MB collection raised OutOfMemory). Above it, the
# limit only bounds the table blocks DuckDB caches while it scans; the index itself is not
# counted against it.
LIMIT_FACTOR = 1.25
LIMIT_SLACK_MB = 64
# The load appends 64 MB chunks (sql.LOAD_CHUNK_BYTES); without a limit DuckDB keeps every
# written block cached: the 50k x 1024 load peaked at 767 MB, 517 MB under this limit.
LOAD_LIMIT_MB = 256


def memory_limit_mb(n_docs: int, dim: int) -> int:
    """The build's memory_limit: its collection of (row id, vector) with room to scan."""
    collection_mb = n_docs * (dim * 4 + 8) / MB
    return int(collection_mb * LIMIT_FACTOR + LIMIT_SLACK_MB)


def build(
    path: Path,
    corpus: "pd.DataFrame",
    vectors: np.ndarray,
    hnsw: dict,
    threads: int,
    expected: Expected | None = None,
) -> dict[str, float]:
    """The database file `path` with docs and its HNSW index, checkpointed; the build's facts.

    A build that dies under the limit (DuckDB has aborted the process on OutOfMemory inside a
    worker thread) is run again without one, and the facts say so
    (index_build_memory_limit_mb 0, index_build_attempts 2). A full disk is raised at once (an
    OSError, not a ChildBuildError): the build without a limit writes the same file."""
    with tempfile.TemporaryDirectory(prefix="index-build-") as tmp:
        scratch = Path(tmp)
        spec = {
            "path": str(path),
            "metadata": str(_metadata_file(corpus, scratch)),
            "vectors": str(_vectors_file(vectors, scratch)),
            "hnsw": hnsw,
            "threads": threads,
            "expected": None if expected is None else asdict(expected),
        }
        limits = (memory_limit_mb(*vectors.shape), 0)
        for attempt, limit_mb in enumerate(limits, start=1):
            for leftover in (path, path.with_name(path.name + ".wal")):
                leftover.unlink(missing_ok=True)  # a failed attempt's
            try:
                _child("load", {**spec, "memory_limit_mb": limit_mb and LOAD_LIMIT_MB}, scratch)
                facts = _child("index", {**spec, "memory_limit_mb": limit_mb}, scratch)
            except ChildBuildError as error:
                if limit_mb == 0:
                    raise
                log.warning("%s; building again without a memory_limit", error)
                continue
            facts["index_build_memory_limit_mb"] = float(limit_mb)
            facts["index_build_attempts"] = float(attempt)
            break
    facts["index_memory_mb"] = index_memory_mb("duckdb_vss", path, hnsw["metric"], vectors.shape[1])
    facts["index_file_mb"] = path.stat().st_size / MB
    return facts


class ChildBuildError(RuntimeError):
    """A step of the index build failed in its process."""

    kind = "index build failed"  # one line, not a bug's traceback: its log says why


def _metadata_file(corpus: "pd.DataFrame", scratch: Path) -> Path:
    out = scratch / "index-metadata.parquet"
    columns = ["id", *(c for c in sql.DOC_METADATA if c in corpus)]
    corpus[columns].to_parquet(out, index=False)
    return out


def _vectors_file(vectors: np.ndarray, scratch: Path) -> Path:
    """The .npy file behind mapped vectors (all of its rows), else a copy in the scratch dir."""
    if isinstance(vectors, np.memmap) and str(vectors.filename or "").endswith(".npy"):
        whole = mapped.open_npy(Path(vectors.filename))
        if (whole.shape, whole.offset) == (vectors.shape, vectors.offset):
            return Path(vectors.filename)
    out = scratch / "index-vectors.npy"
    np.save(out, np.ascontiguousarray(vectors, np.float32))
    return out


def _child(step: str, spec: dict, scratch: Path) -> dict:
    """Run one step in a fresh process (its RSS counted in the run's peak); its log lines are
    passed on to this process's log as they come; its facts, or the file a full disk kept it
    from writing, from its last stdout line."""
    spec_file = scratch / f"index-{step}.json"
    spec_file.write_text(json.dumps(spec))
    command = [sys.executable, "-m", "vssbench.engines.duckdb.index_file", step, str(spec_file)]
    done = run_counted(command, stdout=subprocess.PIPE, stderr=None, text=True)
    full = faults.child_no_space(f"the index {step} step", done.returncode, done.stdout)
    if full is not None:
        raise full
    if done.returncode != 0:
        limit = spec["memory_limit_mb"]
        under = f" under memory_limit={limit} MB" if limit else ""
        raise ChildBuildError(
            f"the index {step} step{under} failed (exit {done.returncode}; its log is above)"
        )
    return json.loads(done.stdout.strip().splitlines()[-1]) if step == "index" else {}


# -- the child ------------------------------------------------------------------------------


def _load(spec: dict) -> dict:
    import pandas as pd

    con = sql.connect(spec["threads"], 0, spec["path"])
    try:
        if spec["memory_limit_mb"]:
            con.execute("SET memory_limit = ?", [f"{spec['memory_limit_mb']}MB"])
        # Compressed columns are decompressed on every scan: an exact (brute-force) filtered
        # query ran at 255 QPS on a compressed file, 706 uncompressed, 671 in memory (10k x 128).
        con.execute("SET force_compression = 'uncompressed'")
        vectors = mapped.open_npy(Path(spec["vectors"]))
        sql.load_documents(con, pd.read_parquet(spec["metadata"]), vectors)
        con.execute("CHECKPOINT")  # the table's blocks on disk: the build may evict them
    finally:
        con.close()
    return {}


def _index(spec: dict) -> dict:
    con = sql.connect(spec["threads"], 0, spec["path"])
    try:
        if spec["memory_limit_mb"]:
            con.execute("SET memory_limit = ?", [f"{spec['memory_limit_mb']}MB"])
        hnsw = spec["hnsw"]
        rss_before, start = rss_mb(), time.perf_counter()
        expected = Expected(**spec["expected"]) if spec["expected"] else None
        sql.build_hnsw(con, hnsw["metric"], hnsw["M"], hnsw["ef_construction"], expected)
        build_s = time.perf_counter() - start
        rss_growth = rss_mb() - rss_before
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return {"index_build_s": build_s, "build_rss_growth_mb": rss_growth}


def main() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
    )
    step, spec = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    facts = {"load": _load, "index": _index}[step](spec)
    print(json.dumps(facts))


if __name__ == "__main__":
    # A full disk is reported on stdout, which the parent reads: stderr is the run's console.
    faults.child_main(main, report=sys.stdout)
