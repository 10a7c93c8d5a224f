"""Typed config schema (registered in Hydra's ConfigStore) and the range checks types cannot express."""

import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig

from vssbench.engines.registry import ENGINES, MissingEngine, check_installed


class Metric(StrEnum):
    l2sq = "l2sq"
    cosine = "cosine"
    ip = "ip"


class SearchKind(StrEnum):
    vector = "vector"
    hybrid = "hybrid"


class FilterKind(StrEnum):
    """The metadata column a filtered query restricts: its value is the target document's."""

    none = "none"
    category = "category"  # about 10% of documents, correlated with the text (the topic)
    region = "region"  # about 11% of documents, independent of the text
    attribute = "attribute"  # filter.selectivity of the documents, independent of everything


class FilterStrategy(StrEnum):
    none = "none"
    pre = "pre"  # the engine filters during its index search (hnswlib, faiss, LanceDB)
    post = "post"
    overfetch = "overfetch"
    exact = "exact"


class DatasetKind(StrEnum):
    synthetic_ko = "synthetic_ko"  # the built-in Korean corpus (vssbench/corpus.py)
    parquet = "parquet"  # a documents file and a queries file (vssbench/sources/parquet.py)
    hdf5 = "hdf5"  # the ann-benchmarks format (vssbench/sources/hdf5.py)


@dataclass
class ColumnsConfig:
    """dataset=parquet: the columns read; null leaves an optional one out."""

    id: str = "id"
    vector: str = "vector"
    text: str | None = None  # documents' text: BM25 and hybrid search need it
    query_vector: str = "vector"
    query_text: str | None = None
    relevant: str | None = None  # per query, a list of relevant document ids: MRR and nDCG
    grades: str | None = None  # per query, a grade per relevant id (default 1 each)
    kind: str | None = None  # per query, a kind the label metrics are also broken down by


@dataclass
class DatasetConfig:
    name: DatasetKind = DatasetKind.synthetic_ko
    # synthetic_ko: per-vector Gaussian noise over the text's own vector, as a share of its
    # length (vssbench/embed.py); higher makes nearest-neighbour search harder. 0.5 puts RC_10
    # and LID where VIBE's text-embedding datasets sit (README: how hard the data is).
    noise: float = 0.5
    # parquet: the documents file and the queries file.
    docs: str | None = None
    queries: str | None = None
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    # hdf5: the file, and how many queries its shipped neighbours are checked on.
    path: str | None = None
    verify_queries: int = 100


@dataclass
class ScaleConfig:
    name: str = MISSING
    n_docs: int = MISSING
    n_queries: int = 500


class Tokenizer(StrEnum):
    kiwi = "kiwi"
    bigram = "bigram"


class Bm25(StrEnum):
    match_bm25 = "match_bm25"  # the fts extension's per-row macro
    fts_tables = "fts_tables"  # the same BM25 as one top-k query over the fts_main_* tables


class Fusion(StrEnum):
    rrf = "rrf"
    convex = "convex"


@dataclass
class SearchConfig:
    name: SearchKind = SearchKind.vector
    # The rest applies to hybrid search only.
    tokenizer: Tokenizer = Tokenizer.kiwi
    bm25: Bm25 = Bm25.match_bm25  # how DuckDB's BM25 half is written (vssbench/search.py)
    # convex by default: on this corpus RRF loses to both halves (README: hybrid search).
    fusion: Fusion = Fusion.convex
    rrf_k: int = 60
    alpha: float = 0.5  # convex: weight of the vector similarity
    candidates: int = 50  # results each half fetches before fusion
    # A hybrid run fails when BM25 scores fewer targets than this: its Korean text was lost.
    min_bm25_hit_rate: float = 0.3


@dataclass
class FilterConfig:
    name: FilterKind = FilterKind.none
    # post: the query as written (WHERE + ORDER BY + LIMIT); overfetch: index top k*factor, then
    # filter; exact: brute force over the filtered rows.
    strategy: FilterStrategy = FilterStrategy.none
    overfetch_factor: int = 10
    selectivity: float = 0.1  # filter=attribute: the share of documents it keeps


@dataclass
class HnswConfig:
    metric: Metric = Metric.cosine
    M: int = 16
    ef_construction: int = 128
    # One value, or a list measured on one build (a curve); with a list, the headline metrics
    # are those at the default ef (64), which is measured too.
    ef_search: Any = 64


@dataclass
class QueriesConfig:
    paraphrase: float = 0.4
    entity: float = 0.3
    keyword: float = 0.3
    warmup: int = 50


EngineKind = StrEnum("EngineKind", {name: name for name in ENGINES})


@dataclass
class EngineConfig:
    name: EngineKind = EngineKind.duckdb_vss
    threads: int = 2
    # DuckDB 1.5 adds a semi join over a full table scan for LIMIT <= 50 (late materialization);
    # 0 turns it off so the index query is what is timed.
    late_materialization_max_rows: int = 0
    # Build each HNSW index once (per data, dim, M, ef_construction, metric, threads) into a
    # database file that runs attach read-only; false builds it in memory in every run.
    reuse_index: bool = True
    # LanceDB only: IVF partitions of its IVF_HNSW_FLAT index (1: one HNSW graph).
    num_partitions: int = 1


@dataclass
class BenchConfig:
    """How queries are timed (vssbench/timing.py)."""

    repeats: int = 3  # timed passes per point; the best is reported, median and spread beside it
    clients: list[int] = field(default_factory=lambda: [1])  # concurrent clients, e.g. [1,2,4]
    batch: bool = True  # also time all queries in one statement (LATERAL join, HNSW_INDEX_JOIN)
    # A run whose timed passes saw other processes take more of the machine's CPU than this is
    # tagged timing_disturbed=true, and the report leaves its timings out.
    max_other_cpu_share: float = 0.1


@dataclass
class TrackingConfig:
    experiment: str = "vssbench"
    dir: str = "mlruns"
    uri: str | None = None
    # MLflow's own CPU and memory curves (system/*), sampled every this many seconds; 0: off.
    system_metrics_interval_s: float = 1.0
    # A run refreshes its heartbeat tag this often; a RUNNING run on another host whose heartbeat
    # is older than stale_s is dead. A claim through a tracking server is checked again after
    # settle_s (more than the hosts' clock skew and request latency; vssbench/claim.py).
    heartbeat_s: float = 15.0
    stale_s: float = 120.0
    settle_s: float = 2.0


class Objective(StrEnum):
    recall = "recall"
    recall_qps = "recall_qps"
    qps_at_recall = "qps_at_recall"


@dataclass
class HpoConfig:
    """What a run returns to a sweeper (vssbench/objective.py); does not change what is measured."""

    objective: Objective = Objective.recall
    min_recall: float = 0.95


@dataclass
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    dim: int = 128
    search: SearchConfig = field(default_factory=SearchConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    hnsw: HnswConfig = field(default_factory=HnswConfig)
    queries: QueriesConfig = field(default_factory=QueriesConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    hpo: HpoConfig = field(default_factory=HpoConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    k: int = 10
    seed: int = 42
    cache_dir: str = ".cache/vssbench"
    force: bool = False
    force_memory: bool = False  # run even when the memory estimate exceeds what is available


# Keys that say where results go and whether to run, not what is run.
RUN_CONTROL_KEYS = ("tracking", "cache_dir", "force", "force_memory")
# Keys that do not change what a run measures; everything else goes into the run's fingerprint.
NOT_IN_FINGERPRINT = (*RUN_CONTROL_KEYS, "hpo")

ConfigStore.instance().store(name="vssbench_schema", node=Config)


class ConfigError(ValueError):
    """A configuration value out of range; the message names the key."""

    kind = "bad configuration"  # how the one-line message before it calls the problem


def _check(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value}: {why}")


# Names that end up in run names, file names and the report's HTML.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def _unknown_keys(cfg: DictConfig, schema: object, prefix: str = "") -> list[str]:
    """Keys the schema does not have, e.g. a typo added with `+hnsw.m=32`."""
    out = []
    for key in cfg:
        path = f"{prefix}{key}"
        if not hasattr(schema, str(key)):
            out.append(path)
        elif isinstance(cfg[key], DictConfig):
            out += _unknown_keys(cfg[key], getattr(schema, str(key)), path + ".")
    return out


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key, before any work is done."""
    if unknown := _unknown_keys(cfg, Config()):
        raise ConfigError(f"{unknown[0]}: is not a setting (a typo?)")
    for key, value in (
        ("scale.name", cfg.scale.name),
        ("tracking.experiment", cfg.tracking.experiment),
    ):
        _check(
            SAFE_NAME.fullmatch(str(value)) is not None,
            key,
            repr(value),
            "must be 1-64 letters, digits, '_', '.' or '-'",
        )
    if cfg.tracking.uri:
        scheme = urlparse(str(cfg.tracking.uri)).scheme
        _check(
            scheme in TRACKING_SCHEMES,
            "tracking.uri",
            cfg.tracking.uri,
            f"must start with one of {', '.join(s + ':' for s in TRACKING_SCHEMES)}",
        )
    t = cfg.tracking
    _check(t.heartbeat_s > 0, "tracking.heartbeat_s", t.heartbeat_s, "must be > 0")
    _check(
        t.stale_s >= 4 * t.heartbeat_s,
        "tracking.stale_s",
        t.stale_s,
        f"must be at least 4 heartbeats ({4 * t.heartbeat_s:g}): a live run must not pass for dead",
    )
    _check(t.settle_s >= 0, "tracking.settle_s", t.settle_s, "must be >= 0")
    _check(cfg.seed >= 0, "seed", cfg.seed, "must be >= 0")
    _check(
        0 <= cfg.dataset.noise <= 10, "dataset.noise", cfg.dataset.noise, "must be between 0 and 10"
    )
    _check(
        cfg.dataset.verify_queries >= 1,
        "dataset.verify_queries",
        cfg.dataset.verify_queries,
        "must be at least 1",
    )
    _check(
        0 <= cfg.hpo.min_recall <= 1,
        "hpo.min_recall",
        cfg.hpo.min_recall,
        "must be between 0 and 1",
    )
    n_docs = cfg.scale.n_docs
    _check(n_docs >= 100, "scale.n_docs", n_docs, "must be at least 100")
    _check(
        1 <= cfg.scale.n_queries <= n_docs,
        "scale.n_queries",
        cfg.scale.n_queries,
        f"must be between 1 and scale.n_docs ({n_docs})",
    )
    _check(2 <= cfg.dim <= 4096, "dim", cfg.dim, "must be between 2 and 4096")
    _check(1 <= cfg.k <= n_docs, "k", cfg.k, f"must be between 1 and scale.n_docs ({n_docs})")
    _check(
        0 < cfg.filter.selectivity <= 1,
        "filter.selectivity",
        cfg.filter.selectivity,
        "must be in (0, 1]",
    )
    if cfg.filter.name == FilterKind.attribute:
        kept = round(cfg.filter.selectivity * n_docs)
        _check(
            cfg.k <= kept,
            "k",
            cfg.k,
            f"must be at most the {kept} documents filter.selectivity={cfg.filter.selectivity} keeps",
        )
    # category and region keep about a tenth of the documents: k must fit into one value.
    elif cfg.filter.name != FilterKind.none:
        _check(
            cfg.k <= n_docs // 20,
            "k",
            cfg.k,
            f"with a filter must be at most {n_docs // 20} (5% of scale.n_docs)",
        )
    _check(2 <= cfg.hnsw.M <= 512, "hnsw.M", cfg.hnsw.M, "must be between 2 and 512")
    _check(
        1 <= cfg.hnsw.ef_construction <= 4096,
        "hnsw.ef_construction",
        cfg.hnsw.ef_construction,
        "must be between 1 and 4096",
    )
    ef = cfg.hnsw.ef_search
    listed = [ef] if isinstance(ef, int) else list(ef) if isinstance(ef, ListConfig) else None
    _check(
        bool(listed) and all(isinstance(e, int) and 1 <= e <= 4096 for e in listed),
        "hnsw.ef_search",
        ef,
        "must be an int between 1 and 4096, or a list of them, e.g. [16,32,64,128]",
    )
    bench = cfg.bench
    _check(1 <= bench.repeats <= 100, "bench.repeats", bench.repeats, "must be between 1 and 100")
    _check(
        len(bench.clients) > 0 and all(1 <= c <= 64 for c in bench.clients),
        "bench.clients",
        list(bench.clients),
        "must be a list of client counts between 1 and 64, e.g. [1,2,4]",
    )
    # Measured (tests/test_curves.py): the index serves at most as many concurrent searches as
    # the DuckDB threads it was built with; more corrupt memory and kill the process.
    _check(
        cfg.engine.name != EngineKind.duckdb_vss or max(bench.clients) <= cfg.engine.threads,
        "bench.clients",
        list(bench.clients),
        f"at most engine.threads ({cfg.engine.threads}) clients: more concurrent searches than "
        "the index's build threads crash this vss build",
    )
    _check(
        0 < bench.max_other_cpu_share <= 1,
        "bench.max_other_cpu_share",
        bench.max_other_cpu_share,
        "must be in (0, 1]",
    )
    cores = os.cpu_count() or 1
    _check(
        1 <= cfg.engine.threads <= cores,
        "engine.threads",
        cfg.engine.threads,
        f"must be between 1 and this machine's {cores} cores",
    )
    _check(
        cfg.engine.late_materialization_max_rows >= 0,
        "engine.late_materialization_max_rows",
        cfg.engine.late_materialization_max_rows,
        "must be >= 0",
    )
    _check(
        cfg.tracking.system_metrics_interval_s >= 0,
        "tracking.system_metrics_interval_s",
        cfg.tracking.system_metrics_interval_s,
        "must be >= 0 (0 turns system metrics off)",
    )
    _check(
        0 <= cfg.queries.warmup <= cfg.scale.n_queries,
        "queries.warmup",
        cfg.queries.warmup,
        f"must be between 0 and scale.n_queries ({cfg.scale.n_queries}): warm-up reuses the queries",
    )
    shares = [cfg.queries.paraphrase, cfg.queries.entity, cfg.queries.keyword]
    _check(
        min(shares) >= 0 and sum(shares) > 0,
        "queries",
        shares,
        "query kind shares must be >= 0 with a positive sum",
    )
    engine = ENGINES[cfg.engine.name.value]
    _check(
        cfg.engine.reuse_index or cfg.engine.name == EngineKind.duckdb_vss,
        "engine.reuse_index",
        "false",
        "applies to engine=duckdb_vss only (other engines always cache their index)",
    )
    _check(
        cfg.engine.num_partitions >= 1,
        "engine.num_partitions",
        cfg.engine.num_partitions,
        "must be at least 1",
    )
    strategy = cfg.filter.strategy
    if cfg.filter.name != FilterKind.none:
        _check(
            strategy.value in engine.strategies,
            "filter.strategy",
            strategy.value,
            f"engine={cfg.engine.name.value} runs filter.strategy {' or '.join(engine.strategies)}",
        )
    if cfg.search.name == SearchKind.hybrid:
        _check(
            engine.full_text,
            "search",
            "hybrid",
            f"engine={cfg.engine.name.value} has no full-text search; hybrid runs with "
            + ", ".join(n for n, e in ENGINES.items() if e.full_text),
        )
    # After what the engine cannot run at all: installing it would not help there.
    try:
        check_installed(cfg.engine.name.value)
    except MissingEngine as missing:
        raise ConfigError(str(missing)) from None
    if cfg.filter.name == FilterKind.none:
        _check(
            strategy == FilterStrategy.none,
            "filter.strategy",
            strategy.value,
            "needs filter=category, region or attribute (filter=none has no strategy)",
        )
    else:
        _check(
            strategy != FilterStrategy.none,
            "filter.strategy",
            strategy.value,
            f"filter={cfg.filter.name.value} needs {' or '.join(engine.strategies)}",
        )
    _check(
        cfg.filter.overfetch_factor >= 1,
        "filter.overfetch_factor",
        cfg.filter.overfetch_factor,
        "must be at least 1",
    )
    search = cfg.search
    _check(search.rrf_k >= 1, "search.rrf_k", search.rrf_k, "must be at least 1")
    _check(0 <= search.alpha <= 1, "search.alpha", search.alpha, "must be between 0 and 1")
    if search.name == SearchKind.hybrid:  # a vector run never reads search.candidates
        _check(
            cfg.k <= search.candidates <= n_docs,
            "search.candidates",
            search.candidates,
            f"must be between k ({cfg.k}) and scale.n_docs ({n_docs})",
        )
    _check(
        0 <= search.min_bm25_hit_rate <= 1,
        "search.min_bm25_hit_rate",
        search.min_bm25_hit_rate,
        "must be between 0 and 1",
    )
