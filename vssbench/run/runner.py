"""One run of a plan: skipped when a finished run has its fingerprint, sent when an earlier
run of it was measured but not sent, else claimed, measured (run/measurement.py), written to
its journal (run/record.py) and sent to its MLflow run (track/journal.py)."""

import functools
import logging
import platform
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import mlflow

from vssbench import cache
from vssbench.capacity import expect
from vssbench.config.identity import BENCH_VERSION
from vssbench.data.tokens import kiwi_loaded
from vssbench.engines.duckdb import index_file
from vssbench.measure.memory import (
    PeakRss,
    available_mb,
    check_memory,
    estimate_mb,
    give_back,
    rss_mb,
)
from vssbench.run import trials
from vssbench.run.measurement import prepare, with_preparation
from vssbench.run.plan import RunPlan
from vssbench.run.record import curve_lines, log_measurement, summary_line
from vssbench.stopwatch import Stopwatch
from vssbench.track import claim, journal, store
from vssbench.track.journal import Destination, Journal
from vssbench.track.scratch import scratch_dir
from vssbench.workload import record as workload

log = logging.getLogger(__name__)

# A build worth an ETA: below this it takes seconds (100k x 128: 31 s on 2 cores).
EXPECT_BUILD_FROM_DOCS = 100_000


@dataclass
class Outcome:
    status: str  # "finished", "skipped" or "synced" (an earlier run's saved results sent)
    name: str
    run_id: str
    metrics: dict[str, float]
    timing_disturbed: bool = False


@dataclass(frozen=True)
class _Memory:
    process_mb: float  # the process's RSS when the run starts
    estimate_mb: float


def run(
    plan: RunPlan,
    concurrent_jobs: int = 1,
    parent_run_id: str | None = None,
    watch: Stopwatch | None = None,
    job_dir: Path | None = None,
) -> Outcome:
    """Run one plan, or return the stored metrics of a finished run with its fingerprint.

    A claim per fingerprint makes two processes with the same configuration, on one host or
    on hosts sharing a tracking server, run it once (track/claim.py). In a sweep, the run is
    a child of the sweep's run (`parent_run_id`). `watch` times the stages. The results are
    written under `job_dir` (else under cache_dir/results) before they are sent; a store that
    fails raises TrackingError, and what was measured is kept there.
    """
    watch = watch or Stopwatch()
    fp, name = plan.identity.fingerprint, plan.identity.name
    unsent_dir = plan.cache_dir / journal.UNSENT_DIR
    with watch.stage("tracking_lookup"), _store_step(plan.tracking.location, "reach"):
        # A finished run is skipped before the memory guard.
        experiment_id = store.prepare(plan.tracking.location)
        done = None if plan.force else claim.find_finished(experiment_id, fp)
        uri = store.tracking_uri(plan.tracking.location)
        unsent = journal.unsent_journal(unsent_dir, fp, uri)
        if unsent is not None and done is None:
            return _synced(name, unsent)
    if done is not None:
        return _skipped(name, done, fp)
    memory = _memory_guard(plan, concurrent_jobs)
    cache.remove_dead_leftovers(plan.cache_dir)  # dead builders' temp files, of any entry
    if concurrent_jobs > 1 and plan.timing.guard.retries:
        # The other jobs of the sweep are the load, and waiting does not end it.
        log.info("bench.retries: none while %d jobs run at once", concurrent_jobs)
        guard = replace(plan.timing.guard, retries=0)
        plan = replace(plan, timing=replace(plan.timing, guard=guard))
    return _claimed_run(
        plan, experiment_id, uri, memory, watch, job_dir, concurrent_jobs, parent_run_id
    )


def _claimed_run(
    plan: RunPlan,
    experiment_id: str,
    uri: str,
    memory: "_Memory",
    watch: Stopwatch,
    job_dir: Path | None,
    concurrent_jobs: int,
    parent_run_id: str | None,
) -> Outcome:
    """Claim the fingerprint, measure into the journal and send it."""
    fp, name = plan.identity.fingerprint, plan.identity.name
    unsent_dir = plan.cache_dir / journal.UNSENT_DIR
    tags = {
        "bench_version": BENCH_VERSION,
        "concurrent_jobs": str(concurrent_jobs),
        **store.hardware_tags(),
        **claim.process_tags(),
        "fingerprint": fp,
    }
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    with ExitStack() as held_claim:
        # Waits while another process runs this fingerprint.
        with watch.stage("claim"), _store_step(plan.tracking.location, "claim a run in"):
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
        to = Destination(uri, experiment_id, held, name, fp)
        results = (job_dir or plan.cache_dir / "results" / held) / journal.JOURNAL_DIR
        record = Journal(results, to, unsent_dir)
        record.set_tags(tags)
        metrics = _measured_run(plan, record, memory, watch)
        try:
            journal.send(record.dir)
        except store.TrackingError:
            record.mark_unsent()
            raise
    short = _short_of_precision(record.tags, metrics, plan.timing.precision)
    log.info("finished %s: %s%s", name, summary_line(metrics, plan.search.k), short)
    return Outcome("finished", name, held, metrics, record.tags.get("timing_disturbed") == "true")


def _short_of_precision(tags: dict[str, str], metrics: dict[str, float], asked: float) -> str:
    """What the finished line says of a run that stopped before its interval was as narrow as
    bench.precision asks (nothing for one that reached it)."""
    if tags.get("precision_reached") != "false":
        return ""
    reached = metrics["qps_ci_halfwidth"]
    return (
        f" | precision not reached: qps +-{100 * reached:.1f}% after {metrics['trials']:.0f} "
        f"trials, +-{100 * asked:g}% asked (bench.max_trials or bench.max_timing_s)"
    )


@contextmanager
def _store_step(location: store.StoreLocation, doing: str) -> Iterator[None]:
    """A failure of the store before any measurement, as a TrackingError that names it."""
    try:
        yield
    except store.TrackingError:
        raise
    except Exception as error:
        uri = store.tracking_uri(location)
        raise store.TrackingError(
            f"cannot {doing} the tracking store {uri} ({store.short(error)})"
        ) from error


def _synced(name: str, unsent: Path) -> Outcome:
    """An earlier run of this configuration measured but not sent: sent now, not measured."""
    run_id = journal.send(unsent)
    data = journal.read(unsent)
    log.info("synced %s: its results, saved in %s, are now in run %s", name, unsent, run_id)
    metrics = {name: value for name, value, _, step in data["metrics"] if step == 0}
    disturbed = data["tags"].get("timing_disturbed") == "true"
    return Outcome("synced", name, run_id, metrics, disturbed)


def _skipped(name: str, done: mlflow.entities.Run, fp: str) -> Outcome:
    log.info("skipped %s: finished run %s has fingerprint %s", name, done.info.run_id, fp)
    disturbed = done.data.tags.get("timing_disturbed") == "true"
    return Outcome("skipped", name, done.info.run_id, dict(done.data.metrics), disturbed)


def _memory_guard(plan: RunPlan, concurrent_jobs: int) -> _Memory:
    """The run's peak memory estimate, refused (MemoryGuardError) when it does not fit."""
    process_mb = rss_mb()
    hybrid = plan.search.hybrid is not None
    # Only duckdb_vss has reuse_index, and with it builds its index file in a process of its own.
    apart = getattr(plan.engine.options, "reuse_index", False)
    estimate = estimate_mb(
        plan.data.n_docs,
        plan.data.dim,
        plan.build.M,
        hybrid,
        process_mb,
        kiwi_loaded(),
        index_file.memory_limit_mb(plan.data.n_docs, plan.data.dim) if apart else None,
    )
    available = available_mb()
    log.info("memory: about %.0f MB at this run's peak, %.0f MB available", estimate, available)
    if not plan.force_memory:
        check_memory(estimate, concurrent_jobs, available)
    return _Memory(process_mb, estimate)


def _measured_run(
    plan: RunPlan, record: Journal, memory: _Memory, watch: Stopwatch
) -> dict[str, float]:
    """The claimed run measured into its journal; its metrics."""
    interval = plan.tracking.system_metrics_interval_s
    with (
        store.system_metrics(record.run_id, interval) as monitor,
        scratch_dir(plan.cache_dir / "scratch" / platform.node()),
    ):
        started = time.perf_counter()
        with watch.stage("log_params"):
            record.log_params(plan.identity.params)
            record.log_text(plan.identity.config_yaml, "config.yaml")
        if plan.workload.name != "static":
            with PeakRss(label=lambda: watch.current) as peak:
                metrics = workload.measure_and_log(plan, record, watch)
            extra = {"peak_rss_mb": peak.peak_mb, "memory_estimate_mb": memory.estimate_mb}
            record.log_metrics({**extra, **watch.metrics()})
            return {**metrics, **extra}
        if plan.data.n_docs >= EXPECT_BUILD_FROM_DOCS and not plan.engine.exact:
            watch.expect["index_build"] = functools.partial(
                expect.build_seconds,
                plan.tracking.location.experiment,
                plan.engine.name,
                plan.data.dim,
                plan.build.M,
                plan.build.ef_construction,
                plan.data.n_docs,
            )
        with PeakRss(label=lambda: watch.current) as peak:
            prepared = prepare(plan, watch)
        # Every timing in workers, this process's own threads quiet while their passes run, and
        # what it freed of the data given back before they load theirs.
        give_back()
        beside_mb = rss_mb()
        with watch.stage("queries"), monitor.paused(), claim.quiet() as between:
            timed = trials.until_precise(plan, between)
        result = with_preparation(timed.result, prepared, plan.timing.guard.max_share)
        tables = trials.finish(timed, plan, prepared.own_ids)
        m = result.metrics
        m["run_wall_s"] = time.perf_counter() - started
        if "fts_build_s" in m:  # every trial's worker builds the full-text index again
            m["fts_build_share"] = m["fts_build_s"] * m["trials"] / m["run_wall_s"]
        for line in curve_lines(result, plan.search.k):
            log.info("%s", line)
        queries_mb = beside_mb + timed.peak_rss_mb  # this process and its largest worker
        result.metrics["peak_rss_mb"] = max(peak.peak_mb, queries_mb)
        result.metrics.update({f"stage.{n}_peak_rss_mb": mb for n, mb in peak.by_label.items()})
        result.metrics["stage.queries_peak_rss_mb"] = queries_mb
        result.metrics["memory_estimate_mb"] = memory.estimate_mb
        result.metrics["process_start_rss_mb"] = memory.process_mb
        log_measurement(record, result, tables, plan.identity.name, plan.search.k, watch)
        record.log_metrics(watch.metrics())
    return result.metrics
