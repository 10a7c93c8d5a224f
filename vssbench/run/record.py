"""A run's measurement into its MLflow run: params, tags, metrics, curves, plots and the
per-query table; and the one console line that sums it up."""

import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.entities import Metric

from vssbench.measure import definitions
from vssbench.run import plots
from vssbench.run.measurement import Measurement
from vssbench.run.trials import Tables
from vssbench.stopwatch import Stopwatch

# Every trial's and pass's timings (run/timings.py): passes.parquet and queries.parquet.
TIMINGS_DIR = "timings"


def log_measurement(
    result: Measurement, tables: Tables, name: str, k: int, watch: Stopwatch
) -> None:
    """Into the active MLflow run."""
    with watch.stage("log_results"):
        mlflow.log_params(result.params)
        mlflow.set_tags(result.tags)
        mlflow.log_metrics(result.metrics)
        now = int(time.time() * 1000)
        mlflow.MlflowClient().log_batch(
            mlflow.active_run().info.run_id,
            metrics=[
                Metric(metric, value, now, step)
                for metric, points in result.steps.items()
                for step, value in points
            ],
        )
        mlflow.log_text(result.plan, "plan.txt")
    with watch.stage("plots"):
        figures = _figures(result, name, k)
    with watch.stage("log_artifacts"):
        for artifact, fig in figures.items():
            mlflow.log_figure(fig, artifact)
            plt.close(fig)
        scratch = Path(tempfile.gettempdir())  # the run's scratch dir
        _log_parquet(result.per_query, scratch / "per_query.parquet")
        _log_parquet(tables.passes, scratch / "passes.parquet", TIMINGS_DIR)
        _log_parquet(tables.queries, scratch / "queries.parquet", TIMINGS_DIR)


def _log_parquet(frame: pd.DataFrame, path: Path, artifact_dir: str | None = None) -> None:
    frame.to_parquet(path, index=False)
    mlflow.log_artifact(str(path), artifact_dir)


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
