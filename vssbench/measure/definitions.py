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


RECALL = MetricDef("recall_at_{k}", "recall@{k}", in_table=True, interval=True)
MRR = MetricDef("mrr_at_10", "mrr@10", in_table=True)  # labels are judged at 10 whatever k is
NDCG = MetricDef("ndcg_at_10", "ndcg@10", in_table=True)
QPS = MetricDef("qps", "qps", fmt="{:.0f}", timing=True, in_table=True, interval=True)
LATENCY_P50 = MetricDef(
    "latency_p50_ms", "p50", "ms", False, "{:.2f}", timing=True, interval=True, in_table=True
)
LATENCY_P95 = MetricDef("latency_p95_ms", "p95", "ms", False, "{:.2f}", timing=True, interval=True)
LATENCY_P99 = MetricDef(
    "latency_p99_ms", "p99", "ms", False, "{:.2f}", timing=True, interval=True, in_table=True
)
ROWS = MetricDef("rows_returned_mean", "rows", fmt="{:.2f}")
EFFECTIVE_EF = MetricDef("effective_ef_search", "ef", fmt="{:.0f}")
BUILD_S = MetricDef("index_build_s", "build", "s", False, "{:.1f}", in_table=True)
INDEX_MB = MetricDef("index_memory_mb", "index_mem", "MB", False, "{:.0f}")
PEAK_RSS_MB = MetricDef("peak_rss_mb", "peak_rss", "MB", False, "{:.0f}")
BATCH_QPS = MetricDef(
    "batch_qps", "batch_qps", fmt="{:.0f}", timing=True, in_table=True, interval=True
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
