"""A run's measurement into its journal (track/journal.py): params, tags, metrics, curves,
plots and the per-query table; and the one console line that sums it up."""

import matplotlib.pyplot as plt

from vssbench.measure import definitions
from vssbench.run import plots
from vssbench.run.measurement import Measurement
from vssbench.run.trials import Tables
from vssbench.stopwatch import Stopwatch
from vssbench.track.journal import Journal

# Every trial's and pass's timings (run/timings.py): passes.parquet and queries.parquet.
TIMINGS_DIR = "timings"


def log_measurement(
    journal: Journal, result: Measurement, tables: Tables, name: str, k: int, watch: Stopwatch
) -> None:
    with watch.stage("log_results"):
        journal.log_params(result.params)
        journal.set_tags(result.tags)
        journal.log_metrics(result.metrics)
        journal.log_steps(result.steps)
        journal.log_text(result.plan, "plan.txt")
    with watch.stage("plots"):
        figures = _figures(result, name, k)
    with watch.stage("log_artifacts"):
        for artifact, fig in figures.items():
            journal.log_figure(fig, artifact)
        journal.log_table(result.per_query, "per_query.parquet")
        journal.log_table(tables.passes, f"{TIMINGS_DIR}/passes.parquet")
        journal.log_table(tables.queries, f"{TIMINGS_DIR}/queries.parquet")


def _figures(result: Measurement, name: str, k: int) -> dict[str, plt.Figure]:
    latencies = result.per_query["latency_ms"].to_numpy()
    qps = definitions.curve_name(definitions.QPS, k)
    return {
        "plots/latency.png": plots.latency_distribution(latencies, name),
        "plots/recall_by_rank.png": plots.recall_by_rank(result.recall_by_rank, name),
        "plots/recall_vs_qps.png": plots.ef_curve(
            result.steps[definitions.curve_name(definitions.RECALL, k)],
            result.steps[qps],
            (result.steps[f"{qps}_ci_low"], result.steps[f"{qps}_ci_high"]),
            k,
            name,
        ),
    }


def summary_line(m: dict[str, float], k: int) -> str:
    """The headline numbers of a finished run, for its console line."""
    text = " ".join(d.show(k, m[d.name(k)]) for d in definitions.CONSOLE if d.name(k) in m)
    if "bm25_ndcg_at_10" in m:
        text += (
            f" | ndcg@10 vector={m['vector_ndcg_at_10']:.3f} bm25={m['bm25_ndcg_at_10']:.3f} "
            f"hybrid={m['hybrid_ndcg_at_10']:.3f}; bm25 p50={m['bm25_latency_p50_ms']:.2f}ms "
            f"fts_build={m['fts_build_s']:.1f}s bm25_hit_rate={m['bm25_hit_rate']:.2f}"
        )
    return text
