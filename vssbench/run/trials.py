"""Every timing of a run, in trials: each a fresh worker process (run/trial_worker.py) that opens
the cached data and index and times every point, with nothing of vssbench's beside it. The run's
process only starts them one after the other, lets its own threads act between their timed
series, and stops when the headline QPS interval is as narrow as bench.precision asks (or the
bounds are reached); the run's timing metrics, steps and tables are estimated from all of them
(run/timings.py)."""

import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench import faults
from vssbench.measure.timing import Guard, Timing
from vssbench.run import timings
from vssbench.run.hybrid import NATIVE_HYBRID, NATIVE_PREFIX
from vssbench.run.measurement import Measurement
from vssbench.run.plan import RunPlan, no_pause

log = logging.getLogger(__name__)

MB_PER_KB = 1 / 1024  # ru_maxrss is in kB on Linux
FAILED = 3  # a worker's exit status when it pickled the error that stopped it
LOG_FORMAT = "%(levelname)s %(name)s %(message)s"  # a worker's log lines, as _relay reads them


class TrialError(RuntimeError):
    """A trial's process failed; the message has the last line it wrote."""


@dataclass(frozen=True)
class Trial:
    """What a trial's process sends back: every timed series, and which are the headline's."""

    timings: list[Timing]
    head_series: str
    head_ef_series: str


@dataclass(frozen=True)
class Job:
    """One trial for a worker: the plan, the trial's number (it rotates the points' order) and
    whether it also scores what it found (the first trial's Measurement is the run's)."""

    plan: RunPlan
    number: int
    score: bool


@dataclass(frozen=True)
class Worked:
    """A worker's result with what it cost: wall time, the part of it its timed passes took,
    and the peak RSS of its process (MB)."""

    found: Measurement | Trial
    wall_s: float
    timed_s: float
    peak_rss_mb: float


@dataclass
class Timed:
    """A run's trials: the first one's Measurement, every trial's series, whether the headline
    interval reached bench.precision, and the workers' costs."""

    result: Measurement
    trials: list[list[Timing]]
    precision_reached: bool
    halfwidth: float
    fixed_s: list[float]  # per trial, its wall time less its timed passes
    peak_rss_mb: float  # the largest worker's


@dataclass
class Tables:
    passes: pd.DataFrame  # timings/passes.parquet
    queries: pd.DataFrame  # timings/queries.parquet


def until_precise(plan: RunPlan, between: Callable[[], None] = no_pause) -> Timed:
    """bench.trials trials, then more until the headline QPS interval's half-width is within
    bench.precision, bench.max_trials are timed or bench.max_timing_s have passed. `between`
    runs in this process between two timed series of a worker."""
    settings = plan.timing
    started = time.perf_counter()
    done: list[Worked] = []
    worker_plan = _worker_plan(plan)
    with tempfile.TemporaryDirectory(prefix="trials-") as scratch:  # inside the run's scratch
        while True:
            number = len(done) + 1
            job = Job(worker_plan, number, score=number == 1)
            done.append(_in_worker(job, Path(scratch), f"trial {number}", between))
            if worker_plan.timing.guard.retries and _stayed_busy(done[-1], settings.guard):
                worker_plan = _without_retries(worker_plan, number)
            head = done[0].found.head_series
            est = timings.estimate(timings.passes_frame(_series(done)), head, "qps")
            half = timings.halfwidth(est)
            log.info(
                "trial %d: %.1fs (%.1fs timed); qps %.0f [%.0f-%.0f] +-%.1f%% over %d trials",
                number,
                done[-1].wall_s,
                done[-1].timed_s,
                est.value,
                est.low,
                est.high,
                100 * half,
                number,
            )
            if number < settings.trials:
                continue
            reached = half <= settings.precision
            spent = time.perf_counter() - started >= settings.max_timing_s
            if reached or number >= settings.max_trials or spent:
                break
    return Timed(
        done[0].found,
        _series(done),
        reached,
        half,
        [w.wall_s - w.timed_s for w in done],
        max(w.peak_rss_mb for w in done),
    )


def _stayed_busy(worked: Worked, guard: Guard) -> bool:
    """A pass of the trial was still disturbed after its retries: the load did not pass."""
    return any(guard.disturbed(p) for t in worked.found.timings for p in t.passes)


def _without_retries(plan: RunPlan, number: int) -> RunPlan:
    """The plan of the trials after one whose retries did not outwait the load: on a machine
    that stays busy, waiting costs time and buys nothing; the trials' interval carries it."""
    log.info(
        "the machine stayed busy through trial %d's retries: the trials after it time their "
        "passes without waiting for it to go quiet",
        number,
    )
    guard = replace(plan.timing.guard, retries=0)
    return replace(plan, timing=replace(plan.timing, guard=guard))


def _series(done: list[Worked]) -> list[list[Timing]]:
    return [w.found.timings for w in done]


def _worker_plan(plan: RunPlan) -> RunPlan:
    """The plan a worker times: the index as cached (never timed again), no store."""
    return replace(plan, retime_build=False, tracking=None)


def interleaved(plans: list[RunPlan], count: int, first: int = 1) -> list[list[Trial]]:
    """Trials `first` .. `first + count - 1` of each plan, every one in a fresh process,
    alternating in time (A B, B A, A B, ...: trial n's order set by n, so that calls that go on
    from where the last one stopped keep alternating) so that the machine's drift falls on every
    side alike; per plan, its trials."""
    order = []
    for number in range(first, first + count):
        sides = list(enumerate(plans))
        order += [(number, side, plan) for side, plan in (sides if number % 2 else sides[::-1])]
    out: list[list[Trial]] = [[] for _ in plans]
    with tempfile.TemporaryDirectory(prefix="trials-") as scratch:
        for number, side, plan in order:
            job = Job(_worker_plan(plan), number, score=False)
            worked = _in_worker(job, Path(scratch), f"side {side + 1}, trial {number}", no_pause)
            out[side].append(worked.found)
    return out


def _in_worker(job: Job, scratch: Path, label: str, between: Callable[[], None]) -> Worked:
    """The job measured in a fresh process: what it found and what that cost."""
    job_file, out = scratch / "job.pickle", scratch / "out.pickle"
    job_file.write_bytes(pickle.dumps(job))
    out.unlink(missing_ok=True)  # the trial before's
    started = time.perf_counter()
    peak_mb = _run_worker(job_file, out, label, between, relay=job.score)
    found = pickle.loads(out.read_bytes())
    wall = time.perf_counter() - started
    timed_s = sum(p.elapsed_s for t in found.timings for p in t.passes)
    return Worked(found, wall, timed_s, peak_mb)


def _run_worker(
    job_file: Path, out: Path, label: str, between: Callable[[], None], relay: bool
) -> float:
    """Run the worker to its end, answering each of its pauses after `between`; the peak RSS of
    its process (MB). The error that stopped it is raised here; `relay`: its log lines are
    logged here too."""
    up_read, up_write = os.pipe()  # the worker says it is between two series
    down_read, down_write = os.pipe()  # this process says it may go on
    command = [sys.executable, "-m", "vssbench.run.trial_worker", str(job_file), str(out)]
    command += [str(up_write), str(down_read)]
    with tempfile.TemporaryFile() as err:
        worker = subprocess.Popen(command, pass_fds=(up_write, down_read), stderr=err)
        os.close(up_write)
        os.close(down_read)
        try:
            while os.read(up_read, 1):
                between()
                os.write(down_write, b".")
        except BaseException:
            worker.kill()
            raise
        finally:
            os.close(up_read)
            os.close(down_write)
        _, status, usage = os.wait4(worker.pid, 0)
        worker.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    if worker.returncode == FAILED and out.exists():
        raise pickle.loads(out.read_bytes())
    # A full disk: said by the worker's exit status, as its stderr is a file on that disk.
    full = faults.child_no_space(f"the worker of {label}", worker.returncode, "\n".join(lines))
    if full is not None:
        raise full
    if worker.returncode != 0:
        last = lines[-1] if lines else "(no output)"
        raise TrialError(f"{label} failed (exit {worker.returncode}): {last}")
    if relay:
        _relay(lines)
    return usage.ru_maxrss * MB_PER_KB


def _relay(lines: list[str]) -> None:
    """A worker's log lines logged again here by their own loggers, but its progress lines
    (logger vssbench), which only said how far it had got."""
    for line in lines:
        level, _, rest = line.partition(" ")
        name, _, message = rest.partition(" ")
        if level in ("INFO", "WARNING", "ERROR") and name.startswith("vssbench."):
            logging.getLogger(name).log(logging.getLevelName(level), "%s", message)


def finish(timed: Timed, plan: RunPlan, own_ids: Callable[[np.ndarray], list]) -> Tables:
    """The timing metrics, steps, params and tags of every trial into the first one's
    Measurement; the tables every one of them can be recomputed from."""
    result = timed.result
    passes = timings.passes_frame(timed.trials)
    metrics = timings.headline(passes, result.head_series)
    metrics.update(timings.prefixed(passes, timings.BATCH, "batch_"))
    metrics.update(timings.prefixed(passes, NATIVE_HYBRID, NATIVE_PREFIX))
    metrics.update(timings.client_overhead(metrics))
    metrics["trial_fixed_s"] = sum(timed.fixed_s) / len(timed.fixed_s)
    result.metrics.update(metrics)
    result.steps.update(timings.steps(passes, result.head_ef_series))
    result.params["headline_series"] = result.head_series
    result.params["interval_over"] = "trials"
    result.tags["precision_reached"] = str(timed.precision_reached).lower()
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
    return Tables(passes, timings.queries_frame(timed.trials, own_ids))
