"""DuckDB with the VSS and FTS extensions from PyPI: connection, loading, HNSW build, plan checks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
from duckdb_extensions import import_extension

from vssbench import mapped
from vssbench.progress import Expected, heartbeat

if TYPE_CHECKING:  # only for annotations: the index probe process need not import pandas
    import pandas as pd

EXTENSIONS = ("vss", "fts")


class PlanCheckError(RuntimeError):
    """The query plan is not what the benchmark claims to measure."""


def connect(
    threads: int, late_materialization_max_rows: int, database: str | Path = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """A database with vss and fts installed from the PyPI wheels (no network) and loaded."""
    con = duckdb.connect(str(database))
    for name in EXTENSIONS:
        import_extension(name, con=con)  # copies the wheel's binary into the extension dir
        con.execute(f"LOAD {name}")
    if str(database) == ":memory:":  # a file database spills beside itself
        # DuckDB's default is .tmp in the working directory; this puts spills with the run's
        # other temp files, which are removed even after a kill (vssbench/scratch.py).
        con.execute("SET temp_directory = ?", [tempfile.gettempdir()])
    # DuckDB draws a progress bar on stdout for a long statement (an index build): the log
    # says how a build is going.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = ?", [threads])
    con.execute("SET late_materialization_max_rows = ?", [late_materialization_max_rows])
    # Needed to store an HNSW index in a file. Safe here: an indexed table is never changed
    # after its build (the notes: deletes and WAL recovery are not safe in this vss build).
    con.execute("SET hnsw_enable_experimental_persistence = true")
    return con


def attach_index_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Make the docs table of an index file queryable as `docs`, read-only: no run can change
    what later runs read, and no copy is needed. Tables a run creates stay in memory."""
    # ATTACH takes no bound parameters: the path is quoted as an SQL string literal.
    literal = "'" + str(path).replace("'", "''") + "'"
    con.execute(f"ATTACH {literal} AS indexed (READ_ONLY)")
    # Unqualified names: this run's own tables first, then the attached docs.
    con.execute("SET search_path = 'memory.main,indexed.main'")


def copy_search_path(source: duckdb.DuckDBPyConnection, to: duckdb.DuckDBPyConnection) -> None:
    """A cursor starts with the default search path; an attached index needs the source's."""
    path = source.execute("SELECT current_setting('search_path')").fetchone()[0]
    if path:
        to.execute("SET search_path = '" + path.replace("'", "''") + "'")


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


LOAD_CHUNK_BYTES = 64 * 2**20
# Metadata columns of the docs table, where the dataset has them (a file may have none).
DOC_METADATA = ("category", "region", "attribute", "published", "price")
FILTER_METADATA = ("category", "region", "attribute")


def metadata_columns(frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, pa.Array]:
    """The named columns `frame` has, as Arrow arrays (the text columns as strings)."""
    text = ("category", "region")
    return {
        name: pa.array(frame[name].to_numpy(dtype=str) if name in text else frame[name].to_numpy())
        for name in names
        if name in frame
    }


def load_documents(
    con: duckdb.DuckDBPyConnection,
    corpus: pd.DataFrame,
    vectors: np.ndarray,
) -> None:
    """Create table docs(id, <the DOC_METADATA the corpus has>, vec FLOAT[dim]) through Arrow, in
    chunks of about 64 MB of vectors, one transaction; mapped vector pages are given back."""
    dim = vectors.shape[1]
    step = max(1, LOAD_CHUNK_BYTES // (dim * 4))
    con.execute("BEGIN")
    for start in range(0, len(vectors), step):
        part = corpus.iloc[start : start + step]
        chunk = np.ascontiguousarray(vectors[start : start + step])
        columns = {
            "id": pa.array(part["id"].to_numpy()),
            **metadata_columns(part, DOC_METADATA),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(chunk.reshape(-1)), dim),
        }
        con.register("docs_arrow", pa.table(columns))
        try:
            verb = "CREATE TABLE docs AS" if start == 0 else "INSERT INTO docs"
            con.execute(f"{verb} SELECT * FROM docs_arrow")
        finally:
            con.unregister("docs_arrow")
        mapped.release(vectors)
    con.execute("COMMIT")
    column_type = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'docs' AND column_name = 'vec'"
    ).fetchone()[0]
    if column_type != f"FLOAT[{dim}]":
        raise PlanCheckError(f"docs.vec loaded as {column_type}, expected FLOAT[{dim}]")


def build_hnsw(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    m: int,
    ef_construction: int,
    expected: Expected | None = None,
) -> None:
    """CREATE INDEX, with a heartbeat in the log (its ETA from `expected`)."""
    # DDL options cannot be bound parameters; the values are validated ints and a closed enum.
    with heartbeat("HNSW index build", expected):
        con.execute(
            f"CREATE INDEX docs_hnsw ON docs USING HNSW (vec) "
            f"WITH (metric = '{metric}', M = {int(m)}, ef_construction = {int(ef_construction)})"
        )


# Hangul must survive: the documented default ignore pattern '(\\.|[^a-z])+' deletes it. The text
# is tokenized already (tokenize.py), so no stemmer and no English stopwords.
FTS_OPTIONS = (
    "stemmer = 'none', stopwords = 'none', strip_accents = 0, lower = 1, "
    "ignore = '[^\\p{L}\\p{N}]+'"
)


def load_texts(con: duckdb.DuckDBPyConnection, corpus: pd.DataFrame, tokens: list[str]) -> None:
    """Table texts(id, <the FILTER_METADATA the corpus has>, tokens) for BM25, apart from the indexed docs
    table."""
    table = pa.table(
        {
            "id": pa.array(corpus["id"].to_numpy()),
            **metadata_columns(corpus, FILTER_METADATA),
            "tokens": pa.array(tokens, pa.string()),
        }
    )
    con.register("texts_arrow", table)
    try:
        con.execute("CREATE TABLE texts AS SELECT * FROM texts_arrow")
    finally:
        con.unregister("texts_arrow")


def build_fts(con: duckdb.DuckDBPyConnection, options: str = FTS_OPTIONS) -> None:
    """BM25 index over texts.tokens; PRAGMA arguments cannot be bound, the options are constants."""
    con.execute(f"PRAGMA create_fts_index('texts', 'id', 'tokens', {options}, overwrite = 1)")


def bm25_scores_of(con: duckdb.DuckDBPyConnection, ids: np.ndarray, texts: list[str]) -> np.ndarray:
    """BM25 score of document ids[i] for query texts[i] (NaN where no query term matches it)."""
    sql = "SELECT fts_main_texts.match_bm25(?::INTEGER, ?)"
    scores = [con.execute(sql, [int(i), t]).fetchone()[0] for i, t in zip(ids, texts, strict=True)]
    return np.array([np.nan if s is None else s for s in scores])


def bm25_matches(con: duckdb.DuckDBPyConnection, ids: np.ndarray, texts: list[str]) -> np.ndarray:
    """Whether match_bm25 would score document ids[i] for query texts[i] (some query term is in
    it), for all queries in one statement over the FTS tables instead of one macro call each."""
    queries = pa.table({"i": np.arange(len(ids)), "doc": np.asarray(ids), "text": texts})
    con.register("bm25_check_queries", queries)
    try:
        rows = con.execute(
            "WITH q AS (SELECT DISTINCT i, doc, unnest(fts_main_texts.tokenize(text)) AS term "
            "FROM bm25_check_queries) "
            "SELECT DISTINCT q.i FROM q "
            "JOIN fts_main_texts.dict d ON d.term = q.term "
            "JOIN fts_main_texts.docs docs ON docs.name = q.doc "
            "JOIN fts_main_texts.terms t ON t.docid = docs.docid AND t.termid = d.termid"
        ).fetchall()
    finally:
        con.unregister("bm25_check_queries")
    found = np.zeros(len(ids), bool)
    found[[r[0] for r in rows]] = True
    return found


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
