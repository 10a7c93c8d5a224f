"""One benchmark run: data, DuckDB indexes, plan check, timed queries, metrics, MLflow."""

import logging
import platform
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from omegaconf import DictConfig, OmegaConf

from vssbench.config import dataset, identity
from vssbench.config.schema import FilterKind, SearchKind
from vssbench.data import difficulty
from vssbench.data.load import Dataset, DataSpec, data_key, load_dataset, load_tokens
from vssbench.data.tokens import kiwi_loaded
from vssbench.engines.params import HnswBuild, QuerySettings, ef_points, headline_ef_search
from vssbench.engines.registry import ENGINES, engine_class
from vssbench.engines.seam import Engine, Unsupported
from vssbench.measure import accuracy, definitions, timing
from vssbench.measure.memory import PeakRss, available_mb, check_memory, estimate_mb, rss_mb
from vssbench.measure.timing import Step, Timing
from vssbench.run import plots
from vssbench.run.hybrid import hybrid_search
from vssbench.run.scoring import (
    exact_recall,
    filter_values,
    label_scores,
    per_query_frame,
    rows_summary,
    summarize_labels,
)
from vssbench.stopwatch import Stopwatch
from vssbench.track import claim, store
from vssbench.track.scratch import scratch_dir

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    per_query: pd.DataFrame
    recall_by_rank: np.ndarray
    plan: str
    steps: dict[
        str, list[tuple[int, float]]
    ]  # curves: metric -> (step, value), step = ef or clients


@dataclass
class Point:
    """One measured query setting: effective ef, its timing, per-query recall, ids found."""

    ef: int
    timing: Timing
    recall: np.ndarray
    ids: list[np.ndarray]


@dataclass
class Outcome:
    status: str  # "finished" or "skipped"
    name: str
    run_id: str
    metrics: dict[str, float]


def run(
    cfg: DictConfig,
    concurrent_jobs: int = 1,
    parent_run_id: str | None = None,
    watch: Stopwatch | None = None,
) -> Outcome:
    """Run one configuration, or return the stored metrics of a finished run with its fingerprint.

    A claim per fingerprint makes two processes with the same configuration, on one host or
    on hosts sharing a tracking server, run it once (vssbench/claim.py). In a sweep, the run is
    a child of the sweep's run (`parent_run_id`). `watch` times the stages.
    """
    cfg = dataset.checked(cfg)
    watch = watch or Stopwatch()
    fp = identity.fingerprint(cfg)
    name = identity.run_name(cfg)
    with watch.stage("tracking_lookup"):  # a finished run is skipped before the memory guard
        experiment_id = store.prepare(cfg.tracking)
        done = None if cfg.force else claim.find_finished(experiment_id, fp)
    if done is not None:
        return _skipped(name, done, fp)

    hybrid = cfg.search.name == SearchKind.hybrid
    process_mb = rss_mb()
    estimate = estimate_mb(cfg.scale.n_docs, cfg.dim, cfg.hnsw.M, hybrid, process_mb, kiwi_loaded())
    if not cfg.force_memory:
        check_memory(estimate, concurrent_jobs, available_mb())
    tags = {
        "bench_version": identity.BENCH_VERSION,
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
                    cfg.tracking,
                    experiment_id,
                    fp,
                    name,
                    tags,
                    skip_finished=not cfg.force,
                    lock_dir=store.lock_dir(cfg.tracking),
                )
            )
        if not isinstance(held, str):  # another process finished it while this one waited
            return _skipped(name, held, fp)
        with watch.stage("start_run"):
            active = store.start_run(held, cfg.tracking.system_metrics_interval_s)
        with active, scratch_dir(Path(cfg.cache_dir) / "scratch" / platform.node()):
            with watch.stage("log_params"):
                mlflow.log_params(identity.flat_params(cfg))
                mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
            with PeakRss(label=lambda: watch.current) as peak:
                result = measure(cfg, watch)
            result.metrics["peak_rss_mb"] = peak.peak_mb
            result.metrics.update({f"stage.{n}_peak_rss_mb": mb for n, mb in peak.by_label.items()})
            result.metrics["memory_estimate_mb"] = estimate
            result.metrics["process_start_rss_mb"] = process_mb
            _log(result, name, cfg.k, watch)
            mlflow.log_metrics(watch.metrics())
    log.info("finished %s: %s", name, _summary(result.metrics, cfg.k))
    return Outcome("finished", name, active.info.run_id, result.metrics)


def _skipped(name: str, done: mlflow.entities.Run, fp: str) -> Outcome:
    log.info("skipped %s: finished run %s has fingerprint %s", name, done.info.run_id, fp)
    return Outcome("skipped", name, done.info.run_id, dict(done.data.metrics))


def measure(cfg: DictConfig, watch: Stopwatch) -> Measurement:
    started = time.perf_counter()
    metric = cfg.hnsw.metric.value
    hybrid = cfg.search.name == SearchKind.hybrid
    column = None if cfg.filter.name == FilterKind.none else cfg.filter.name.value
    spec = dataset.data_spec(cfg)
    root = Path(cfg.cache_dir)
    with watch.stage("data"):
        data = load_dataset(spec, root)
    timings = dict(data.timings)
    doc_tokens = query_tokens = None
    if hybrid:
        with watch.stage("tokens"):
            t = time.perf_counter()
            doc_tokens, query_tokens, data.cache_hits["tokens"] = load_tokens(
                spec, data, cfg.search.tokenizer.value, root
            )
            timings["tokenize_s"] = time.perf_counter() - t

    eng = engine_class(cfg.engine.name.value)(
        cfg.engine.threads,
        late_materialization_max_rows=cfg.engine.late_materialization_max_rows,
        num_partitions=cfg.engine.num_partitions,
    )
    build = HnswBuild(metric, cfg.hnsw.M, cfg.hnsw.ef_construction, cfg.engine.threads)
    try:
        timings.update(
            eng.open(data, build, data_key(spec), root if cfg.engine.reuse_index else None, watch)
        )
        if hybrid:
            with watch.stage("fts_build"):
                timings.update(eng.open_texts(data, doc_tokens, column, cfg.search.bm25.value))
        return _query_and_score(eng, cfg, spec, data, query_tokens, column, timings, started, watch)
    finally:
        with watch.stage("close"):
            eng.close()


def _settings(cfg: DictConfig, ef_search: int, values: np.ndarray) -> QuerySettings:
    hybrid = cfg.search.name == SearchKind.hybrid
    column = None if cfg.filter.name == FilterKind.none else cfg.filter.name.value
    exact = ENGINES[cfg.engine.name.value].exact
    return QuerySettings(
        ef_search=ef_search,
        limit=cfg.search.candidates if hybrid else cfg.k,
        # An exact engine scans every row, filtered or not.
        strategy="exact" if exact else cfg.filter.strategy.value,
        overfetch_factor=cfg.filter.overfetch_factor,
        column=column,
        values=tuple(sorted(set(values.tolist()))) if column else (),
    )


def _query_and_score(
    eng: Engine,
    cfg: DictConfig,
    spec: DataSpec,
    data: Dataset,
    query_tokens: list[str] | None,
    column: str | None,
    timings: dict,
    started: float,
    watch: Stopwatch,
) -> Measurement:
    k, metric, hybrid = spec.k, spec.metric, cfg.search.name == SearchKind.hybrid
    headline_ef = headline_ef_search(cfg.hnsw.ef_search)
    values = filter_values(data, column)
    headline = _settings(cfg, headline_ef, values)
    if headline.rows_asked is not None and headline_ef < headline.rows_asked:
        log.warning(
            "hnsw.ef_search=%d is below the %d rows the index is asked for: it searches with "
            "ef %d, so this run measures ef %d",
            headline_ef,
            headline.rows_asked,
            headline.effective_ef,
            headline.effective_ef,
        )
    eng.set_query(headline)
    with watch.stage("plan_check"):
        plan = eng.explain(data.query_vectors[0], values[0])
    run_params = {
        "plan_uses_hnsw": str(eng.uses_index),
        "plan_check": "passed" if eng.checks_plan else "none: a library has no query plan",
        "filter_strategy_used": headline.strategy,
        "engine": eng.name,
        "index": {None: "none", 0.0: "built", 1.0: "reused"}[timings.pop("index_reused", None)],
        "sql": eng.sql,
        **eng.describe(),
        **{f"cache_hit.{name}": str(hit) for name, hit in data.cache_hits.items()},
        "groundtruth": "the file's own, checked against exact search on a sample"
        if data.groundtruth
        else "exact search",
        "labels": "yes" if data.has_labels else "none: MRR, nDCG and relevant recall not measured",
    }
    if not data.has_labels:
        log.info(
            "labels: the queries have none (dataset.columns.relevant): MRR, nDCG and relevant "
            "recall are not measured"
        )
    n = len(data.queries)

    step = _query_step(eng, data, values)

    def timed(label: str) -> Timing:
        return timing.one_client(step, n, label, cfg.queries.warmup, cfg.bench.repeats)

    log.info(
        "timing %d queries, best of %d passes, after %d warm-up queries",
        n,
        cfg.bench.repeats,
        cfg.queries.warmup,
    )
    curve: list[Point] = []
    with watch.stage("queries"):
        for ef in ef_points(cfg.hnsw.ef_search, headline.rows_asked):
            eng.set_query(_settings(cfg, ef, values))
            point_timing = timed(f"queries at ef {ef}")
            ids = [eng.ids(found)[:k] for found in point_timing.best.results]
            point = Point(ef, point_timing, exact_recall(data, ids, k, metric), ids)
            curve.append(point)
            log.info(
                "ef %d: recall@%d %.3f, %.0f QPS (median of %d passes %.0f)",
                ef,
                k,
                point.recall.mean(),
                point_timing.best.qps,
                len(point_timing.passes),
                point_timing.summary()["qps_median"],
            )
    eng.set_query(headline)
    head = next(p for p in curve if p.ef == (headline.effective_ef or headline_ef))
    if hybrid:
        summary, per_query, vector_ids = hybrid_search(
            eng, cfg, data, values, query_tokens, column, watch
        )
        run_params["bm25_sql"] = eng.text_sql
    else:
        head_timing, vector_ids = head.timing, head.ids
        with watch.stage("scoring"):
            scores = label_scores(data, vector_ids, column) if data.has_labels else None
            summary = {
                **(summarize_labels(scores, data.queries["kind"]) if scores is not None else {}),
                **rows_summary(vector_ids, k),
                **head_timing.summary(),
            }
            per_query = per_query_frame(data, vector_ids, head_timing.best.latencies_ns, scores)
    summary.update(eng.index_info())
    if headline.effective_ef is not None:  # an exact query never reaches the index
        summary["effective_ef_search"] = float(headline.effective_ef)
    versions = eng.versions()

    top_k = [ids[:k] for ids in vector_ids]
    with watch.stage("scoring"):
        recall = exact_recall(data, top_k, k, metric)
        by_rank = accuracy.recall_by_rank(top_k, data.exact_ids)
    per_query[f"recall_at_{k}"] = recall
    summary[f"recall_at_{k}"] = float(recall.mean())
    summary["n_queries"] = float(n)
    summary.update(difficulty.summary(data.difficulty))
    summary.update({f"groundtruth.{name}": value for name, value in data.groundtruth.items()})

    steps: dict[str, list[tuple[int, float]]] = {}
    for point in curve:
        measured = {**point.timing.summary(), definitions.RECALL.name(k): point.recall.mean()}
        for d in definitions.CURVE:
            steps.setdefault(definitions.curve_name(d, k), []).append(
                (point.ef, float(measured[d.name(k)]))
            )

    if cfg.bench.batch:
        with watch.stage("batch"):
            summary.update(_batch(eng, data, cfg, head, run_params))
    if len(cfg.bench.clients) > 1 or cfg.bench.clients[0] != 1:
        with watch.stage("clients"):
            for clients, client_timing in _clients(eng, cfg, data, values, step, head).items():
                for name in ("qps", "latency_p50_ms", "latency_p99_ms", "other_cpu_share"):
                    value = client_timing.summary()[name]
                    steps.setdefault(f"clients.{name}", []).append((clients, value))

    others = max(p.timing.best.other_cpu_share for p in curve)
    summary["other_cpu_share"] = max(summary.get("other_cpu_share", 0.0), others)
    disturbed = summary["other_cpu_share"] > cfg.bench.max_other_cpu_share
    if disturbed:
        log.warning(
            "timing disturbed: other processes took %.0f%% of the machine's CPU during a timed "
            "pass (bench.max_other_cpu_share=%s); the report leaves this run out of timing figures",
            100 * summary["other_cpu_share"],
            cfg.bench.max_other_cpu_share,
        )
    summary.update(timings)
    summary["run_wall_s"] = time.perf_counter() - started
    if hybrid:
        summary["fts_build_share"] = summary["fts_build_s"] / summary["run_wall_s"]
    return Measurement(
        metrics=summary,
        params=run_params,
        tags={
            **{f"version.{name}": v for name, v in versions.items()},
            "timing_disturbed": str(disturbed).lower(),
        },
        per_query=per_query,
        recall_by_rank=by_rank,
        plan=plan,
        steps=steps,
    )


def _query_step(eng: Engine, data: Dataset, values: np.ndarray) -> Step:
    return lambda i: eng.query(data.query_vectors[i], values[i])


def _batch(eng: Engine, data: Dataset, cfg: DictConfig, head: Point, params: dict) -> dict:
    """All queries in one statement at the headline ef: QPS, recall, agreement with the single
    queries, and the share of a single query's latency that is per-statement client overhead."""
    k = cfg.k
    single = head.timing
    try:
        with eng.batch(data.query_vectors) as plan:
            batch = timing.repeated(
                lambda: timing.batch_pass(eng.batch_query), eng.batch_query, cfg.bench.repeats
            )
    except Unsupported as refused:
        log.info("batch: not measured: %s", refused)
        params["batch"] = f"not measured: {refused}"
        return {}
    params["batch"] = "measured"
    params["batch_sql"] = eng.batch_sql
    ids = [found[:k] for found in batch.best.results]
    same = np.mean([set(a.tolist()) == set(b.tolist()) for a, b in zip(ids, head.ids, strict=True)])
    recall = float(exact_recall(data, ids, k, cfg.hnsw.metric.value).mean())
    per_query_s = 1 / batch.best.qps
    single_mean_s = single.best.latencies_ns.mean() / 1e9
    log.info(
        "batch at ef %d: %.0f QPS (single %.0f), recall@%d %.3f, same ids as single queries %.0f%%",
        head.ef,
        batch.best.qps,
        single.best.qps,
        k,
        recall,
        100 * same,
    )
    if eng.checks_plan:
        params["batch_plan_uses_hnsw"] = str("HNSW_INDEX_JOIN" in plan)
    return {
        "batch_qps": batch.best.qps,
        "batch_qps_median": float(np.median([p.qps for p in batch.passes])),
        f"batch_{definitions.RECALL.name(k)}": recall,
        "batch_same_ids_share": float(same),
        "client_overhead_share": max(0.0, 1 - per_query_s / single_mean_s),
    }


def _clients(
    eng: Engine, cfg: DictConfig, data: Dataset, values: np.ndarray, step: Step, head: Point
) -> dict[int, Timing]:
    """QPS and latency with N clients at once, each with its own cursor, at the headline ef;
    one client is the headline point itself."""
    n = len(data.queries)
    out = {}
    for clients in cfg.bench.clients:
        if clients == 1:
            out[1] = head.timing
            continue
        cursors = [eng.client() for _ in range(clients)]
        try:
            steps = [_query_step(c, data, values) for c in cursors]
            out[clients] = timing.repeated(
                lambda steps=steps: timing.concurrent_pass(steps, n),
                lambda: timing.warm_up(step, cfg.queries.warmup),
                cfg.bench.repeats,
            )
        finally:
            for c in cursors:
                if c is not eng:  # a library's clients are the engine itself
                    c.close()
        t = out[clients]
        log.info(
            "%d clients: %.0f QPS, p50 %.2f ms, p99 %.2f ms",
            clients,
            t.best.qps,
            t.summary()["latency_p50_ms"],
            t.summary()["latency_p99_ms"],
        )
    return out


def _log(result: Measurement, name: str, k: int, watch: Stopwatch) -> None:
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
    latencies = result.per_query["latency_ms"].to_numpy()
    with watch.stage("plots"):
        figures = {
            "plots/latency.png": plots.latency_distribution(latencies, name),
            "plots/recall_by_rank.png": plots.recall_by_rank(result.recall_by_rank, name),
            "plots/recall_vs_qps.png": plots.ef_curve(
                result.steps[definitions.curve_name(definitions.RECALL, k)],
                result.steps[definitions.curve_name(definitions.QPS, k)],
                k,
                name,
            ),
        }
    with watch.stage("log_artifacts"):
        for artifact, fig in figures.items():
            mlflow.log_figure(fig, artifact)
            plt.close(fig)
        path = Path(tempfile.gettempdir()) / "per_query.parquet"  # the run's scratch dir
        result.per_query.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _summary(m: dict[str, float], k: int) -> str:
    text = " ".join(d.show(k, m[d.name(k)]) for d in definitions.CONSOLE if d.name(k) in m)
    if "bm25_ndcg_at_10" in m:
        text += (
            f" | ndcg@10 vector={m['vector_ndcg_at_10']:.3f} bm25={m['bm25_ndcg_at_10']:.3f} "
            f"hybrid={m['hybrid_ndcg_at_10']:.3f}; bm25 p50={m['bm25_latency_p50_ms']:.2f}ms "
            f"fts_build={m['fts_build_s']:.1f}s bm25_hit_rate={m['bm25_hit_rate']:.2f}"
        )
    return text
