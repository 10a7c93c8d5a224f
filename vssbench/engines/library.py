"""What the in-process ANN libraries (usearch, hnswlib, faiss) share behind the seam: an index
file cached like DuckDB's, filters applied after the search (post, overfetch) or by the library
during it (pre), batches through the library's own many-query call."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vssbench.data import filters
from vssbench.engines.index_probe import index_memory_mb
from vssbench.engines.params import HnswBuild, QuerySettings, cached_index, timed_build
from vssbench.engines.registry import ENGINES, NoOptions
from vssbench.engines.seam import Unsupported
from vssbench.measure.memory import MB, rss_mb
from vssbench.stopwatch import Stopwatch

if TYPE_CHECKING:  # data.load imports faker and scipy, which the memory probe must not load
    from vssbench.data.load import Dataset

log = logging.getLogger(__name__)

Result = tuple[np.ndarray, np.ndarray]  # ids, distances; nearest first


def file_mb(path: Path) -> float:
    """Size of an index file, or of every file under an index directory."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB
    return path.stat().st_size / MB


class LibraryEngine:
    """Subclasses give the library calls: _build, _save, _load, _search, _search_pre, _batch."""

    name = ""
    suffix = ".index"
    checks_plan = False  # a library has no query plan: explain() describes the call
    pre_filter = ""  # how the library filters during the search, for explain()

    def __init__(self, threads: int, options: NoOptions | None = None) -> None:
        """`options` only for the seam's `cls(threads, options)`: these libraries have none."""
        self.threads = threads
        self.index = None
        self.settings: QuerySettings | None = None
        self._dim = 0
        self._metric = ""
        self._corpus: pd.DataFrame | None = None
        self._doc_values: np.ndarray | None = None
        self._batch_vectors: np.ndarray | None = None
        self.build: HnswBuild | None = None
        # The queries the library raised on (answered with no rows), by their vector: a query
        # fails in every pass and at every ef point, and counts once.
        self.failed_queries: set[bytes] = set()
        self.index_path: Path | None = None  # the cached index file open() loaded

    # -- a changing index (workload=churn) --------------------------------------------------
    def open_mutable(
        self,
        data: "Dataset",
        build: HnswBuild,
        ids: np.ndarray,
        path: Path | None,
        watch: Stopwatch,
    ) -> dict[str, float]:
        """An index of the documents `ids` that takes inserts and deletes, in memory (`path`
        is for engines that keep a database); the build's facts."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        self._corpus, self.build = data.corpus, build
        with watch.stage("index_build"):

            def build_rows() -> dict[str, float]:
                t = time.perf_counter()
                self.index = self._empty(self._dim, build, len(data.corpus))
                self._add(ids, data.doc_vectors[ids])
                return {"index_build_s": time.perf_counter() - t}

            return timed_build(build_rows)

    def insert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._add(ids, vectors)

    def delete(self, ids: np.ndarray) -> None:
        self._remove(ids)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A new vector for existing ids: removed and added again, unless the library replaces."""
        self._remove(ids)
        self._add(ids, vectors)

    def compact(self) -> str:
        """What the library's compaction runs; "" when it has none."""
        return ""

    def without_index(self, data: "Dataset", ids: np.ndarray) -> None:
        """A library has no table apart from its index."""
        return None

    def checkpoint(self) -> bool:
        """An in-memory index has nothing to write."""
        return False

    def storage(self) -> dict[str, float]:
        return {}

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
        """The index: the cached file loaded, built first if missing (engine.reuse_index=false
        is for DuckDB only). Returns build time and memory, load time and index_reused."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        self._corpus, self.build = data.corpus, build
        versions = {"engine": self.name, "library": self.library_version(), **self.index_options()}

        def build_into(tmp: Path) -> dict[str, float]:
            with watch.stage("index_build"):
                index, facts = self._timed_build(data.doc_vectors, build)
                self._save(index, tmp)
                del index
            facts["index_file_mb"] = file_mb(tmp)
            facts["index_memory_mb"] = index_memory_mb(self.name, tmp, build.metric, self._dim)
            return facts

        path, facts, reused = cached_index(
            cache_root, data_key, build, versions, self.suffix, build_into, retime
        )
        self.index_path = path
        t = time.perf_counter()
        with watch.stage("index_open"):
            self.index = self._load(path, build.metric, self._dim)
        return {**facts, "load_s": time.perf_counter() - t, "index_reused": float(reused)}

    def prepare(self) -> None:
        """The library imported, no index yet (the memory probe's baseline)."""

    def attach(self, path: Path, metric: str, dim: int) -> None:
        """Open an index file without data (the memory probe), after prepare()."""
        self._dim, self._metric = dim, metric
        self.index = self._load(path, metric, dim)

    def _timed_build(self, vectors: np.ndarray, build: HnswBuild) -> tuple[object, dict]:
        rss_before, t = rss_mb(), time.perf_counter()
        index = self._build(np.ascontiguousarray(vectors, np.float32), build)
        return index, {
            "index_build_s": time.perf_counter() - t,
            "build_rss_growth_mb": rss_mb() - rss_before,
        }

    # -- queries --------------------------------------------------------------------------
    def set_query(self, settings: QuerySettings) -> None:
        self.settings = settings
        self._set_ef(settings.ef_search)
        if settings.column is not None and self._corpus is not None:
            self._doc_values = filters.doc_values(self._corpus, settings.column)
            self._prepare_filter(
                {v: filters.matches(settings.column, self._doc_values, v) for v in settings.values}
            )

    @property
    def uses_index(self) -> bool:
        return True

    def query(self, vector: np.ndarray, value: object = None) -> Result:
        s = self.settings
        if s.strategy == "pre":
            return self._search_pre(vector, s.limit, value)
        ids, dist = self._search(vector, s.rows_asked)
        if s.strategy in ("post", "overfetch"):
            keep = filters.matches(s.column, self._doc_values[ids], value)
            return ids[keep][: s.limit], dist[keep][: s.limit]
        return ids, dist

    @staticmethod
    def ids(result: Result) -> np.ndarray:
        return np.asarray(result[0], np.int64)

    @staticmethod
    def scores(result: Result) -> np.ndarray:
        return np.asarray(result[1], np.float64)

    def explain(self, vector: np.ndarray, value: object = None) -> str:
        """What a query runs, in words (a library has no plan to show)."""
        s = self.settings
        what = {
            "none": f"top {s.limit} from the index",
            "post": f"top {s.rows_asked} from the index, then {s.column} = value in numpy",
            "overfetch": f"top {s.rows_asked} from the index, then {s.column} = value, "
            f"then top {s.limit}",
            "pre": f"top {s.limit} from the index, {s.column} = value checked during the search "
            f"({self.pre_filter})",
            "exact": f"top {s.limit} by a scan of every vector"
            + (f" with {s.column} = value ({self.pre_filter})" if s.column else ""),
        }[s.strategy]
        return f"{self.name}: {what}; {self.describe()}"

    def client(self) -> "LibraryEngine":
        """The library's searches are thread-safe and release the GIL: clients share it."""
        return self

    # -- batch ----------------------------------------------------------------------------
    @contextmanager
    def batch(self, vectors: np.ndarray) -> Iterator[str]:
        s = self.settings
        if s.column is not None:
            raise Unsupported(
                f"batch search with a filter (filter.strategy={s.strategy}): {self.name} takes "
                "one filter for a whole batch, and each query here has its own value"
            )
        self._batch_vectors = np.ascontiguousarray(vectors, np.float32)
        try:
            yield f"{self.name}: {len(vectors)} queries in one call, {self.threads} threads"
        finally:
            self._batch_vectors = None

    @property
    def batch_sql(self) -> str:
        return ""

    def batch_query(self) -> list[np.ndarray]:
        ids = self._batch(self._batch_vectors, self.settings.limit)
        return [np.asarray(row[row >= 0], np.int64) for row in ids]

    # -- facts ----------------------------------------------------------------------------
    @property
    def sql(self) -> str:
        return self.explain(None)

    def index_info(self) -> dict[str, float]:
        return {"failed_queries": float(len(self.failed_queries))}

    def versions(self) -> dict[str, str]:
        return {ENGINES[self.name].distribution: self.library_version()}

    def library_version(self) -> str:
        from importlib.metadata import version

        return version(ENGINES[self.name].distribution)

    def close(self) -> None:
        self.index = None

    def index_options(self) -> dict[str, object]:
        """Engine options beyond HnswBuild that shape the index: part of its cache key."""
        return {}

    # -- what each library gives ----------------------------------------------------------
    def describe(self) -> dict[str, str]:
        raise NotImplementedError

    def _build(self, vectors: np.ndarray, build: HnswBuild) -> object:
        raise NotImplementedError

    def _save(self, index: object, path: Path) -> None:
        raise NotImplementedError

    def _load(self, path: Path, metric: str, dim: int) -> object:
        raise NotImplementedError

    def _set_ef(self, ef: int) -> None:
        raise NotImplementedError

    def _search(self, vector: np.ndarray, count: int) -> Result:
        raise NotImplementedError

    def _prepare_filter(self, keep: dict[object, np.ndarray]) -> None:
        """For each filter value the queries use, the documents it keeps: what the library
        needs to filter during the search (pre)."""

    def _search_pre(self, vector: np.ndarray, count: int, value: object) -> Result:
        raise Unsupported(f"{self.name} has no filter during the search")

    def _batch(self, vectors: np.ndarray, count: int) -> np.ndarray:
        raise NotImplementedError

    def _empty(self, dim: int, build: HnswBuild, capacity: int) -> object:
        """An index without vectors that can hold `capacity` (workload=churn)."""
        raise NotImplementedError

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def _remove(self, ids: np.ndarray) -> None:
        raise NotImplementedError
