"""Inserts, deletes and updates on an indexed docs table, compaction, checkpoints and what the
database file and its WAL weigh: the SQL of workload=churn. Values go in as Arrow tables or
bound parameters."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from vssbench.engines.duckdb import sql
from vssbench.measure.memory import MB


def rows_of(corpus: pd.DataFrame, ids: np.ndarray, vectors: np.ndarray) -> pa.Table:
    """docs rows for `ids`: their metadata from the corpus (ids are its positions), `vectors`."""
    part = corpus.iloc[ids]
    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1))
    return pa.table(
        {
            "id": pa.array(part["id"].to_numpy()),
            **sql.metadata_columns(part, sql.DOC_METADATA),
            "vec": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )


def insert(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    con.register("churn_rows", rows)
    try:
        con.execute("INSERT INTO docs SELECT * FROM churn_rows")
    finally:
        con.unregister("churn_rows")


def delete(con: duckdb.DuckDBPyConnection, ids: np.ndarray) -> None:
    con.register("churn_ids", pa.table({"id": pa.array(np.asarray(ids))}))
    try:
        con.execute("DELETE FROM docs WHERE id IN (SELECT id FROM churn_ids)")
    finally:
        con.unregister("churn_ids")


def update(con: duckdb.DuckDBPyConnection, ids: np.ndarray, vectors: np.ndarray) -> None:
    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1))
    table = pa.table(
        {"id": pa.array(np.asarray(ids)), "vec": pa.FixedSizeListArray.from_arrays(flat, dim)}
    )
    con.register("churn_updates", table)
    try:
        # DuckDB runs an UPDATE of an indexed column as a delete and an insert.
        con.execute(
            f"UPDATE docs SET vec = u.vec::FLOAT[{int(dim)}] FROM churn_updates u "
            "WHERE docs.id = u.id"
        )
    finally:
        con.unregister("churn_updates")


def compact(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("PRAGMA hnsw_compact_index('docs_hnsw')")


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CHECKPOINT")


def storage(path: Path | None) -> dict[str, float]:
    """The database file's and its WAL's size in MB (nothing for an in-memory database)."""
    if path is None:
        return {}
    wal = path.with_name(path.name + ".wal")
    return {
        "file_mb": path.stat().st_size / MB,
        "wal_mb": wal.stat().st_size / MB if wal.exists() else 0.0,
    }


def row_count(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM docs").fetchone()[0])
