"""The seam every engine adapter implements (duckdb_vss.py, library.py, lancedb_engine.py):
build parameters key the index, query settings are set per measurement point, then one query,
a batch, a plan. The timing harness and the scoring only ever see this."""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vssbench.dataset import Dataset
from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.stopwatch import Stopwatch


class Unsupported(RuntimeError):
    """The engine cannot answer this kind of query correctly; nothing is measured."""


class Engine(Protocol):
    name: str

    def open(
        self,
        data: Dataset,
        build: HnswBuild,
        data_key: dict,
        cache_root: Path | None,
        watch: Stopwatch,
    ) -> dict[str, float]:
        """The index, cached or built; its build facts, load_s and index_reused."""

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

    def index_info(self) -> dict[str, float]: ...

    def describe(self) -> dict[str, str]: ...

    def versions(self) -> dict[str, str]: ...

    def close(self) -> None: ...
