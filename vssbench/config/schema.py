"""Typed config schema (registered in Hydra's ConfigStore) and the range checks types cannot express."""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from vssbench.engines.registry import ENGINES


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

ConfigStore.instance().store(name="vssbench_schema", node=Config)
