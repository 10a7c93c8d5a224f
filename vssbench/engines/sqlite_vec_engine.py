"""sqlite-vec: SQLite's vec0 virtual table, a scan of every vector in SQL (no approximate index);
a filter is a vec0 metadata column the KNN scan checks, or a post-filter in numpy."""

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import apsw
import numpy as np
import sqlite_vec

from vssbench.data import filters
from vssbench.engines.library import LibraryEngine, Result
from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.engines.registry import NoOptions
from vssbench.engines.seam import Unsupported

if TYPE_CHECKING:  # the memory probe imports this module alone
    import pandas as pd

# vec0's distance_metric: L2 is the Euclidean distance, the order of vssbench's l2sq; vec0 has
# no inner product (the registry declares the metrics it computes).
DISTANCE = {"cosine": "cosine", "l2sq": "L2"}
# vec0 metadata column types, by numpy dtype kind (filters.doc_values: text, or the float
# attribute).
METADATA_TYPE = {"f": "float", "U": "text"}
# vec0 returns a KNN's rows nearest first: an ORDER BY distance would add a sort (a temp
# B-tree in the plan) to every query.
KNN = "SELECT id, distance FROM docs WHERE embedding MATCH ? AND k = ?"
READ_WRITE = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE


def connect(path: Path | str, flags: int = READ_WRITE) -> apsw.Connection:
    """A connection with sqlite-vec loaded: apsw, as this Python's sqlite3 cannot load
    extensions."""
    con = apsw.Connection(str(path), flags=flags)
    con.enable_load_extension(True)
    con.load_extension(sqlite_vec.loadable_path())
    con.enable_load_extension(False)  # nothing else loads code into it
    return con


def metadata(corpus: "pd.DataFrame") -> dict[str, np.ndarray]:
    """The filter columns the corpus has, with the values filters.py compares."""
    return {c: filters.doc_values(corpus, c) for c in filters.OPERATOR if c in corpus}


def create_sql(dim: int, metric: str, columns: dict[str, np.ndarray]) -> str:
    # DDL takes no bound parameters: dim is an int, the metric and the columns closed sets.
    extra = "".join(f", {c} {METADATA_TYPE[v.dtype.kind]}" for c, v in columns.items())
    return (
        "CREATE VIRTUAL TABLE docs USING vec0(id INTEGER PRIMARY KEY, "
        f"embedding float[{int(dim)}] distance_metric={DISTANCE[metric]}{extra})"
    )


def blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, np.float32).tobytes()


def rows(cursor: apsw.Cursor) -> Result:
    found = np.array(cursor.fetchall(), np.float64).reshape(-1, 2)
    return found[:, 0].astype(np.int64), found[:, 1]


class SqliteVec(LibraryEngine):
    """The index is the database file: a connection reads it through SQLite's page cache."""

    name = "sqlite_vec"
    suffix = ".sqlite"
    pre_filter = "a vec0 metadata column constraint in the KNN query's WHERE"

    def __init__(self, threads: int, options: NoOptions | None = None) -> None:
        super().__init__(threads, options)
        self._path: Path | None = None
        self._filter_sql = ""

    @property
    def uses_index(self) -> bool:
        return False

    def prepare(self) -> None:
        """sqlite-vec's library loaded, through a connection to no file: attach's own
        connection then shares the loaded library."""
        self.index = connect(":memory:")

    # -- the index ------------------------------------------------------------------------
    def _build(self, vectors: np.ndarray, build: HnswBuild) -> apsw.Connection:
        """The table in an in-memory database, in one transaction; _save copies it."""
        columns = metadata(self._corpus)
        con = connect(":memory:")
        con.execute(create_sql(vectors.shape[1], build.metric, columns))
        names = ", ".join(["id", "embedding", *columns])
        marks = ", ".join("?" * (2 + len(columns)))
        values = [v.tolist() for v in columns.values()]  # Python str and float bind
        with con:
            con.executemany(
                f"INSERT INTO docs({names}) VALUES ({marks})",
                zip(range(len(vectors)), map(blob, vectors), *values, strict=True),
            )
        return con

    def _save(self, index: apsw.Connection, path: Path) -> None:
        """SQLite's online backup copies the database's pages into the cache's file."""
        dest = apsw.Connection(str(path))
        try:
            with dest.backup("main", index, "main") as copy:
                copy.step()  # every page at once
        finally:
            dest.close()
            index.close()

    def _load(self, path: Path, metric: str, dim: int) -> apsw.Connection:
        self._path = path
        return connect(path, apsw.SQLITE_OPEN_READONLY)

    def client(self) -> "SqliteVec":
        """Another client: its own connection to the same file, as an SQLite connection serves
        one thread at a time (apsw releases the GIL while SQLite runs a statement)."""
        other = type(self)(self.threads)
        other._dim, other._metric = self._dim, self._metric
        other._corpus, other.build = self._corpus, self.build
        other.index = other._load(self._path, self._metric, self._dim)
        other.set_query(self.settings)
        return other

    def close(self) -> None:
        if self.index is not None:
            self.index.close()
        self.index = None

    # -- queries --------------------------------------------------------------------------
    def set_query(self, settings: QuerySettings) -> None:
        column = settings.column  # from a closed enum (FilterKind)
        if column is not None:
            self._filter_sql = f"{KNN} AND {column} {filters.OPERATOR[column]} ?"
        super().set_query(settings)

    def _set_ef(self, ef: int) -> None:
        """An exact scan has no ef."""

    def query(self, vector: np.ndarray, value: object = None) -> Result:
        """exact: the scan's own top k, filtered by the KNN itself where there is a filter."""
        s = self.settings
        if s.strategy != "exact":
            return super().query(vector, value)
        if s.column is None:
            return self._search(vector, s.limit)
        return self._search_pre(vector, s.limit, value)

    def _search(self, vector: np.ndarray, count: int) -> Result:
        return rows(self.index.execute(KNN, (blob(vector), count)))

    def _search_pre(self, vector: np.ndarray, count: int, value: object) -> Result:
        return rows(self.index.execute(self._filter_sql, (blob(vector), count, value)))

    def _statement(self, vector: np.ndarray | None, value: object) -> tuple[str, tuple]:
        """The SQL a query runs and its parameters (the vector None: unbound)."""
        s = self.settings
        vec = None if vector is None else blob(vector)
        if s.column is not None and s.strategy in ("exact", "pre"):
            return self._filter_sql, (vec, s.limit, value)
        return KNN, (vec, s.limit if s.rows_asked is None else s.rows_asked)

    @property
    def sql(self) -> str:
        return self._statement(None, None)[0]

    def explain(self, vector: np.ndarray, value: object = None) -> str:
        """What a query runs, its SQL and SQLite's plan of it (vec0's idxStr: 3 is its KNN)."""
        sql, params = self._statement(vector, value)
        plan = self.index.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        steps = "\n".join(row[-1] for row in plan)
        return f"{super().explain(vector, value)}\n{sql}\n{steps}"

    def batch(self, vectors: np.ndarray) -> NoReturn:
        raise Unsupported("sqlite-vec's KNN takes one query vector per statement")

    # -- facts ----------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        if self.index is None:
            return {}
        (version,) = self.index.execute("SELECT vec_version()").fetchone()
        return {
            "sqlite_vec.version": version,
            "sqlite_vec.distance_metric": DISTANCE[self._metric],
            "sqlite_vec.sqlite": apsw.sqlite_lib_version(),
        }

    def versions(self) -> dict[str, str]:
        return {
            **super().versions(),
            "apsw": apsw.apsw_version(),
            "sqlite": apsw.sqlite_lib_version(),
        }

    def index_info(self) -> dict[str, float]:
        (count,) = self.index.execute("SELECT count(*) FROM docs").fetchone()
        return {**super().index_info(), "index_count": float(count)}
