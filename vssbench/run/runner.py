"""One run of a plan: skipped when a finished run has its fingerprint, else claimed, measured
(run/measurement.py) and logged to its MLflow run (run/record.py)."""

import logging
import platform
from contextlib import ExitStack
from dataclasses import dataclass, replace

import mlflow

from vssbench.config.identity import BENCH_VERSION
from vssbench.data.tokens import kiwi_loaded
from vssbench.measure.memory import PeakRss, available_mb, check_memory, estimate_mb, rss_mb
from vssbench.run import trials
from vssbench.run.measurement import measure
from vssbench.run.plan import RunPlan
from vssbench.run.record import log_measurement, summary_line
from vssbench.stopwatch import Stopwatch
from vssbench.track import claim, store
from vssbench.track.scratch import scratch_dir
from vssbench.workload import record as workload

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str  # "finished" or "skipped"
    name: str
    run_id: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class _Memory:
    process_mb: float  # the process's RSS when the run starts
    estimate_mb: float


def run(
    plan: RunPlan,
    concurrent_jobs: int = 1,
    parent_run_id: str | None = None,
    watch: Stopwatch | None = None,
) -> Outcome:
    """Run one plan, or return the stored metrics of a finished run with its fingerprint.

    A claim per fingerprint makes two processes with the same configuration, on one host or
    on hosts sharing a tracking server, run it once (track/claim.py). In a sweep, the run is
    a child of the sweep's run (`parent_run_id`). `watch` times the stages.
    """
    watch = watch or Stopwatch()
    fp, name = plan.identity.fingerprint, plan.identity.name
    with watch.stage("tracking_lookup"):  # a finished run is skipped before the memory guard
        experiment_id = store.prepare(plan.tracking.location)
        done = None if plan.force else claim.find_finished(experiment_id, fp)
    if done is not None:
        return _skipped(name, done, fp)
    memory = _memory_guard(plan, concurrent_jobs)
    if concurrent_jobs > 1 and plan.timing.guard.retries:
        # The other jobs of the sweep are the load, and waiting does not end it.
        log.info("bench.retries: none while %d jobs run at once", concurrent_jobs)
        guard = replace(plan.timing.guard, retries=0)
        plan = replace(plan, timing=replace(plan.timing, guard=guard))
    tags = {
        "bench_version": BENCH_VERSION,
        "concurrent_jobs": str(concurrent_jobs),
        **store.hardware_tags(),
        **claim.process_tags(),
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    with ExitStack() as held_claim:
        with watch.stage("claim"):  # waits while another process runs this fingerprint
            held = held_claim.enter_context(
                claim.claimed(
                    plan.tracking.claims,
                    experiment_id,
                    fp,
                    name,
                    tags,
                    skip_finished=not plan.force,
                    lock_dir=store.lock_dir(plan.tracking.location),
                )
            )
        if not isinstance(held, str):  # another process finished it while this one waited
            return _skipped(name, held, fp)
        metrics, run_id = _measured_run(plan, held, memory, watch)
    log.info("finished %s: %s", name, summary_line(metrics, plan.search.k))
    return Outcome("finished", name, run_id, metrics)


def _skipped(name: str, done: mlflow.entities.Run, fp: str) -> Outcome:
    log.info("skipped %s: finished run %s has fingerprint %s", name, done.info.run_id, fp)
    return Outcome("skipped", name, done.info.run_id, dict(done.data.metrics))


def _memory_guard(plan: RunPlan, concurrent_jobs: int) -> _Memory:
    """The run's peak memory estimate, refused (MemoryGuardError) when it does not fit."""
    process_mb = rss_mb()
    hybrid = plan.search.hybrid is not None
    estimate = estimate_mb(
        plan.data.n_docs, plan.data.dim, plan.build.M, hybrid, process_mb, kiwi_loaded()
    )
    if not plan.force_memory:
        check_memory(estimate, concurrent_jobs, available_mb())
    return _Memory(process_mb, estimate)


def _measured_run(
    plan: RunPlan, run_id: str, memory: _Memory, watch: Stopwatch
) -> tuple[dict[str, float], str]:
    """The claimed run measured and logged; its metrics and run id."""
    with watch.stage("start_run"):
        active = store.start_run(run_id, plan.tracking.system_metrics_interval_s)
    with active, scratch_dir(plan.cache_dir / "scratch" / platform.node()):
        with watch.stage("log_params"):
            mlflow.log_params(plan.identity.params)
            mlflow.log_text(plan.identity.config_yaml, "config.yaml")
        if plan.workload.name != "static":
            with PeakRss(label=lambda: watch.current) as peak:
                metrics = workload.measure_and_log(plan, watch)
            extra = {"peak_rss_mb": peak.peak_mb, "memory_estimate_mb": memory.estimate_mb}
            mlflow.log_metrics({**extra, **watch.metrics()})
            return {**metrics, **extra}, active.info.run_id
        with PeakRss(label=lambda: watch.current) as peak:
            result = measure(plan, watch)
        with watch.stage("trials"):
            extra, fixed = trials.further(plan)
        tables = trials.finish(result, plan, extra)
        if fixed:
            result.metrics["trial_fixed_s"] = sum(fixed) / len(fixed)
        result.metrics["peak_rss_mb"] = peak.peak_mb
        result.metrics.update({f"stage.{n}_peak_rss_mb": mb for n, mb in peak.by_label.items()})
        result.metrics["memory_estimate_mb"] = memory.estimate_mb
        result.metrics["process_start_rss_mb"] = memory.process_mb
        log_measurement(result, tables, plan.identity.name, plan.search.k, watch)
        mlflow.log_metrics(watch.metrics())
    return result.metrics, active.info.run_id
