"""Trials beyond the run's own, each in a fresh process on the cached index (run/trial_worker.py),
and the run's timing metrics, steps and tables estimated from all of them (run/timings.py)."""

import logging
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from vssbench.measure.timing import Timing
from vssbench.run import timings
from vssbench.run.hybrid import NATIVE_HYBRID, NATIVE_PREFIX
from vssbench.run.measurement import Measurement
from vssbench.run.plan import RunPlan

log = logging.getLogger(__name__)


class TrialError(RuntimeError):
    """A trial's process failed; the message has the last line it wrote."""


@dataclass(frozen=True)
class Trial:
    """What a trial's process sends back: every timed series, and which are the headline's."""

    timings: list[Timing]
    head_series: str
    head_ef_series: str


@dataclass
class Tables:
    passes: pd.DataFrame  # timings/passes.parquet
    queries: pd.DataFrame  # timings/queries.parquet


def further(plan: RunPlan) -> tuple[list[list[Timing]], list[float]]:
    """Trials 2..bench.trials, one fresh process each, one after the other: their timed series,
    and each one's fixed cost."""
    numbers = range(2, plan.timing.trials + 1)
    done = _in_workers([(plan, f"trial {n} of {plan.timing.trials}") for n in numbers])
    return [trial.timings for trial, _ in done], [fixed for _, fixed in done]


def interleaved(plans: list[RunPlan], count: int) -> list[list[Trial]]:
    """`count` trials of each plan, every one in a fresh process, alternating in time (A B, B A,
    A B, ...) so that the machine's drift falls on every side alike; per plan, its trials."""
    order = []
    for number in range(1, count + 1):
        sides = list(enumerate(plans))
        order += sides if number % 2 else sides[::-1]
    jobs = [
        (plan, f"side {side + 1}, trial {i // len(plans) + 1} of {count}")
        for i, (side, plan) in enumerate(order)
    ]
    out: list[list[Trial]] = [[] for _ in plans]
    for (side, _), (trial, _) in zip(order, _in_workers(jobs), strict=True):
        out[side].append(trial)
    return out


def _in_workers(jobs: list[tuple[RunPlan, str]]) -> list[tuple[Trial, float]]:
    """Each (plan, label) measured in a fresh process, in order: its timed series and its fixed
    cost (its wall time less the time its timed passes took)."""
    out = []
    with tempfile.TemporaryDirectory(prefix="trials-") as scratch:  # inside the run's scratch
        for number, (plan, label) in enumerate(jobs):
            plan_file, result = Path(scratch, f"plan{number}.pickle"), Path(scratch, "out.pickle")
            trial_plan = replace(plan, retime_build=False, tracking=None)
            plan_file.write_bytes(pickle.dumps(trial_plan))
            started = time.perf_counter()
            _run_worker(plan_file, result, label)
            trial = pickle.loads(result.read_bytes())
            wall = time.perf_counter() - started
            timed_s = sum(p.elapsed_s for t in trial.timings for p in t.passes)
            out.append((trial, wall - timed_s))
            log.info("%s: %.1fs, of which %.1fs timed passes", label, wall, timed_s)
    return out


def _run_worker(plan_file: Path, out: Path, label: str) -> None:
    command = [sys.executable, "-m", "vssbench.run.trial_worker", str(plan_file), str(out)]
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        raise TrialError(f"{label} failed (exit {done.returncode}): {lines[-1]}")


def finish(result: Measurement, plan: RunPlan, extra: list[list[Timing]]) -> Tables:
    """The timing metrics, steps, params and tags of every trial into `result`; the tables
    every one of them can be recomputed from."""
    trials = [result.timings, *extra]
    passes = timings.passes_frame(trials)
    metrics = timings.headline(passes, result.head_series)
    metrics.update(timings.prefixed(passes, timings.BATCH, "batch_"))
    metrics.update(timings.prefixed(passes, NATIVE_HYBRID, NATIVE_PREFIX))
    metrics.update(timings.client_overhead(metrics))
    result.metrics.update(metrics)
    result.steps.update(timings.steps(passes, result.head_ef_series))
    result.params["headline_series"] = result.head_series
    result.params["interval_over"] = "trials" if len(trials) > 1 else "passes"
    disturbed = timings.disturbed(passes, plan.timing.guard.max_share)
    result.tags["timing_disturbed"] = str(disturbed).lower()
    if disturbed:
        log.warning(
            "timing disturbed: other processes took %.0f%% of the machine's CPU during a timed "
            "pass after %d retries (bench.max_other_cpu_share=%s); the report leaves this run "
            "out of timing figures",
            100 * metrics["other_cpu_share"],
            plan.timing.guard.retries,
            plan.timing.guard.max_share,
        )
    return Tables(passes, timings.queries_frame(trials, result.own_ids))
