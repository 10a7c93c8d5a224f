"""A churn or restart run measured and logged into the active MLflow run: params, metrics,
per-round (or per-restart) steps, its tables and its figure."""

import logging
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.entities import Metric

from vssbench.run import timings
from vssbench.run.plan import RunPlan
from vssbench.stopwatch import Stopwatch
from vssbench.workload import churn, figures, restart

log = logging.getLogger(__name__)


def measure_and_log(plan: RunPlan, watch: Stopwatch) -> dict[str, float]:
    """Into the active MLflow run; returns the run's metrics."""
    if plan.workload.name == "churn":
        result = churn.measure(plan, watch)
        tables = {"churn/states.parquet": result.states.drop(columns="timing", errors="ignore")}
        tables["timings/passes.parquet"] = timings.passes_frame([result.timings])
        if len(result.crashes):
            tables["churn/crashes.parquet"] = result.crashes
            result.metrics.update(_crash_metrics(result.crashes))
        passes = tables["timings/passes.parquet"]
        mlflow.set_tag(
            "timing_disturbed", str(timings.disturbed(passes, plan.timing.guard.max_share)).lower()
        )
        figure = figures.churn(result.states, plan.search.k, plan.identity.name)
        _log(result.params, result.metrics, result.steps, tables, {"plots/churn.png": figure})
    else:
        result = restart.measure(plan, watch)
        busy = result.metrics["other_cpu_share"] > plan.timing.guard.max_share
        mlflow.set_tag("timing_disturbed", str(busy).lower())
        _log(
            result.params,
            result.metrics,
            {},
            {"restart/restarts.parquet": result.restarts},
            {},
        )
    return result.metrics


def _crash_metrics(crashes: pd.DataFrame) -> dict[str, float]:
    """Over the killed copies (the first copy, not killed, is the baseline): how many opened,
    kept rows the round passes through, and whose index agreed with its rows."""
    killed = crashes[crashes["kill"] > 0]
    ok = killed["outcome"] == "ok"
    out = {
        "crash.kills": float(len(killed)),
        "crash.killed_mid_round": float(killed["killed"].sum()),
        "crash.opened_share": float(killed["opened"].mean()),
        "crash.ok_share": float(ok.mean()),
        "crash.baseline_ok": float(crashes.loc[crashes["kill"] == 0, "outcome"].eq("ok").all()),
    }
    if "open_s" in killed and killed["open_s"].notna().any():
        out["crash.reopen_s_max"] = float(killed["open_s"].max())
    return out


def _log(
    params: dict[str, str],
    metrics: dict[str, float],
    steps: dict[str, list[tuple[int, float]]],
    tables: dict[str, pd.DataFrame],
    plots: dict[str, plt.Figure],
) -> None:
    mlflow.log_params(params)
    mlflow.log_metrics(metrics)
    now = int(time.time() * 1000)
    batch = [Metric(m, v, now, step) for m, points in steps.items() for step, v in points]
    for start in range(0, len(batch), 1000):  # MLflow takes at most 1000 metrics per batch
        mlflow.MlflowClient().log_batch(
            mlflow.active_run().info.run_id, metrics=batch[start : start + 1000]
        )
    for artifact, fig in plots.items():
        mlflow.log_figure(fig, artifact)
        plt.close(fig)
    scratch = Path(tempfile.gettempdir())
    for artifact, frame in tables.items():
        local = scratch / Path(artifact).name
        frame.to_parquet(local, index=False)
        mlflow.log_artifact(str(local), str(Path(artifact).parent))
