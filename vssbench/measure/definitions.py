"""The headline metrics, each defined once: the MLflow name (built with k where it depends on
k), a label, a unit, which direction is better, whether it is a timing and whether the report's
table shows it. Logging, the console line, the report and the objective take their names from
here, so a run with k=20 reads the same everywhere."""

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricDef:
    pattern: str  # the MLflow name; "{k}" stands for the number of results asked for
    label: str
    unit: str = ""
    higher_is_better: bool = True
    fmt: str = "{:.3f}"
    # A timing is left out wherever a run's timing was disturbed (tags.timing_disturbed).
    timing: bool = False
    in_table: bool = False  # a column of the report's per-configuration table
    # Logged with its 95% interval: <name>_ci_low and <name>_ci_high (measure/intervals.py).
    interval: bool = False
    about: str = ""  # what it measures: the metrics reference page (vssbench/reference)

    @property
    def column(self) -> str:
        """The name in a table of runs whose k differ: the MLflow name without its k."""
        return self.pattern.replace("_at_{k}", "")

    def name(self, k: int) -> str:
        return self.pattern.format(k=k)

    def title(self, k: int | None) -> str:
        """Axis label; k None when the runs shown differ in k."""
        label = self.label.format(k="k" if k is None else k)
        return f"{label} ({self.unit})" if self.unit else label

    def bounds(self, k: int) -> tuple[str, str]:
        """The MLflow names of the interval's ends."""
        return f"{self.name(k)}_ci_low", f"{self.name(k)}_ci_high"

    def show(self, k: int, value: float) -> str:
        return f"{self.label.format(k=k)}={self.fmt.format(value)}{self.unit}"


RECALL = MetricDef(
    "recall_at_{k}",
    "recall@{k}",
    in_table=True,
    interval=True,
    about="Share of the exact top-k (brute force under the index metric, with the filter when "
    "there is one) the engine returned; a document whose true distance ties the k-th exact "
    "distance within 1e-5 counts (the ann-benchmarks convention). Interval over queries.",
)
# Labels are judged at 10 whatever k is.
MRR = MetricDef(
    "mrr_at_10",
    "mrr@10",
    in_table=True,
    about="Mean reciprocal rank of the first relevant document in the top 10, against the "
    "relevance labels: the quality a user sees, not agreement with exact search.",
)
NDCG = MetricDef(
    "ndcg_at_10",
    "ndcg@10",
    in_table=True,
    about="Normalised discounted cumulative gain of the top 10 against the relevance labels, "
    "gains 2^grade - 1.",
)
QPS = MetricDef(
    "qps",
    "qps",
    fmt="{:.0f}",
    timing=True,
    in_table=True,
    interval=True,
    about="Queries per second of one client, one query at a time after the warm-up: per pass, "
    "its queries over the sum of their latencies; per trial (a fresh worker process), the "
    "geometric mean of its passes; the estimate is the geometric mean of the trials' values, "
    "with a Student t interval on their logs.",
)


def _latency(percentile: int, which: str, in_table: bool) -> MetricDef:
    """A one-client latency percentile, estimated over trials with its interval."""
    return MetricDef(
        f"latency_p{percentile}_ms",
        f"p{percentile}",
        "ms",
        False,
        "{:.2f}",
        timing=True,
        interval=True,
        in_table=in_table,
        about=f"{which} latency of one query (one client: `time.perf_counter_ns` around execute "
        "and fetch): per pass, the percentile of its queries' latencies; then, as qps, the "
        "geometric mean over trials of each trial's geometric mean over its passes, with its "
        "interval.",
    )


LATENCY_P50 = _latency(50, "Median", in_table=True)
LATENCY_P95 = _latency(95, "95th-percentile", in_table=False)
LATENCY_P99 = _latency(99, "99th-percentile", in_table=True)
ROWS = MetricDef(
    "rows_returned_mean",
    "rows",
    fmt="{:.2f}",
    about="Rows a query returned, on average: below k when a filter applied after the index "
    "search leaves fewer (see `short_result_share`).",
)
EFFECTIVE_EF = MetricDef(
    "effective_ef_search",
    "ef",
    fmt="{:.0f}",
    about="The beam the index really searched with: max(hnsw.ef_search, rows the index is asked "
    "for), i.e. k, search.candidates for hybrid, k x filter.overfetch_factor for overfetch. "
    "Absent for the exact strategy.",
)
BUILD_S = MetricDef(
    "index_build_s",
    "build",
    "s",
    False,
    "{:.1f}",
    in_table=True,
    about="Wall time of the index build (the cached index's own build when the run reuses it; "
    "tag build_disturbed says whether other processes took CPU while it was built).",
)
INDEX_MB = MetricDef(
    "index_memory_mb",
    "index_mem",
    "MB",
    False,
    "{:.0f}",
    about="Memory the loaded index takes: the RSS a fresh process gains by attaching the index "
    "file and answering one query, measured once per build (engine.reuse_index=true only).",
)
PEAK_RSS_MB = MetricDef(
    "peak_rss_mb",
    "peak_rss",
    "MB",
    False,
    "{:.0f}",
    about="Highest RSS of the run's process and the processes it waits for, summed: sampled "
    "every 50 ms while it makes the data and the index (a duckdb_vss build and the index memory "
    "probe counted); while the trials run, this process's RSS plus the largest worker's peak "
    "(from wait4). What a machine must hold for this run (compare with memory_estimate_mb).",
)
BATCH_QPS = MetricDef(
    "batch_qps",
    "batch_qps",
    fmt="{:.0f}",
    timing=True,
    in_table=True,
    interval=True,
    about="All queries in one statement (a LATERAL join planned as HNSW_INDEX_JOIN, checked) at "
    "the headline ef: throughput inside the engine, per pass the queries over the statement's "
    "wall time, estimated over trials as qps. Not measured with a filter.",
)

# Every metric above, in the order of the report's table.
METRICS = (
    RECALL,
    NDCG,
    MRR,
    QPS,
    BATCH_QPS,
    LATENCY_P50,
    LATENCY_P95,
    LATENCY_P99,
    ROWS,
    EFFECTIVE_EF,
    BUILD_S,
    INDEX_MB,
    PEAK_RSS_MB,
)

# The console line of a finished run, in this order; absent metrics are left out.
CONSOLE = (
    RECALL,
    MRR,
    NDCG,
    QPS,
    LATENCY_P50,
    LATENCY_P99,
    ROWS,
    EFFECTIVE_EF,
    BATCH_QPS,
    BUILD_S,
    INDEX_MB,
    PEAK_RSS_MB,
)
# The points of an ef curve (metric steps ef_curve.<name>, step = effective ef).
CURVE = (RECALL, QPS, LATENCY_P50, LATENCY_P99)


def curve_name(metric: MetricDef, k: int) -> str:
    return f"ef_curve.{metric.name(k)}"


@dataclass(frozen=True)
class MetricDoc:
    """Further metrics a run logs, by their MLflow names (fnmatch patterns), for the reference."""

    names: tuple[str, ...]
    about: str


FURTHER = (
    MetricDoc(
        ("*_ci_low", "*_ci_high"),
        "The 95% interval of the metric named before the suffix (measure/intervals.py).",
    ),
    MetricDoc(
        (
            "ef_curve.recall_at_*",
            "ef_curve.qps",
            "ef_curve.latency_p50_ms",
            "ef_curve.latency_p99_ms",
        ),
        "One point per effective ef of hnsw.ef_curve and hnsw.ef_search, all on one build "
        "(MLflow metric steps, step = ef), each with its interval.",
    ),
    MetricDoc(
        ("batch_recall_at_*", "batch_same_ids_share", "batch_qps_median", "client_overhead_share"),
        "The batch statement's recall, the share of queries whose ids equal the single "
        "queries', its median pass, and the share of a single query's latency that is "
        "per-statement client overhead (1 - batch time per query / single-query mean latency).",
    ),
    MetricDoc(
        ("clients.qps", "clients.latency_p50_ms", "clients.latency_p99_ms", "clients.*"),
        "With bench.clients=[1,2,4]: N threads, each with its own cursor, share the queries; "
        "step = clients.",
    ),
    MetricDoc(
        ("latency_mean_ms", "latency_max_ms"),
        "Mean one-client latency (per pass the mean of its queries' latencies, then estimated "
        "over trials as qps), and the slowest query of any pass of any trial.",
    ),
    MetricDoc(
        (
            "qps_ci_halfwidth",
            "qps_median",
            "qps_spread",
            "timed_passes",
            "timed_s",
            "trials",
            "timing_units",
            "retried_passes",
        ),
        "The headline QPS interval's half-width relative to the estimate (qps_ci_high / qps - "
        "1): trials are added until it is within bench.precision (tag precision_reached); the "
        "median QPS of the headline's passes over every trial and their spread ((max - min) / "
        "median); the headline's passes timed, and the seconds inside every timed pass of every "
        "series and trial; the trials; the units the intervals are over (a count: the trials); "
        "passes timed again because other processes disturbed them.",
    ),
    MetricDoc(
        ("trial_fixed_s",),
        "What a trial cost beyond its timed passes, averaged over the trials: its process's "
        "start, data load, index open, warm-ups and the first trial's scoring.",
    ),
    MetricDoc(
        ("other_cpu_share", "other_cpu_share_resolution", "index_build_other_cpu_share"),
        "The share of the machine's CPU other processes took during the timed passes (the worst "
        "point) or the build; shares below the resolution (CPU counters tick every 10 ms) read "
        "as 0. Above bench.max_other_cpu_share a run is tagged disturbed.",
    ),
    MetricDoc(
        ("mrr_at_10.*", "ndcg_at_10.*", "relevant_recall_at_*", "labelled_query_share"),
        "The label metrics per query kind (paraphrase, entity, keyword); the share of the "
        "relevant documents in the top 10, and in the top k where k is not 10 (BEIR's recall@100 "
        "at k=100); the share of queries that have labels left after the filter (the label "
        "metrics are over these).",
    ),
    MetricDoc(
        ("short_result_share", "n_queries", "failed_queries"),
        "The share of queries that returned fewer than k rows; the queries timed; queries a "
        "library raised on.",
    ),
    MetricDoc(
        ("index_approx_memory_mb", "index_file_mb", "index_count", "index_levels", "index_trees"),
        "The vss extension's own memory estimate, the index file's size, and the index's "
        "entries and graph levels (Annoy: its trees) as the engine reports them.",
    ),
    MetricDoc(
        ("build_rss_growth_mb", "process_start_rss_mb", "memory_estimate_mb", "ingest_s"),
        "RSS across the build (a lower bound: the allocator reuses freed memory), the process's "
        "RSS at start, the memory guard's estimate of the run, and LanceDB's table write.",
    ),
    MetricDoc(
        ("index_build_memory_limit_mb", "index_build_attempts"),
        "duckdb_vss: the memory_limit its index build ran under, in a process of its own (0: "
        "none, after a build under the limit died), and the builds it took (2 after such a "
        "death).",
    ),
    MetricDoc(
        ("groundtruth.shipped_*",),
        "A file that ships its neighbours (hdf5): the queries they were checked on against "
        "exact search (every one), the mean share of the exact top k the file's rows hold, the "
        "rows replaced by exact search's, and the rows among them that name a document twice.",
    ),
    MetricDoc(
        ("load_s", "data_gen_s", "embed_s", "groundtruth_s", "difficulty_s", "run_wall_s"),
        "Wall time of each data stage in this run (cached data loads in well under a second) "
        "and of the whole run.",
    ),
    MetricDoc(
        ("encode_docs_per_s",),
        "embed=model and embed=e5: documents encoded per second by the model, in the run's own "
        "process before any timing (logged by the run that encoded them; a cache hit encodes "
        "none).",
    ),
    MetricDoc(
        ("stage.*_s", "stage.*_peak_rss_mb"),
        "Where the run's wall time and memory went, per stage: startup, tracking_lookup, claim, "
        "data, tokens, index_build, index_open, close, queries (every trial's worker, from its "
        "start to its end), log_params, log_results, plots, log_artifacts.",
    ),
    MetricDoc(
        ("difficulty.rc_10.*", "difficulty.lid.*"),
        "How hard the data is, as VIBE computes it (mean, p10, median, p90 over the queries): "
        "relative contrast RC_10 (near 1 is hard) and local intrinsic dimensionality LID (high "
        "is hard).",
    ),
    MetricDoc(
        ("vector_*", "bm25_*", "hybrid_*", "fusion_mean_ms", "fts_*", "tokenize_s"),
        "Hybrid runs: each half's own label metrics on the same queries, BM25's hit rate and "
        "latencies, the fusion's cost, the full-text index's build time, share and memory, and "
        "tokenizing time.",
    ),
    MetricDoc(
        ("native_hybrid_*",),
        "engine=lancedb with search=hybrid: LanceDB's own hybrid query and reranker, scored on "
        "the same labels.",
    ),
    MetricDoc(
        ("churn.recall_at_*", "churn.qps", "churn.latency_p99_ms", "churn.live_rows"),
        "workload=churn, per round (MLflow steps, step = round; 0: the initial build): recall "
        "against exact search over the rows live then, one-client QPS and p99 at the headline "
        "ef with their intervals, and the live rows. A churn run's recall_at_10, qps and "
        "latency_p99_ms are its last round's.",
    ),
    MetricDoc(
        ("churn.deleted_result_share", "churn.rows_returned", "churn.updated_found_share"),
        "workload=churn, per round: the share of returned rows that are deleted (0 unless the "
        "engine returns them), rows per query, and the share of the round's updated rows "
        "(at most 200) that a search with their new vector returns.",
    ),
    MetricDoc(
        ("churn.*_rows_per_s", "no_index.*_rows_per_s"),
        "workload=churn, per round: deletes, updates and inserts per second with the index; "
        "no_index.*: round 1's on the same table without its index, once (DuckDB).",
    ),
    MetricDoc(
        (
            "churn.rss_mb",
            "churn.index_memory_mb",
            "churn.file_mb",
            "churn.wal_mb",
            "churn.checkpoint_s",
        ),
        "workload=churn, per round: the process's RSS, the index's memory as the engine reports "
        "it, the database file's size after the round's checkpoint, the WAL's size before it, "
        "and the checkpoint's time (a file-backed DuckDB).",
    ),
    MetricDoc(
        ("churn.recall_drift", "churn.rounds"),
        "workload=churn: the last round's recall less the initial build's, and the rounds run.",
    ),
    MetricDoc(
        ("compacted.*", "compaction_s", "compaction_checkpoint_s"),
        "workload=churn: the round measurements again after the engine's compaction (PRAGMA "
        "hnsw_compact_index, usearch's compact, LanceDB's optimize; none for hnswlib and "
        "faiss_flat), the compaction's time and the checkpoint after it.",
    ),
    MetricDoc(
        ("crash.*",),
        "workload.kills: over the killed copies, the ones killed mid-round, the share that "
        "opened, the share whose rows and index agreed (outcome ok), the baseline copy's "
        "outcome (applied without a kill), and the longest reopen with WAL replay.",
    ),
    MetricDoc(
        ("restart.*",),
        "workload=restart, cold (the index file's pages dropped from the page cache) and warm: "
        "the geometric mean over the fresh processes with its interval (each process's own in "
        "restart/restarts.parquet) of imported_s, opened_s and to_first_answer_s from the process's start; open_s "
        "from import to an open index; first_query_ms; steady_p50_ms of the next 200 queries; "
        "read_mb from storage.",
    ),
    MetricDoc(
        ("system/*",),
        "MLflow's system metrics every tracking.system_metrics_interval_s: machine-wide CPU, "
        "memory, disk and network over time, not this process's footprint.",
    ),
)
