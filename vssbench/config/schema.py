"""Typed config schema, registered in Hydra's ConfigStore (config/checks.py checks what types
cannot express).

These dataclasses own every default: a conf/ file sets only what its option selects or changes,
never restates a default (tests/test_config_defaults.py), so each default has one owner that is
typed and documented here, and a change to it is made in one place."""

from dataclasses import dataclass, field, make_dataclass
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from vssbench.config import launchers
from vssbench.data.sources import DATASET_FIELDS, SOURCES
from vssbench.engines.params import HEADLINE_EF
from vssbench.engines.registry import ENGINES, OPTION_FIELDS
from vssbench.track.store import REQUEST_RETRIES, REQUEST_TIMEOUT_S


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


class ShippedNeighbors(StrEnum):
    """What a run does when a file's own neighbours disagree with exact search."""

    replace = "replace"  # a warning; those queries are scored against exact search's rows
    strict = "strict"  # the run is refused in one line before anything is built or timed


# The built-in Korean corpus (data/synthetic), then each file source (data/sources).
DatasetKind = StrEnum("DatasetKind", {"synthetic_ko": "synthetic_ko", **{n: n for n in SOURCES}})


@dataclass
class DatasetChoice:
    """The dataset and the settings every dataset has; DatasetConfig adds the file sources'."""

    # synthetic_ko: the built-in Korean corpus, its vectors derived from its text; a file source
    # reads your files (its size comes from them, not from scale).
    name: DatasetKind = DatasetKind.synthetic_ko
    # synthetic_ko: per-vector Gaussian noise over the text's own vector, as a share of its
    # length (data/synthetic/embed.py); higher makes nearest-neighbour search harder. 0.5 puts
    # RC_10 and LID where VIBE's text-embedding datasets sit (docs: datasets, how hard the data is).
    noise: float = 0.5
    # A file that ships its queries' neighbours (dataset=hdf5) has them checked against exact
    # search for every query. replace: a row that disagrees beyond distance ties, or names a
    # document twice, is replaced by exact search's, with a warning; strict: any such row
    # refuses the run. How a run treats bad input, not what it measures: not in the fingerprint.
    shipped_neighbors: ShippedNeighbors = ShippedNeighbors.replace


# dataset.<role> for each file a source reads and dataset.<setting> for each of its settings,
# with the defaults declared in its registry entry (data/sources/__init__.py): a new source
# needs no edit here.
DatasetConfig = make_dataclass(
    "DatasetConfig",
    [(name, kind, made) for name, (kind, made) in DATASET_FIELDS.items()],
    bases=(DatasetChoice,),
    namespace={"__module__": __name__},  # pickled by reference (the joblib launcher)
)


@dataclass
class ScaleConfig:
    """The synthetic corpus's size; a file dataset's size is its files'."""

    name: str = MISSING  # the option's name, in run names (tiny, 10k, 100k, 250k)
    n_docs: int = MISSING  # documents in the corpus
    n_queries: int = 500  # queries timed and scored


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
    """The query type. Every setting but name applies to hybrid search only: vector search and
    BM25 as two statements, fused in Python."""

    name: SearchKind = SearchKind.vector  # vector: nearest neighbours; hybrid: also BM25, fused
    tokenizer: Tokenizer = Tokenizer.kiwi  # kiwi: content morphemes; bigram: Hangul bigrams
    bm25: Bm25 = Bm25.match_bm25  # how DuckDB's BM25 half is written (engines/duckdb/queries.py)
    # convex (min-max normalised scores) or rrf (reciprocal rank fusion); convex by default: on
    # this corpus RRF loses to both halves (docs: hybrid search).
    fusion: Fusion = Fusion.convex
    rrf_k: int = 60  # rrf: the constant in 1 / (rrf_k + rank)
    alpha: float = 0.5  # convex: weight of the vector similarity; 1 - alpha goes to BM25
    candidates: int = 50  # results each half fetches before fusion
    # A hybrid run fails when BM25 scores fewer targets than this: its Korean text was lost.
    min_bm25_hit_rate: float = 0.3


@dataclass
class FilterConfig:
    """Each query restricted to its target document's value of one metadata column."""

    # category: ~10% of documents, follows the topic; region: ~11%, independent of the text;
    # attribute: filter.selectivity of the documents, independent of everything.
    name: FilterKind = FilterKind.none
    # post: the query as written (WHERE + ORDER BY + LIMIT); overfetch: index top k*factor, then
    # filter; exact: brute force over the filtered rows; pre: the engine filters during its
    # index search. Which ones an engine runs: the engines reference.
    strategy: FilterStrategy = FilterStrategy.none
    overfetch_factor: int = 10  # overfetch: the index is asked for k times this
    selectivity: float = 0.1  # filter=attribute: the share of documents it keeps


@dataclass
class HnswConfig:
    """The HNSW index's build and search parameters."""

    metric: Metric = Metric.cosine  # the distance the index and the exact ground truth use
    M: int = 16  # graph neighbours per node (more: better recall, bigger index, slower build)
    ef_construction: int = 128  # the beam of the build
    # One value, or a list measured on one build (a curve); with a list, the headline metrics
    # are those at the default ef (HEADLINE_EF), which is measured too.
    ef_search: Any = HEADLINE_EF
    # Measured on every run beside ef_search, on the same build, so every run draws a curve;
    # [] measures ef_search alone. The headline stays ef_search's.
    ef_curve: list[int] = field(default_factory=lambda: [16, 32, 64, 128])


@dataclass
class QueriesConfig:
    """The synthetic query set: shares of its three kinds, and the warm-up before timing."""

    paraphrase: float = 0.4  # 4 of the target's concepts in other surface forms (synonyms)
    entity: float = 0.3  # the target's person, company and one concept (rare names)
    keyword: float = 0.3  # 4 of the target's concepts in its own surface forms
    warmup: int = 50  # untimed queries before each timed point


EngineKind = StrEnum("EngineKind", {name: name for name in ENGINES})


@dataclass
class EngineChoice:
    """The engine and its threads; EngineConfig adds every engine's own options."""

    name: EngineKind = EngineKind.duckdb_vss  # the engines reference lists each
    # Threads of the build, the batch and the engine's pools (DuckDB's `threads`), at most the
    # machine's cores.
    threads: int = 2


# engine.<option> for each option an engine declares beside its entry (engines/registry.py), with
# the default declared there: an option is added in the registry alone, and config/checks.py
# refuses one set away from its default for an engine that does not have it.
EngineConfig = make_dataclass(
    "EngineConfig",
    [(name, option.type, field(default=option.default)) for name, option in OPTION_FIELDS.items()],
    bases=(EngineChoice,),
    namespace={"__module__": __name__},  # pickled by reference (the joblib launcher)
)


@dataclass
class BenchConfig:
    """How queries are timed (measure/timing.py) and how their intervals are made
    (measure/intervals.py)."""

    # Timed passes per point in each trial (their geometric mean is the trial's value).
    repeats: int = 1
    # Every timing runs in trials: each a fresh worker process on the cached index that times
    # every point (in an order rotated from trial to trial), with nothing of vssbench's beside
    # it. The interval is over trials. A run times at least `trials` of them, then more until
    # the headline QPS interval's half-width is within `precision` of the estimate, or
    # `max_trials` are timed, or `max_timing_s` of trials have passed. Not fewer than 5: runs
    # stopped at 3 trials whose values happened to agree had intervals too narrow (measured).
    trials: int = 5
    # The half-width asked for, relative: 0.1 is +-10%. On a 2-core VM trials of one process
    # spread by about 9% (CV), so +-5% takes about 14 trials (docs/measuring.md).
    precision: float = 0.1
    # No further trial after this many, narrow enough or not: 7 keeps the default run within 2x
    # of its time with one trial in its own process (measured: 26 s then, 60 s with 10 trials).
    max_trials: int = 7
    max_timing_s: float = 600.0  # no further trial starts after this much wall time of trials
    # Concurrent clients, e.g. [1,2,4]: QPS, p50 and p99 per level.
    clients: list[int] = field(default_factory=lambda: [1])
    batch: bool = True  # also time all queries in one statement (LATERAL join, HNSW_INDEX_JOIN)
    # A timed pass during which other processes took more of the machine's CPU than this is
    # timed again after retry_pause_s, up to `retries` times per point (over all its passes); a
    # run whose passes are still disturbed after that is tagged timing_disturbed=true, and the
    # report leaves its timings out.
    max_other_cpu_share: float = 0.1
    retries: int = 3  # passes timed again per point at most (none in a parallel sweep)
    retry_pause_s: float = 2.0  # the wait before a disturbed pass is timed again


@dataclass
class TrackingConfig:
    """Where runs are recorded (MLflow) and how concurrent runs of one configuration agree."""

    experiment: str = "vssbench"  # the MLflow experiment
    dir: str = "mlruns"  # the local store's dir: mlflow.db and artifacts
    uri: str | None = None  # null: MLFLOW_TRACKING_URI if set, else sqlite:///<dir>/mlflow.db
    # MLflow's own CPU and memory curves (system/*), sampled every this many seconds; 0: off.
    system_metrics_interval_s: float = 1.0
    heartbeat_s: float = 15.0  # a RUNNING run refreshes its heartbeat tag this often
    # A RUNNING run on another host whose heartbeat is older than this is dead, and its
    # configuration is run again.
    stale_s: float = 120.0
    # A claim through a tracking server is checked again after this (more than the hosts' clock
    # skew and request latency; track/claim.py).
    settle_s: float = 2.0
    # A request to a tracking server is tried again this many times (0, 2, 4 s apart): a server
    # that is down costs seconds, not minutes.
    retries: int = REQUEST_RETRIES
    request_timeout_s: int = REQUEST_TIMEOUT_S  # the wait for the server's answer, per try


class WorkloadKind(StrEnum):
    static = "static"  # the index built once over every document, never changed
    churn = "churn"  # rounds of inserts, deletes and updates, then the engine's compaction
    restart = "restart"  # the cached index opened by fresh processes, cold and warm


@dataclass
class WorkloadConfig:
    """What happens to the index during the run (docs: a table's life): static is every run
    before workloads; churn and restart measure an index that changes or is opened anew."""

    # static: one build over every document; churn: rounds of changes on a writable index
    # (engine.reuse_index=true: DuckDB's in a database file, else in memory); restart: the
    # cached index opened by fresh processes.
    name: WorkloadKind = WorkloadKind.static
    # churn: the share of the documents (a seeded sample) the index is built over first; the
    # rest are the documents the rounds insert.
    initial: float = 0.5
    rounds: int = 3  # churn: rounds of inserts, deletes and updates, measured after each
    insert: float = 0.1  # churn: documents inserted per round, as a share of all documents
    delete: float = 0.1  # churn: live rows deleted per round, as a share of the live rows
    # churn: live rows given a new vector per round (an edited document: its vector moved by
    # Gaussian noise of half its length, workload/runbook.py), as a share of the live rows
    update: float = 0.05
    # churn, engine=duckdb_vss with its index in a file: a child process applying a round is
    # killed at a seeded moment this many times, each on its own copy; 0: no crash test.
    kills: int = 0
    restarts: int = 3  # restart: fresh processes, each timed cold and then warm


class EmbedKind(StrEnum):
    synthetic = "synthetic"
    model = "model"
    e5 = "e5"


@dataclass
class EmbedConfig:
    """Where the vectors come from when the dataset has text and no vectors of its own."""

    # synthetic: synthetic_ko's text-derived vectors; model: the model in embed.model encodes
    # the documents and queries (synthetic_ko or a dataset=beir set); e5: multilingual-e5-small
    # at 4 bits (extra e5, 384-d) encodes them with its query: and passage: prefixes.
    name: EmbedKind = EmbedKind.synthetic
    # embed=model: a local model dir, model2vec (extra model2vec) or sentence-transformers
    # (extra sentence_transformers, which pulls torch); read by content, not by path.
    model: str | None = None
    # Texts per encode call (progress is logged per batch); embed=e5 writes each batch to disk,
    # so a killed run resumes from the batches done.
    batch_size: int = 256
    threads: int | None = None  # embed=e5: encoding threads; null: the machine's cores


class Objective(StrEnum):
    recall = "recall"
    recall_qps = "recall_qps"
    qps_at_recall = "qps_at_recall"


@dataclass
class HpoConfig:
    """What a run returns to a sweeper (sweep/objective.py); does not change what is measured."""

    # recall; recall_qps: recall and QPS, for multi-objective samplers; qps_at_recall: QPS
    # where recall reaches min_recall, else recall's shortfall.
    objective: Objective = Objective.recall
    min_recall: float = 0.95  # qps_at_recall: the recall a configuration must reach


@dataclass
class Config:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    dim: int = 128  # vector dimensions: 128, 256, 512, 1024 in the grid; any from 2 to 4096
    search: SearchConfig = field(default_factory=SearchConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    hnsw: HnswConfig = field(default_factory=HnswConfig)
    queries: QueriesConfig = field(default_factory=QueriesConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    hpo: HpoConfig = field(default_factory=HpoConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    k: int = 10  # results per query
    seed: int = 42  # of the synthetic corpus, its vectors and queries
    cache_dir: str = ".cache/vssbench"  # data, ground truth and built indexes, kept across runs
    force: bool = False  # run even when a finished run has the same fingerprint
    force_memory: bool = False  # run even when the memory estimate exceeds what is available
    # Build a cached index again to time its build (e.g. one built while the machine was busy),
    # keeping the index as it is; implies force.
    retime_build: bool = False


# Keys that say where results go and whether to run, not what is run.
RUN_CONTROL_KEYS = ("tracking", "cache_dir", "force", "force_memory", "retime_build")

ConfigStore.instance().store(name="vssbench_schema", node=Config)
launchers.register()
