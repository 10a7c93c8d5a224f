"""DuckDB with the vss extension's HNSW index (and fts for BM25), behind the engine seam."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa

from vssbench.engines.duckdb import changes, index_file, sql
from vssbench.engines.duckdb.queries import DISTANCE_FUNCTION, QueryShape, bm25_query, vector_query
from vssbench.engines.params import HnswBuild, QuerySettings, cached_index, timed_build
from vssbench.engines.registry import DuckDBOptions, DuckDBVssOptions
from vssbench.engines.seam import Unsupported
from vssbench.measure.memory import rss_mb
from vssbench.stopwatch import Stopwatch

if TYPE_CHECKING:  # data.load imports faker and scipy, which the memory probe must not load
    import pandas as pd

    from vssbench.data.load import Dataset

log = logging.getLogger(__name__)


def row_ids(rows: list[tuple]) -> np.ndarray:
    """The ids of (id, distance or score) rows, in their order."""
    return np.array([r[0] for r in rows], np.int64)


class DuckDBVss:
    name = "duckdb_vss"
    checks_plan = True  # explain() fails unless the plan uses the index as the shape says

    def __init__(self, threads: int, options: DuckDBOptions | None = None) -> None:
        """`options` default to the registry's (the memory probe passes threads only); DuckDBExact's
        are DuckDBOptions, without reuse_index, which its open() does not read."""
        self.threads = threads
        self.options = DuckDBVssOptions() if options is None else options
        self.lmr = self.options.late_materialization_max_rows
        self.con: duckdb.DuckDBPyConnection | None = None
        self.settings: QuerySettings | None = None
        self._shape: QueryShape | None = None
        self._dim = 0
        self._metric = ""
        self._batch_sql = ""
        self._batch_n = 0
        self._corpus: pd.DataFrame | None = None  # workload=churn: metadata of inserted rows
        self._path: Path | None = None  # workload=churn: the writable database file
        self.index_path: Path | None = None  # the cached index file open() attached

    # -- the index ------------------------------------------------------------------------
    def open(
        self,
        data: "Dataset",
        build: HnswBuild,
        data_key: dict,
        cache_root: Path | None,
        watch: Stopwatch,
        retime: bool = False,
    ) -> dict[str, float]:
        """Docs with their HNSW index: the cached index file attached read-only (built first if
        missing), or, without a cache root, a fresh build in memory. Returns the build's time
        and memory (measured when it was built) and the time to open it here (`load_s`), plus
        `index_reused` (1 or 0)."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        if cache_root is None or not self.options.reuse_index:
            with watch.stage("index_open"):
                self.con = sql.connect(self.threads, self.lmr)
            t = time.perf_counter()
            sql.load_documents(self.con, data.corpus, data.doc_vectors)
            load_s = time.perf_counter() - t
            _log_build_start(*data.doc_vectors.shape, build)
            with watch.stage("index_build"):
                facts = timed_build(lambda: self._build_in_memory(build, watch))
            log.info("index_memory_mb is measured on index files only (engine.reuse_index=true)")
            return {**facts, "load_s": load_s, "index_reused": 0.0}

        versions = {"duckdb": duckdb.__version__, "vss": version("duckdb-extension-vss")}

        def build_into(tmp: Path) -> dict[str, float]:
            _log_build_start(*data.doc_vectors.shape, build)
            with watch.stage("index_build"):
                return index_file.build(
                    tmp,
                    data.corpus,
                    data.doc_vectors,
                    {
                        "metric": build.metric,
                        "M": build.M,
                        "ef_construction": build.ef_construction,
                    },
                    build.threads,
                    watch.expected("index_build"),
                )

        path, facts, reused = cached_index(
            cache_root, data_key, build, versions, ".duckdb", build_into, retime
        )
        self.index_path = path
        t = time.perf_counter()
        with watch.stage("index_open"):
            self.con = sql.connect(self.threads, self.lmr)
            sql.attach_index_file(self.con, path)
        return {**facts, "load_s": time.perf_counter() - t, "index_reused": float(reused)}

    def _build_in_memory(self, build: HnswBuild, watch: Stopwatch) -> dict[str, float]:
        expected = watch.expected("index_build")
        t = time.perf_counter()
        sql.build_hnsw(self.con, build.metric, build.M, build.ef_construction, expected)
        return {"index_build_s": time.perf_counter() - t}

    # -- a changing table (workload=churn) ---------------------------------------------------
    def open_mutable(
        self,
        data: "Dataset",
        build: HnswBuild,
        ids: np.ndarray,
        path: Path | None,
        watch: Stopwatch,
    ) -> dict[str, float]:
        """A writable docs table of the documents `ids` with its HNSW index, in the database
        file `path` (checkpointed after the build) or in memory (None); the build's facts."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        self._corpus, self._path = data.corpus, path
        self.con = sql.connect(self.threads, self.lmr, path or ":memory:")
        self.con.execute("SET force_compression = 'uncompressed'")  # as the cached index files
        sql.load_documents(self.con, data.corpus.iloc[ids], data.doc_vectors[ids])
        _log_build_start(len(ids), data.doc_vectors.shape[1], build)
        with watch.stage("index_build"):
            facts = timed_build(lambda: self._build_in_memory(build, watch))
        self.checkpoint()
        return facts

    def without_index(self, data: "Dataset", ids: np.ndarray) -> "DuckDBVss":
        """The same rows in a table of their own, in memory, without an index."""
        plain = type(self)(self.threads, self.options)
        plain._corpus, plain._dim = data.corpus, data.doc_vectors.shape[1]
        plain.con = sql.connect(self.threads, self.lmr)
        sql.load_documents(plain.con, data.corpus.iloc[ids], data.doc_vectors[ids])
        return plain

    def reopen(self, path: Path, corpus: "pd.DataFrame", metric: str, dim: int) -> None:
        """A database file opened after a crash: attached once vss is loaded, since replaying
        a WAL that holds HNSW changes needs the extension (upstream duckdb-vss #65)."""
        self._dim, self._metric, self._corpus, self._path = dim, metric, corpus, path
        self.con = sql.connect(self.threads, self.lmr)
        literal = "'" + str(path).replace("'", "''") + "'"  # ATTACH takes no parameters
        self.con.execute(f"ATTACH {literal} AS churned")
        self.con.execute("USE churned")

    def insert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        changes.insert(self.con, changes.rows_of(self._corpus, ids, vectors))

    def delete(self, ids: np.ndarray) -> None:
        changes.delete(self.con, ids)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        changes.update(self.con, ids, vectors)

    def compact(self) -> str:
        """What compaction runs; the deleted entries leave the graph."""
        changes.compact(self.con)
        return "PRAGMA hnsw_compact_index"

    def checkpoint(self) -> bool:
        """The WAL written into the database file (false in memory: nothing to checkpoint)."""
        if self._path is not None:
            changes.checkpoint(self.con)
        return self._path is not None

    def storage(self) -> dict[str, float]:
        """The index's memory as vss reports it, the database file's and the WAL's size."""
        memory = sql.index_info(self.con)["index_approx_memory_mb"]
        return {"index_memory_mb": memory, **changes.storage(self._path)}

    def prepare(self) -> None:
        """Connected, extensions loaded, no index yet (the memory probe's baseline)."""
        self.con = sql.connect(self.threads, self.lmr)

    def attach(self, path: Path, metric: str, dim: int) -> None:
        """Open an index file without data (the memory probe), after prepare()."""
        self._dim, self._metric = dim, metric
        sql.attach_index_file(self.con, path)

    def open_texts(
        self, data: "Dataset", doc_tokens: list[str], column: str | None, bm25: str
    ) -> dict[str, float]:
        """The BM25 index over the tokenized documents, queried as `bm25` (search.bm25) with
        the filter on `column`; its build time and RSS growth."""
        self._bm25 = bm25_query(column, bm25)
        sql.load_texts(self.con, data.corpus, doc_tokens)
        rss_before = rss_mb()
        t = time.perf_counter()
        sql.build_fts(self.con)
        facts = {"fts_build_s": time.perf_counter() - t, "fts_memory_mb": rss_mb() - rss_before}
        log.info("FTS index built in %.1f s", facts["fts_build_s"])
        return facts

    # -- queries --------------------------------------------------------------------------
    def set_query(self, settings: QuerySettings) -> None:
        """The settings of the next measurement point."""
        self.settings = settings
        self._shape = vector_query(self._metric, self._dim, settings.strategy, settings.column)
        sql.set_ef_search(self.con, settings.ef_search)

    @property
    def sql(self) -> str:
        return self._shape.sql

    @property
    def batch_sql(self) -> str:
        return self._batch_sql

    @property
    def uses_index(self) -> bool:
        return self._shape.uses_index

    def _params(self, vector: np.ndarray, value: object) -> list:
        s = self.settings
        return self._shape.params(vec=vector, value=value, k=s.limit, fetch=s.rows_asked)

    def query(self, vector: np.ndarray, value: object = None) -> list[tuple]:
        """(id, distance) rows, nearest first."""
        return self.con.execute(self._shape.sql, self._params(vector, value)).fetchall()

    # What a query returned, read outside the clock.
    ids = staticmethod(row_ids)

    @staticmethod
    def scores(rows: list[tuple]) -> np.ndarray:
        return np.array([r[1] for r in rows], np.float64)

    def explain(self, vector: np.ndarray, value: object = None) -> str:
        plan = sql.explain(self.con, self._shape.sql, self._params(vector, value))
        sql.check_plan(plan, self._shape.uses_index)
        return plan

    def text_query(self, text: str, value: object, limit: int) -> list[tuple]:
        """(id, BM25 score) rows, best first."""
        shape = self._bm25
        return self.con.execute(shape.sql, shape.params(text=text, value=value, k=limit)).fetchall()

    @property
    def text_sql(self) -> str:
        return self._bm25.sql

    def bm25_matches(self, ids: np.ndarray, texts: list[str]) -> np.ndarray:
        """Whether BM25 scores document ids[i] for query texts[i] at all."""
        return sql.bm25_matches(self.con, ids, texts)

    def client(self) -> "DuckDBVss":
        """Another client of the same database: its own cursor, the same query settings."""
        other = type(self)(self.threads, self.options)
        other.con = self.con.cursor()
        other._dim, other._metric = self._dim, self._metric
        sql.copy_search_path(self.con, other.con)
        other.set_query(self.settings)
        return other

    # -- batch ----------------------------------------------------------------------------
    @contextmanager
    def batch(self, vectors: np.ndarray) -> Iterator[str]:
        """Load the query vectors as a table for `batch_query` and yield its plan, checked for
        HNSW_INDEX_JOIN. Raises Unsupported with a filter: this vss build drops a WHERE inside
        the LATERAL join, so a filtered batch would silently answer another question."""
        s = self.settings
        if s.column is not None:
            raise Unsupported(
                f"batch search with a filter (filter.strategy={s.strategy}): this vss build "
                "drops a WHERE inside the LATERAL join"
            )
        table = pa.table(
            {
                "qid": np.arange(len(vectors), dtype=np.int32),
                "qvec": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1)), self._dim
                ),
            }
        )
        self.con.register("batch_arrow", table)
        try:
            # A table typed FLOAT[dim]: over a registered view, or with a cast in the join,
            # the plan falls back to a brute-force scan.
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE batch_queries AS "
                f"SELECT qid, qvec::FLOAT[{self._dim}] AS qvec FROM batch_arrow"
            )
        finally:
            self.con.unregister("batch_arrow")
        # LIMIT inside the LATERAL is a validated int; the metric picks from a closed mapping.
        self._batch_n = len(vectors)
        self._batch_sql = (
            f"SELECT q.qid, d.id, d.dist FROM batch_queries q, LATERAL (SELECT id, "
            f"{DISTANCE_FUNCTION[self._metric]}(vec, q.qvec) AS dist FROM docs "
            f"ORDER BY dist LIMIT {int(s.limit)}) d"
        )
        # Without this, the optimizer turns the join into an exact window top-n (notes). Set
        # for the whole batch phase, so the timed statement is the query alone. Without an index
        # the window top-n is the fast exact plan: kept.
        if self.uses_index:
            self.con.execute("SET disabled_optimizers = 'top_n_window_elimination'")
        try:
            plan = sql.explain(self.con, self._batch_sql, [])
            if ("HNSW_INDEX_JOIN" in plan) != self.uses_index:
                raise sql.PlanCheckError(
                    f"batch plan {'lacks' if self.uses_index else 'has'} HNSW_INDEX_JOIN:\n{plan}"
                )
            yield plan
        finally:
            self.con.execute("RESET disabled_optimizers")

    def batch_query(self) -> list[np.ndarray]:
        """All queries loaded by `batch` in one statement; ids per query, nearest first."""
        table = self.con.execute(self._batch_sql).to_arrow_table()
        qid = table["qid"].to_numpy()
        # The join gives rows in no particular order: by query, then nearest first.
        order = np.lexsort((table["dist"].to_numpy(), qid))
        ids = table["id"].to_numpy().astype(np.int64)[order]
        bounds = np.searchsorted(qid[order], np.arange(self._batch_n + 1))
        return [ids[bounds[i] : bounds[i + 1]] for i in range(self._batch_n)]

    # -- facts ----------------------------------------------------------------------------
    def index_info(self) -> dict[str, float]:
        return sql.index_info(self.con)

    def describe(self) -> dict[str, str]:
        return {f"duckdb.{n}": v for n, v in sql.settings(self.con).items()}

    def versions(self) -> dict[str, str]:
        return sql.versions(self.con)

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


class DuckDBExact(DuckDBVss):
    """The brute-force scan in DuckDB: no index, every row's distance; the recall 1.0 baseline
    and its cost."""

    name = "duckdb_exact"

    def open(
        self,
        data: "Dataset",
        build: HnswBuild,
        data_key: dict,
        cache_root: Path | None,
        watch: Stopwatch,
        retime: bool = False,
    ) -> dict[str, float]:
        """The documents in memory, uncompressed like the index files (compressed columns are
        decompressed on every scan)."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        t = time.perf_counter()
        with watch.stage("index_open"):
            self.con = sql.connect(self.threads, self.lmr)
            self.con.execute("SET force_compression = 'uncompressed'")
            sql.load_documents(self.con, data.corpus, data.doc_vectors)
        return {"load_s": time.perf_counter() - t}

    def index_info(self) -> dict[str, float]:
        return {}


def _log_build_start(n: int, dim: int, build: HnswBuild) -> None:
    log.info(
        "building HNSW index: %d x %d, M=%d, ef_construction=%d, %s",
        n,
        dim,
        build.M,
        build.ef_construction,
        build.metric,
    )
