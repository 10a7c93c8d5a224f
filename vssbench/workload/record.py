"""A churn or restart run measured and logged into its journal (track/journal.py): params,
metrics, per-round (or per-restart) steps, its tables and its figure."""

import logging

import pandas as pd

from vssbench.run import timings
from vssbench.run.plan import RunPlan
from vssbench.stopwatch import Stopwatch
from vssbench.track.journal import Journal
from vssbench.workload import churn, figures, restart

log = logging.getLogger(__name__)


def measure_and_log(plan: RunPlan, journal: Journal, watch: Stopwatch) -> dict[str, float]:
    """Returns the run's metrics."""
    if plan.workload.name == "churn":
        result = churn.measure(plan, watch)
        tables = {"churn/states.parquet": result.states.drop(columns="timing", errors="ignore")}
        tables["timings/passes.parquet"] = timings.passes_frame([result.timings])
        if len(result.crashes):
            tables["churn/crashes.parquet"] = result.crashes
            result.metrics.update(_crash_metrics(result.crashes))
        passes = tables["timings/passes.parquet"]
        disturbed = timings.disturbed(passes, plan.timing.guard.max_share)
        journal.set_tags({"timing_disturbed": str(disturbed).lower()})
        figure = figures.churn(result.states, plan.search.k, plan.identity.name)
        _log(journal, result.params, result.metrics, result.steps, tables)
        journal.log_figure(figure, "plots/churn.png")
    else:
        result = restart.measure(plan, watch)
        busy = result.metrics["other_cpu_share"] > plan.timing.guard.max_share
        journal.set_tags({"timing_disturbed": str(busy).lower()})
        _log(
            journal,
            result.params,
            result.metrics,
            {},
            {"restart/restarts.parquet": result.restarts},
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
    journal: Journal,
    params: dict[str, str],
    metrics: dict[str, float],
    steps: dict[str, list[tuple[int, float]]],
    tables: dict[str, pd.DataFrame],
) -> None:
    journal.log_params(params)
    journal.log_metrics(metrics)
    journal.log_steps(steps)
    for artifact, frame in tables.items():
        journal.log_table(frame, artifact)
