"""The engines a run can measure: what installs each, which filter strategies and searches it
supports, and its own options (engine.<option>). Light on purpose: the schema imports it to
build engine.* and to refuse a bad combination before any work, so it imports no engine library."""

import importlib
import importlib.util
from dataclasses import MISSING, Field, dataclass, field, fields


def at_least(low: int, why: str) -> dict[str, object]:
    """Metadata of a numeric option's field: validate refuses a value below `low`, saying `why`."""
    return {"at_least": low, "why": why}


@dataclass(frozen=True)
class NoOptions:
    """An engine without options of its own."""


@dataclass(frozen=True)
class DuckDBOptions:
    # DuckDB 1.5 adds a semi join over a full table scan for LIMIT <= 50 (late materialization);
    # 0 turns it off so the index query is what is timed.
    late_materialization_max_rows: int = field(default=0, metadata=at_least(0, "must be >= 0"))


@dataclass(frozen=True)
class DuckDBVssOptions(DuckDBOptions):
    # Build each HNSW index once (per data, dim, M, ef_construction, metric, threads) into a
    # database file that runs attach read-only; false builds it in memory in every run (the
    # other engines always cache their index).
    reuse_index: bool = True


@dataclass(frozen=True)
class LanceDbOptions:
    # IVF partitions of its IVF_HNSW_FLAT index (1: one HNSW graph, like the other engines).
    num_partitions: int = field(default=1, metadata=at_least(1, "must be at least 1"))


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
    # Serves at most engine.threads concurrent searches (bench.clients): more crash it.
    max_clients_is_threads: bool = False
    options: type = NoOptions  # its options dataclass: engine.<field> sets one
    # Keeps its index in a database file that a killed writer can leave damaged, and reopens
    # it (reopen()): workload.kills runs its crash test.
    crash_test: bool = False
    # Workloads it cannot run (workload.name), each with the reason: workload=static runs on all.
    cannot: dict[str, str] = field(default_factory=dict)


ENGINES: dict[str, EngineInfo] = {
    # Measured (tests/test_curves.py): the vss index serves at most as many concurrent searches
    # as the DuckDB threads it was built with; more corrupt memory and kill the process.
    "duckdb_vss": EngineInfo(
        "duckdb.vss",
        "DuckDBVss",
        strategies=("post", "overfetch", "exact"),
        full_text=True,
        max_clients_is_threads=True,
        options=DuckDBVssOptions,
        crash_test=True,
    ),
    "duckdb_exact": EngineInfo(
        "duckdb.vss",
        "DuckDBExact",
        strategies=("exact",),
        exact=True,
        full_text=True,
        options=DuckDBOptions,
        cannot={
            "churn": "an exact scan has no index to churn (duckdb_vss's churn times the table "
            "without its index once)",
            "restart": "an exact scan loads no index",
        },
    ),
    # usearch's Python API has no filter predicate (its C++ filtered_search is not bound).
    "usearch": EngineInfo(
        "usearch_engine", "USearch", ("usearch",), "usearch", ("post", "overfetch")
    ),
    "hnswlib": EngineInfo(
        "hnswlib_engine", "Hnswlib", ("hnswlib",), "hnswlib", ("pre", "post", "overfetch")
    ),
    "faiss_hnsw": EngineInfo(
        "faiss_engine",
        "FaissHnsw",
        ("faiss",),
        "faiss",
        ("pre", "post", "overfetch"),
        cannot={
            "churn": "faiss's IndexHNSW cannot remove vectors (no remove_ids): a delete "
            "there means a rebuild"
        },
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
        options=LanceDbOptions,
    ),
}


def option_fields(engines: dict[str, EngineInfo]) -> dict[str, Field]:
    """Every engine's options, each name once: engine.* in the schema is their union, so one
    name must mean one thing (its type, default and check) in every engine that declares it."""
    union: dict[str, Field] = {}
    for name, info in engines.items():
        for option in fields(info.options):
            if option.default is MISSING:
                raise TypeError(f"engine {name}: option {option.name} needs a default")
            first = union.setdefault(option.name, option)
            declared = (option.type, option.default, option.metadata)
            if (first.type, first.default, first.metadata) != declared:
                raise TypeError(
                    f"engine {name}: option {option.name} is declared with another type, default "
                    "or check than in another engine"
                )
    return union


OPTION_FIELDS = option_fields(ENGINES)  # a TypeError at import when two engines disagree


def option_owners(option: str) -> list[str]:
    """The engines that have `option` among their options."""
    return [n for n, e in ENGINES.items() if any(f.name == option for f in fields(e.options))]


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
