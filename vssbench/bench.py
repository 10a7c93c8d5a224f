"""One benchmark run: data, DuckDB indexes, plan check, timed queries, metrics, MLflow."""

import logging
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from filelock import FileLock
from omegaconf import DictConfig, OmegaConf

from vssbench import cache, engine, metrics, plots, tracking
from vssbench.corpus import QueryMix
from vssbench.dataset import Dataset, DataSpec, data_key, load_dataset, load_tokens
from vssbench.evaluation import (
    exact_recall,
    filter_values,
    label_scores,
    per_query_frame,
    rows_summary,
    summarize_labels,
)
from vssbench.hybrid import hybrid_search
from vssbench.monitor import PeakRss, available_mb, check_memory, estimate_mb, rss_mb
from vssbench.schema import FilterKind, SearchKind, validate
from vssbench.scratch import scratch_dir
from vssbench.search import bm25_query, effective_ef_search, index_limit, vector_query
from vssbench.stopwatch import Stopwatch

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    per_query: pd.DataFrame
    recall_by_rank: np.ndarray
    plan: str


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

    A lock per fingerprint makes two processes with the same configuration run it once. In a
    sweep, the run is a child of the sweep's run (`parent_run_id`). `watch` times the stages.
    """
    validate(cfg)
    watch = watch or Stopwatch()
    with watch.stage("tracking_lookup"):
        experiment_id = tracking.prepare(cfg.tracking)
    fp = tracking.fingerprint(cfg)
    name = tracking.run_name(cfg)
    lock = Path(cfg.cache_dir) / "locks" / f"{fp}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        with watch.stage("tracking_lookup"):
            tracking.mark_dead_runs(experiment_id)
            done = None if cfg.force else tracking.find_finished(experiment_id, fp)
        if done is not None:
            log.info("skipped %s: finished run %s has fingerprint %s", name, done.info.run_id, fp)
            return Outcome("skipped", name, done.info.run_id, dict(done.data.metrics))

        hybrid = cfg.search.name == SearchKind.hybrid
        estimate = estimate_mb(cfg.scale.n_docs, cfg.dim, cfg.hnsw.M, hybrid)
        if not cfg.force_memory:
            check_memory(estimate, concurrent_jobs, available_mb())
        tags = {
            "fingerprint": fp,
            "bench_version": tracking.BENCH_VERSION,
            "concurrent_jobs": str(concurrent_jobs),
            **tracking.hardware_tags(),
            **tracking.process_tags(),
        }
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        with watch.stage("start_run"):
            active = tracking.start_run(
                experiment_id, name, tags, cfg.tracking.system_metrics_interval_s
            )
        with active, scratch_dir(Path(cfg.cache_dir) / "scratch"):
            with watch.stage("log_params"):
                mlflow.log_params(tracking.flat_params(cfg))
                mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
            with PeakRss(label=lambda: watch.current) as peak:
                result = measure(cfg, watch)
            result.metrics["peak_rss_mb"] = peak.peak_mb
            result.metrics.update({f"stage.{n}_peak_rss_mb": mb for n, mb in peak.by_label.items()})
            result.metrics["memory_estimate_mb"] = estimate
            _log(result, name, watch)
            mlflow.log_metrics(watch.metrics())
    log.info("finished %s: %s", name, _summary(result.metrics, cfg.k))
    return Outcome("finished", name, active.info.run_id, result.metrics)


def measure(cfg: DictConfig, watch: Stopwatch) -> Measurement:
    started = time.perf_counter()
    k = cfg.k
    metric = cfg.hnsw.metric.value
    hybrid = cfg.search.name == SearchKind.hybrid
    column = None if cfg.filter.name == FilterKind.none else cfg.filter.name.value
    spec = DataSpec(
        n_docs=cfg.scale.n_docs,
        n_queries=cfg.scale.n_queries,
        dim=cfg.dim,
        metric=metric,
        k=k,
        seed=cfg.seed,
        mix=QueryMix(cfg.queries.paraphrase, cfg.queries.entity, cfg.queries.keyword),
        filter_column=column,
    )
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

    con, index_reused = _open_indexed(cfg, spec, data, timings, watch)
    try:
        if hybrid:
            with watch.stage("fts_build"):
                _build_fts(con, data, doc_tokens, timings)
        return _query_and_score(
            con, cfg, spec, data, query_tokens, column, timings, index_reused, started, watch
        )
    finally:
        with watch.stage("close"):
            con.close()


def _open_indexed(
    cfg: DictConfig,
    spec: DataSpec,
    data: Dataset,
    timings: dict,
    watch: Stopwatch,
) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection to docs with its HNSW index: the cached index file attached read-only, or a
    fresh build in memory. The index file is built once per data, dim and build parameters."""
    threads = cfg.engine.threads
    lmr = cfg.engine.late_materialization_max_rows
    hnsw = {"metric": spec.metric, "M": cfg.hnsw.M, "ef_construction": cfg.hnsw.ef_construction}
    if not cfg.engine.reuse_index:
        with watch.stage("index_open"):
            con = engine.connect(threads, lmr)
        t = time.perf_counter()
        engine.load_documents(con, data.corpus, data.doc_vectors)
        timings["load_s"] = time.perf_counter() - t
        _log_build_start(spec, hnsw)
        t = time.perf_counter()
        with watch.stage("index_build"):
            engine.build_hnsw(con, spec.metric, cfg.hnsw.M, cfg.hnsw.ef_construction)
        timings["index_build_s"] = time.perf_counter() - t
        log.info("index_memory_mb is measured on index files only (engine.reuse_index=true)")
        return con, False

    key = {
        **data_key(spec),
        **hnsw,
        "threads": threads,
        "storage": "uncompressed",
        "facts": 2,  # what the build records beside the file (index_memory_mb from a fresh process)
        "duckdb": duckdb.__version__,
        "vss": version("duckdb-extension-vss"),
    }
    path = cache.entry(Path(cfg.cache_dir), "index", key, ".duckdb")

    def build(tmp: Path) -> dict[str, float]:
        _log_build_start(spec, hnsw)
        with watch.stage("index_build"):
            return engine.build_index_file(tmp, data.corpus, data.doc_vectors, hnsw, threads)

    facts, reused = cache.cached_file(path, build)
    timings.update(facts)  # the build's time and memory, measured when it was built
    if reused:
        log.info("index reused from the cache (its build took %.1f s)", facts["index_build_s"])
    else:
        log.info("index built in %.1f s", facts["index_build_s"])
    t = time.perf_counter()
    with watch.stage("index_open"):
        con = engine.connect(threads, lmr)
        engine.attach_index_file(con, path)
    timings["load_s"] = time.perf_counter() - t
    return con, reused


def _log_build_start(spec: DataSpec, hnsw: dict) -> None:
    log.info(
        "building HNSW index: %d x %d, M=%d, ef_construction=%d, %s",
        spec.n_docs,
        spec.dim,
        hnsw["M"],
        hnsw["ef_construction"],
        hnsw["metric"],
    )


def _build_fts(con, data: Dataset, doc_tokens: list[str], timings: dict) -> None:
    engine.load_texts(con, data.corpus, doc_tokens)
    rss_before = rss_mb()
    t = time.perf_counter()
    engine.build_fts(con)
    timings["fts_build_s"] = time.perf_counter() - t
    timings["fts_memory_mb"] = rss_mb() - rss_before
    log.info("FTS index built in %.1f s", timings["fts_build_s"])


def _query_and_score(
    con,
    cfg: DictConfig,
    spec: DataSpec,
    data: Dataset,
    query_tokens: list[str] | None,
    column: str | None,
    timings: dict,
    index_reused: bool,
    started: float,
    watch: Stopwatch,
) -> Measurement:
    k, metric, hybrid = spec.k, spec.metric, cfg.search.name == SearchKind.hybrid
    engine.set_ef_search(con, cfg.hnsw.ef_search)
    limit = cfg.search.candidates if hybrid else k
    asked = index_limit(cfg.filter.strategy.value, limit, cfg.filter.overfetch_factor)
    if asked is not None and cfg.hnsw.ef_search < asked:
        log.warning(
            "hnsw.ef_search=%d is below the %d rows the index is asked for: it searches with "
            "ef %d, so this run measures ef %d",
            cfg.hnsw.ef_search,
            asked,
            asked,
            asked,
        )
    values = filter_values(data, column)
    vshape = vector_query(metric, spec.dim, cfg.filter.strategy.value, column)
    vparams = [
        vshape.params(vec=v, value=value, k=limit, fetch=asked)
        for v, value in zip(data.query_vectors, values, strict=True)
    ]
    with watch.stage("plan_check"):
        plan = engine.explain(con, vshape.sql, vparams[0])
        engine.check_plan(plan, vshape.uses_index)
    run_params = {
        "plan_uses_hnsw": str(vshape.uses_index),
        "plan_check": "passed",
        "filter_strategy_used": cfg.filter.strategy.value,
        "index": "reused" if index_reused else "built",
        "sql": vshape.sql,
        **{f"duckdb.{name}": value for name, value in engine.settings(con).items()},
        **{f"cache_hit.{name}": str(hit) for name, hit in data.cache_hits.items()},
    }
    log.info("timing %d queries after %d warm-up queries", len(vparams), cfg.queries.warmup)
    if hybrid:
        summary, per_query, vector_ids = hybrid_search(
            con, cfg, data, (vshape.sql, vparams), values, query_tokens, column, watch
        )
        run_params["bm25_sql"] = bm25_query(column).sql
    else:
        with watch.stage("queries"):
            vector_ids, latencies = engine.timed_queries(
                con, vshape.sql, vparams, cfg.queries.warmup
            )
        with watch.stage("scoring"):
            scores = label_scores(data, vector_ids, column)
            summary = {
                **summarize_labels(scores, data.queries["kind"]),
                **rows_summary(vector_ids, k),
                **metrics.latency_summary(latencies),
                "qps": len(latencies) / latencies.sum() * 1e9,
            }
            per_query = per_query_frame(data, vector_ids, latencies, scores)
    summary.update(engine.index_info(con))
    if asked is not None:  # an exact query never reaches the index
        summary["effective_ef_search"] = float(effective_ef_search(cfg.hnsw.ef_search, asked))
    versions = engine.versions(con)

    top_k = [ids[:k] for ids in vector_ids]
    with watch.stage("scoring"):
        recall = exact_recall(data, top_k, k, metric)
        by_rank = metrics.recall_by_rank(top_k, data.exact_ids)
    per_query[f"recall_at_{k}"] = recall
    summary[f"recall_at_{k}"] = float(recall.mean())
    summary["n_queries"] = float(len(data.queries))
    summary.update(timings)
    summary["run_wall_s"] = time.perf_counter() - started
    if hybrid:
        summary["fts_build_share"] = summary["fts_build_s"] / summary["run_wall_s"]
    return Measurement(
        metrics=summary,
        params=run_params,
        tags={f"version.{name}": v for name, v in versions.items()},
        per_query=per_query,
        recall_by_rank=by_rank,
        plan=plan,
    )


def _log(result: Measurement, name: str, watch: Stopwatch) -> None:
    with watch.stage("log_results"):
        mlflow.log_params(result.params)
        mlflow.set_tags(result.tags)
        mlflow.log_metrics(result.metrics)
        mlflow.log_text(result.plan, "plan.txt")
    latencies = result.per_query["latency_ms"].to_numpy()
    with watch.stage("plots"):
        figures = {
            "plots/latency.png": plots.latency_distribution(latencies, name),
            "plots/recall_by_rank.png": plots.recall_by_rank(result.recall_by_rank, name),
        }
    with watch.stage("log_artifacts"):
        for artifact, fig in figures.items():
            mlflow.log_figure(fig, artifact)
            plt.close(fig)
        path = Path(tempfile.gettempdir()) / "per_query.parquet"  # the run's scratch dir
        result.per_query.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _summary(m: dict[str, float], k: int) -> str:
    text = (
        f"recall@{k}={m[f'recall_at_{k}']:.3f} mrr@10={m['mrr_at_10']:.3f} "
        f"ndcg@10={m['ndcg_at_10']:.3f} qps={m['qps']:.0f} p50={m['latency_p50_ms']:.2f}ms "
        f"p99={m['latency_p99_ms']:.2f}ms rows={m['rows_returned_mean']:.2f} "
        + (f"ef={m['effective_ef_search']:.0f} " if "effective_ef_search" in m else "")
        + f"build={m['index_build_s']:.1f}s "
        + (f"index_mem={m['index_memory_mb']:.0f}MB " if "index_memory_mb" in m else "")
        + f"peak_rss={m['peak_rss_mb']:.0f}MB"
    )
    if "bm25_ndcg_at_10" in m:
        text += (
            f" | ndcg@10 vector={m['vector_ndcg_at_10']:.3f} bm25={m['bm25_ndcg_at_10']:.3f} "
            f"hybrid={m['hybrid_ndcg_at_10']:.3f}; bm25 p50={m['bm25_latency_p50_ms']:.2f}ms "
            f"fts_build={m['fts_build_s']:.1f}s bm25_hit_rate={m['bm25_hit_rate']:.2f}"
        )
    return text
