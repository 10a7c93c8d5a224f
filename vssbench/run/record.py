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


def curve_lines(result: Measurement, k: int) -> list[str]:
    """A line per ef point and one for the batch: recall and the same QPS estimate, interval
    and trial count that the run logs."""
    steps = result.steps
    recall = dict(steps.get(definitions.curve_name(definitions.RECALL, k), []))
    qps = definitions.curve_name(definitions.QPS, k)
    low, high = (dict(steps.get(f"{qps}_ci_{end}", [])) for end in ("low", "high"))
    m, label = result.metrics, definitions.RECALL.label.format(k=k)
    lines = [
        f"ef {ef}: {label} {recall[ef]:.3f}, {value:.0f} QPS [{low[ef]:.0f}-{high[ef]:.0f}]"
        for ef, value in sorted(steps.get(qps, []))
    ]
    if "batch_qps" in m:
        ef = m.get("effective_ef_search")
        lines.append(
            f"batch at {'the headline' if ef is None else f'ef {ef:.0f}'}: "
            f"{_qps(m, 'batch_qps')} (single "
            f"{m['qps']:.0f}), {label} {m['batch_' + definitions.RECALL.name(k)]:.3f}, same ids "
            f"as single queries {100 * m['batch_same_ids_share']:.0f}%"
        )
    return [f"{line}, {m['trials']:.0f} trials" for line in lines]


def _qps(m: dict[str, float], name: str) -> str:
    return f"{m[name]:.0f} QPS [{m[name + '_ci_low']:.0f}-{m[name + '_ci_high']:.0f}]"


def summary_line(m: dict[str, float], k: int) -> str:
    """The headline numbers of a finished run, for its console line: qps with its interval and
    trial count."""
    text = " ".join(d.show(k, m[d.name(k)]) for d in definitions.CONSOLE if d.name(k) in m)
    if "qps_ci_low" in m and "trials" in m:
        qps = definitions.QPS.show(k, m["qps"])
        interval = f"[{m['qps_ci_low']:.0f}-{m['qps_ci_high']:.0f}] {m['trials']:.0f} trials"
        text = text.replace(qps, f"{qps} {interval}", 1)
    if "bm25_ndcg_at_10" in m:
        text += (
            f" | ndcg@10 vector={m['vector_ndcg_at_10']:.3f} bm25={m['bm25_ndcg_at_10']:.3f} "
            f"hybrid={m['hybrid_ndcg_at_10']:.3f}; bm25 p50={m['bm25_latency_p50_ms']:.2f}ms "
            f"fts_build={m['fts_build_s']:.1f}s bm25_hit_rate={m['bm25_hit_rate']:.2f}"
        )
    return text
