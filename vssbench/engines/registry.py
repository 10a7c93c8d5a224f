"""The engines a run can measure: what installs each, which filter strategies and searches it
supports. Light on purpose: the schema imports it to refuse a bad combination before any work."""

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineInfo:
    module: str  # vssbench.engines.<module> holds the adapter class
    cls: str
    imports: tuple[str, ...] = ()  # modules an optional extra installs
    extra: str | None = None  # the optional extra in pyproject.toml
    # Filter strategies it runs (filter.strategy); exact engines scan every row, so "exact".
    strategies: tuple[str, ...] = ("post", "overfetch")
    exact: bool = False  # no approximate index: one point, recall 1.0
    full_text: bool = False  # has BM25, so hybrid search runs
    native_hybrid: bool = False  # has its own hybrid query and reranker, measured beside ours


ENGINES: dict[str, EngineInfo] = {
    "duckdb_vss": EngineInfo(
        "duckdb.vss", "DuckDBVss", strategies=("post", "overfetch", "exact"), full_text=True
    ),
    "duckdb_exact": EngineInfo(
        "duckdb.vss", "DuckDBExact", strategies=("exact",), exact=True, full_text=True
    ),
    # usearch's Python API has no filter predicate (its C++ filtered_search is not bound).
    "usearch": EngineInfo(
        "usearch_engine", "USearch", ("usearch",), "usearch", ("post", "overfetch")
    ),
    "hnswlib": EngineInfo(
        "hnswlib_engine", "Hnswlib", ("hnswlib",), "hnswlib", ("pre", "post", "overfetch")
    ),
    "faiss_hnsw": EngineInfo(
        "faiss_engine", "FaissHnsw", ("faiss",), "faiss", ("pre", "post", "overfetch")
    ),
    "faiss_flat": EngineInfo(
        "faiss_engine", "FaissFlat", ("faiss",), "faiss", ("exact",), exact=True
    ),
    "lancedb": EngineInfo(
        "lancedb_engine",
        "LanceDb",
        ("lancedb",),
        "lancedb",
        ("pre", "post"),
        full_text=True,
        native_hybrid=True,
    ),
}


class MissingEngine(RuntimeError):
    """The engine's optional extra is not installed."""


def _findable(module: str) -> bool:
    """Found without importing it: an engine sets what its library reads at import (threads)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def check_installed(name: str) -> None:
    """Raise MissingEngine naming the extra to install when the engine's library is missing."""
    info = ENGINES[name]
    missing = [m for m in info.imports if not _findable(m)]
    if missing:
        raise MissingEngine(
            f"engine={name}: needs {', '.join(missing)}, which the optional extra installs: "
            f"uv sync --extra {info.extra} (or pip install 'vssbench[{info.extra}]')"
        )


def engine_class(name: str) -> type:
    check_installed(name)
    info = ENGINES[name]
    return getattr(importlib.import_module(f"vssbench.engines.{info.module}"), info.cls)
