"""The seam every engine adapter implements (duckdb/vss.py, library.py, lancedb_engine.py):
build parameters key the index, query settings are set per measurement point, then one query,
a batch, a plan. The timing harness and the scoring only ever see this."""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.stopwatch import Stopwatch

if TYPE_CHECKING:  # data.load imports faker and scipy, which the memory probe must not load
    from vssbench.data.load import Dataset


class Unsupported(RuntimeError):
    """The engine cannot answer this kind of query correctly; nothing is measured."""


class Engine(Protocol):
    name: str
    checks_plan: bool  # explain() checks a real query plan (DuckDB) or describes a call

    def prepare(self) -> None:
        """The library loaded, no index (the memory probe's baseline)."""

    def attach(self, path: Path, metric: str, dim: int) -> None:
        """Open an index file without data (the memory probe), after prepare()."""

    def open(
        self,
        data: "Dataset",
        build: HnswBuild,
        data_key: dict,
        cache_root: Path | None,
        watch: Stopwatch,
        retime: bool = False,
    ) -> dict[str, float]:
        """The index, cached or built; its build facts, load_s and index_reused. `retime`: a
        cached index is built again to time its build, and stays as it was."""

    def set_query(self, settings: QuerySettings) -> None: ...

    def query(self, vector: np.ndarray, value: object = None) -> Any:
        """One query: what the engine gives back, untouched (read by ids/scores, off the clock)."""

    def ids(self, result: Any) -> np.ndarray: ...

    def scores(self, result: Any) -> np.ndarray: ...

    def explain(self, vector: np.ndarray, value: object = None) -> str:
        """The plan of a query (checked where the engine has one), logged as plan.txt."""

    @property
    def uses_index(self) -> bool: ...

    @property
    def sql(self) -> str:
        """The statement (or, for a library, the call) a query runs."""

    def client(self) -> "Engine":
        """Another client for concurrent queries."""

    def batch(self, vectors: np.ndarray) -> AbstractContextManager[str]:
        """Prepares `batch_query` for these vectors and yields its plan; raises Unsupported."""

    def batch_query(self) -> list[np.ndarray]: ...

    @property
    def batch_sql(self) -> str:
        """The batch statement, or "" when the batch is a library call."""

    def index_info(self) -> dict[str, float]: ...

    def describe(self) -> dict[str, str]: ...

    def versions(self) -> dict[str, str]: ...

    def close(self) -> None: ...


class FullTextEngine(Engine, Protocol):
    """An engine with BM25 (ENGINES[...].full_text): hybrid search runs on it."""

    def open_texts(
        self, data: "Dataset", doc_tokens: list[str], column: str | None, bm25: str
    ) -> dict[str, float]:
        """The full-text index over the tokenized documents; its build time and memory."""

    def text_query(self, text: str, value: object, limit: int) -> Any: ...

    @property
    def text_sql(self) -> str: ...

    def bm25_matches(self, ids: np.ndarray, texts: list[str]) -> np.ndarray:
        """Whether BM25 scores document ids[i] for query texts[i] at all."""


class NativeHybridEngine(FullTextEngine, Protocol):
    """An engine with its own hybrid query and reranker (ENGINES[...].native_hybrid)."""

    def set_fusion(self, fusion: str, rrf_k: int, alpha: float) -> str: ...

    def hybrid_query(self, vector: np.ndarray, text: str, value: object, limit: int) -> Any: ...


class MutableEngine(Engine, Protocol):
    """An engine whose index takes inserts, deletes and updates (workload=churn; an engine
    that cannot declares it in ENGINES[...].cannot)."""

    def open_mutable(
        self,
        data: "Dataset",
        build: HnswBuild,
        ids: np.ndarray,
        path: Path | None,
        watch: Stopwatch,
    ) -> dict[str, float]:
        """A writable index of the documents `ids` (in the database file `path` where the
        engine keeps one); the build's facts."""

    def insert(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def delete(self, ids: np.ndarray) -> None: ...

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def compact(self) -> str:
        """Runs the engine's compaction and says what it ran; "" when it has none."""

    def checkpoint(self) -> bool:
        """Writes the changes into the database file; False when there is no file."""

    def storage(self) -> dict[str, float]:
        """What the engine reports of its size: index_memory_mb, file_mb, wal_mb."""

    def without_index(self, data: "Dataset", ids: np.ndarray) -> "MutableEngine | None":
        """The same rows in a table without the index, for the cost of the index per change;
        None when the engine has no table apart from its index."""
