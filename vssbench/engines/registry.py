"""The engines a run can measure: what installs each, which filter strategies and searches it
supports, and its own options (engine.<option>). Light on purpose: the schema imports it to
build engine.* and to refuse a bad combination before any work, so it imports no engine library."""

import importlib
import importlib.metadata
import importlib.util
import sys
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
class AnnoyOptions:
    # Annoy's forest size (build): more trees, better recall at a given search_k, a larger index.
    # Its query knob search_k is hnsw.ef_search x n_trees, so ef = k is Annoy's own default
    # (n_trees x k) and a list of ef values is a curve over search_k from one build.
    n_trees: int = field(default=50, metadata=at_least(1, "must be at least 1"))


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
    # The package whose release is part of a run's fingerprint and its index's cache key (a
    # peer library; DuckDB's own engines are pinned with the project).
    distribution: str | None = None
    # The newest Python its pinned release installs on ("3.12"): newer ones refuse the engine.
    max_python: str | None = None
    # Filter strategies it runs (filter.strategy); exact engines scan every row, so "exact".
    strategies: tuple[str, ...] = ("post", "overfetch")
    exact: bool = False  # no approximate index: one point, recall 1.0
    index: str = "HNSW"  # what its approximate index is
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
    metrics: tuple[str, ...] = ("l2sq", "cosine", "ip")  # the hnsw.metric values it computes


# The usearch release inside the vss extension that duckdb-extension-vss 1.5.5 loads: its
# extension_version (duckdb_extensions()) is vss commit b833341, whose
# src/include/usearch/index.hpp (github.com/duckdb/duckdb-vss) defines USEARCH_VERSION 2.12.0.
# The usearch extra pins the same release (tests/test_engines.py checks all three agree).
VSS_COMMIT = "b833341"
VSS_USEARCH = "2.12.0"

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
        "usearch_engine",
        "USearch",
        ("usearch",),
        "usearch",
        "usearch",
        "3.12",
        ("post", "overfetch"),
        cannot={
            "churn": "usearch 2.12.0, the release vss bundles, crashes (a segfault, one thread) "
            "or deadlocks (two threads, usearch issue #396) when vectors are added after a remove"
        },
    ),
    "hnswlib": EngineInfo(
        "hnswlib_engine",
        "Hnswlib",
        ("hnswlib",),
        "hnswlib",
        "hnswlib",
        strategies=("pre", "post", "overfetch"),
    ),
    "faiss_hnsw": EngineInfo(
        "faiss_engine",
        "FaissHnsw",
        ("faiss",),
        "faiss",
        "faiss-cpu",
        strategies=("pre", "post", "overfetch"),
        cannot={
            "churn": "faiss's IndexHNSW cannot remove vectors (no remove_ids): a delete "
            "there means a rebuild"
        },
    ),
    "faiss_flat": EngineInfo(
        "faiss_engine",
        "FaissFlat",
        ("faiss",),
        "faiss",
        "faiss-cpu",
        strategies=("exact",),
        exact=True,
    ),
    "lancedb": EngineInfo(
        "lancedb_engine",
        "LanceDb",
        ("lancedb",),
        "lancedb",
        "lancedb",
        strategies=("pre", "post"),
        full_text=True,
        native_hybrid=True,
        options=LanceDbOptions,
    ),
    # SQLite's vec0 virtual table: a scan of every vector in SQL (no approximate index), the
    # embedded peer to duckdb_exact and faiss_flat; a filter is a vec0 metadata column the scan
    # checks, or a post-filter.
    "sqlite_vec": EngineInfo(
        "sqlite_vec_engine",
        "SqliteVec",
        ("sqlite_vec", "apsw"),
        "sqlite_vec",
        "sqlite-vec",
        strategies=("exact", "post"),
        exact=True,
        metrics=("l2sq", "cosine"),  # vec0's distance_metric has no inner product
        cannot={
            "churn": "an exact scan has no index to churn",
            "restart": "an exact scan loads no index",
        },
    ),
    # Annoy: a forest of random-projection trees, memory-mapped from its file.
    "annoy": EngineInfo(
        "annoy_engine",
        "Annoy",
        ("annoy",),
        "annoy",
        "annoy",
        strategies=("post", "overfetch"),
        index="a forest of random-projection trees",
        options=AnnoyOptions,
        cannot={"churn": "an Annoy index takes no vector once it is built: a change is a rebuild"},
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
    """Raise MissingEngine naming the extra to install when the engine's library is missing, or
    the Python version when its pinned release has no build for this one."""
    info = ENGINES[name]
    newest = tuple(int(part) for part in (info.max_python or "99.0").split("."))
    if sys.version_info[:2] > newest:
        raise MissingEngine(
            f"engine={name}: its pinned release has no build for Python "
            f"{sys.version_info.major}.{sys.version_info.minor} (the newest is {info.max_python}): "
            f"run it on Python {info.max_python} or older"
        )
    missing = [m for m in info.imports if not _findable(m)]
    if missing:
        raise MissingEngine(
            f"engine={name}: needs {', '.join(missing)}, which the optional extra installs: "
            f"uv sync --extra {info.extra} (or pip install 'vssbench[{info.extra}]')"
        )


def installed_engines() -> list[str]:
    """The engines this machine and Python can run."""
    out = []
    for name in ENGINES:
        try:
            check_installed(name)
        except MissingEngine:
            continue
        out.append(name)
    return out


def release(name: str) -> str | None:
    """The installed release of the engine's library, as `package==version` (None for DuckDB's
    own engines, "package not installed" for a missing extra)."""
    dist = ENGINES[name].distribution
    if dist is None:
        return None
    try:
        return f"{dist}=={importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} not installed"


def engine_class(name: str) -> type:
    check_installed(name)
    info = ENGINES[name]
    return getattr(importlib.import_module(f"vssbench.engines.{info.module}"), info.cls)
