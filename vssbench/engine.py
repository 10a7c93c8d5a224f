"""DuckDB with the VSS and FTS extensions from PyPI: connection, loading, HNSW build, plan checks."""

import time

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from duckdb_extensions import import_extension

EXTENSIONS = ("vss", "fts")


class PlanCheckError(RuntimeError):
    """The query plan is not what the benchmark claims to measure."""


def connect(threads: int, late_materialization_max_rows: int) -> duckdb.DuckDBPyConnection:
    """In-memory database with vss and fts installed from the PyPI wheels (no network) and loaded."""
    con = duckdb.connect(":memory:")
    for name in EXTENSIONS:
        import_extension(name, con=con)  # copies the wheel's binary into the extension dir
        con.execute(f"LOAD {name}")
    con.execute("SET threads = ?", [threads])
    con.execute("SET late_materialization_max_rows = ?", [late_materialization_max_rows])
    return con


def settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    names = ("threads", "late_materialization_max_rows", "hnsw_ef_search")
    return {
        name: str(con.execute("SELECT current_setting(?)", [name]).fetchone()[0]) for name in names
    }


def versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "SELECT extension_name, extension_version FROM duckdb_extensions() WHERE loaded"
        " AND extension_name IN ('vss', 'fts')"
    ).fetchall()
    return {"duckdb": duckdb.__version__, **{name: version for name, version in rows}}


def load_documents(
    con: duckdb.DuckDBPyConnection, corpus: pd.DataFrame, vectors: np.ndarray
) -> None:
    """Create table docs(id, category, region, published, price, vec FLOAT[dim]) through Arrow."""
    dim = vectors.shape[1]
    table = pa.table(
        {
            "id": pa.array(corpus["id"].to_numpy()),
            "category": pa.array(corpus["category"].to_numpy(dtype=str)),
            "region": pa.array(corpus["region"].to_numpy(dtype=str)),
            "published": pa.array(corpus["published"].to_numpy()),
            "price": pa.array(corpus["price"].to_numpy()),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
        }
    )
    con.register("docs_arrow", table)
    try:
        con.execute("CREATE TABLE docs AS SELECT * FROM docs_arrow")
    finally:
        con.unregister("docs_arrow")
    column_type = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'docs' AND column_name = 'vec'"
    ).fetchone()[0]
    if column_type != f"FLOAT[{dim}]":
        raise PlanCheckError(f"docs.vec loaded as {column_type}, expected FLOAT[{dim}]")


def build_hnsw(con: duckdb.DuckDBPyConnection, metric: str, m: int, ef_construction: int) -> None:
    # DDL options cannot be bound parameters; the values are validated ints and a closed enum.
    con.execute(
        f"CREATE INDEX docs_hnsw ON docs USING HNSW (vec) "
        f"WITH (metric = '{metric}', M = {int(m)}, ef_construction = {int(ef_construction)})"
    )


def index_info(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    row = con.execute(
        "SELECT approx_memory_usage, count, levels FROM pragma_hnsw_index_info() "
        "WHERE index_name = 'docs_hnsw'"
    ).fetchone()
    return {"index_approx_memory_mb": row[0] / 2**20, "index_count": row[1], "index_levels": row[2]}


def set_ef_search(con: duckdb.DuckDBPyConnection, ef_search: int) -> None:
    con.execute("SET hnsw_ef_search = ?", [ef_search])


def explain(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> str:
    return "\n".join(row[1] for row in con.execute("EXPLAIN " + sql, params).fetchall())


def check_plan(plan: str, expect_index: bool) -> None:
    """Fail unless the plan uses the HNSW index exactly when the query shape says it should."""
    uses_index = "HNSW_INDEX_SCAN" in plan or "HNSW_INDEX_JOIN" in plan
    if uses_index != expect_index:
        expected = "HNSW_INDEX_SCAN" if expect_index else "an exact scan without the HNSW index"
        raise PlanCheckError(
            f"query plan does not match what is measured: expected {expected}.\n{plan}"
        )


def timed_queries(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[list], warmup: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Run the warm-up queries, then time every query alone; nothing but the query in the clock."""
    for p in params[:warmup]:
        con.execute(sql, p).fetchall()
    latencies = np.empty(len(params), np.int64)
    rows = []
    for i, p in enumerate(params):
        start = time.perf_counter_ns()
        result = con.execute(sql, p).fetchall()
        latencies[i] = time.perf_counter_ns() - start
        rows.append(result)
    return [np.array([r[0] for r in result], np.int64) for result in rows], latencies
