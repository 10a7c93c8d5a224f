"""One benchmark run: data, DuckDB index build, plan check, timed queries, metrics, MLflow."""

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from vssbench import engine, metrics, plots, tracking
from vssbench.corpus import QUERY_KINDS, QueryMix
from vssbench.dataset import Dataset, DataSpec, load_dataset
from vssbench.groundtruth import returned_distances
from vssbench.monitor import PeakRss, rss_mb
from vssbench.schema import FilterKind, validate
from vssbench.search import vector_query

log = logging.getLogger(__name__)


@dataclass
class Measurement:
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    per_query: pd.DataFrame
    recall_by_rank: np.ndarray
    plan: str


def run(cfg: DictConfig) -> dict[str, float]:
    """Run one configuration, or return the stored metrics of a finished run with its fingerprint."""
    validate(cfg)
    experiment_id = tracking.prepare(cfg.tracking)
    fp = tracking.fingerprint(cfg)
    name = tracking.run_name(cfg)
    if not cfg.force and (done := tracking.find_finished(experiment_id, fp)) is not None:
        log.info("skipped %s: finished run %s has fingerprint %s", name, done.info.run_id, fp)
        return dict(done.data.metrics)

    tags = {"fingerprint": fp, "bench_version": tracking.BENCH_VERSION, **tracking.hardware_tags()}
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags):
        mlflow.log_params(tracking.flat_params(cfg))
        mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
        with PeakRss() as peak:
            result = measure(cfg)
        result.metrics["peak_rss_mb"] = peak.peak_mb
        _log(result, name)
    log.info("finished %s: %s", name, _summary(result.metrics, cfg.k))
    return result.metrics


def measure(cfg: DictConfig) -> Measurement:
    k = cfg.k
    metric = cfg.hnsw.metric.value
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
    data = load_dataset(spec, Path(cfg.cache_dir))
    timings = dict(data.timings)

    con = engine.connect(cfg.engine.threads, cfg.engine.late_materialization_max_rows)
    try:
        t = time.perf_counter()
        engine.load_documents(con, data.corpus, data.doc_vectors)
        timings["load_s"] = time.perf_counter() - t

        log.info(
            "building HNSW index: %d x %d, M=%d, ef_construction=%d, %s",
            spec.n_docs,
            spec.dim,
            cfg.hnsw.M,
            cfg.hnsw.ef_construction,
            metric,
        )
        rss_before = rss_mb()
        t = time.perf_counter()
        engine.build_hnsw(con, metric, cfg.hnsw.M, cfg.hnsw.ef_construction)
        timings["index_build_s"] = time.perf_counter() - t
        timings["index_memory_mb"] = rss_mb() - rss_before
        log.info("index built in %.1f s", timings["index_build_s"])

        engine.set_ef_search(con, cfg.hnsw.ef_search)
        shape = vector_query(metric, spec.dim, cfg.filter.strategy.value, column)
        fetch = k * cfg.filter.overfetch_factor
        values = filter_values(data, column)
        params = [
            shape.params(v, c, k, fetch) for v, c in zip(data.query_vectors, values, strict=True)
        ]
        plan = engine.explain(con, shape.sql, params[0])
        engine.check_plan(plan, shape.uses_index)

        log.info("timing %d queries after %d warm-up queries", len(params), cfg.queries.warmup)
        t = time.perf_counter()
        returned, latencies = engine.timed_queries(con, shape.sql, params, cfg.queries.warmup)
        loop_s = time.perf_counter() - t
        info = engine.index_info(con)
        run_params = {
            "plan_uses_hnsw": str(shape.uses_index),
            "plan_check": "passed",
            "filter_strategy_used": cfg.filter.strategy.value,
            "sql": shape.sql,
            **{f"duckdb.{name}": value for name, value in engine.settings(con).items()},
            **{f"cache_hit.{name}": str(hit) for name, hit in data.cache_hits.items()},
        }
        versions = engine.versions(con)
    finally:
        con.close()

    per_query, summary = evaluate(data, returned, latencies, k, metric, column)
    summary.update(timings)
    summary.update(info)
    summary["qps"] = len(params) / latencies.sum() * 1e9
    summary["query_loop_s"] = loop_s
    return Measurement(
        metrics=summary,
        params=run_params,
        tags={f"version.{name}": version for name, version in versions.items()},
        per_query=per_query,
        recall_by_rank=metrics.recall_by_rank(returned, data.exact_ids),
        plan=plan,
    )


def filter_values(data: Dataset, column: str | None) -> np.ndarray:
    """Each query's filter value: its target document's value in the filtered column."""
    if column is None:
        return np.full(len(data.queries), None, dtype=object)
    return data.corpus[column].to_numpy(dtype=str)[data.queries["target"].to_numpy()]


def evaluate(
    data: Dataset,
    returned: list[np.ndarray],
    latencies: np.ndarray,
    k: int,
    metric: str,
    column: str | None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per-query results and their aggregates: recall against exact search, MRR and nDCG on labels."""
    q = data.queries
    true_dist = returned_distances(data.query_vectors, data.doc_vectors, returned, metric)
    recall = metrics.recall_at_k(true_dist, data.exact_dist, k)
    doc_values = data.corpus[column].to_numpy(dtype=str) if column else None
    query_values = filter_values(data, column)
    rr, gain, found = [], [], []
    for got, relevant, grades, value in zip(
        returned, q["relevant"], q["grades"], query_values, strict=True
    ):
        if column:  # documents the filter excludes cannot be asked for
            keep = doc_values[relevant] == value
            relevant, grades = relevant[keep], grades[keep]
        rr.append(metrics.reciprocal_rank(got, relevant, 10))
        gain.append(metrics.ndcg(got, relevant, grades, 10))
        found.append(metrics.recall_of_relevant(got, relevant, 10))
    rows = np.array([len(r) for r in returned])
    per_query = pd.DataFrame(
        {
            "qid": q["qid"],
            "kind": q["kind"],
            "text": q["text"],
            "target": q["target"],
            "category": q["category"],
            "filter_value": query_values,
            "returned_ids": [r.tolist() for r in returned],
            "rows_returned": rows,
            "latency_ms": latencies / 1e6,
            f"recall_at_{k}": recall,
            "rr_at_10": rr,
            "ndcg_at_10": gain,
            "relevant_found_at_10": found,
        }
    )
    summary = {
        f"recall_at_{k}": float(recall.mean()),
        "mrr_at_10": float(np.mean(rr)),
        "ndcg_at_10": float(np.mean(gain)),
        "relevant_recall_at_10": float(np.mean(found)),
        "rows_returned_mean": float(rows.mean()),
        "short_result_share": float(np.mean(rows < k)),
        "n_queries": float(len(q)),
        **metrics.latency_summary(latencies),
    }
    for kind in QUERY_KINDS:
        sel = per_query["kind"] == kind
        if sel.any():
            summary[f"mrr_at_10.{kind}"] = float(per_query.loc[sel, "rr_at_10"].mean())
            summary[f"ndcg_at_10.{kind}"] = float(per_query.loc[sel, "ndcg_at_10"].mean())
    return per_query, summary


def _log(result: Measurement, name: str) -> None:
    mlflow.log_params(result.params)
    mlflow.set_tags(result.tags)
    mlflow.log_metrics(result.metrics)
    mlflow.log_text(result.plan, "plan.txt")
    for artifact, fig in (
        (
            "plots/latency.png",
            plots.latency_distribution(result.per_query["latency_ms"].to_numpy(), name),
        ),
        ("plots/recall_by_rank.png", plots.recall_by_rank(result.recall_by_rank, name)),
    ):
        mlflow.log_figure(fig, artifact)
        plt.close(fig)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "per_query.parquet"
        result.per_query.to_parquet(path, index=False)
        mlflow.log_artifact(str(path))


def _summary(m: dict[str, float], k: int) -> str:
    return (
        f"recall@{k}={m[f'recall_at_{k}']:.3f} mrr@10={m['mrr_at_10']:.3f} "
        f"ndcg@10={m['ndcg_at_10']:.3f} qps={m['qps']:.0f} p50={m['latency_p50_ms']:.2f}ms "
        f"p99={m['latency_p99_ms']:.2f}ms rows={m['rows_returned_mean']:.2f} "
        f"build={m['index_build_s']:.1f}s index_mem={m['index_memory_mb']:.0f}MB "
        f"peak_rss={m['peak_rss_mb']:.0f}MB"
    )
