"""Print one markdown table per scale x dim comparing engines from an MLflow store: build time,
index memory, recall@10 and QPS at ef 64, batch QPS, the region-filtered runs, and hybrid; or,
with --own-cost, DuckDB against usearch at each release measured, per ef (one run per ef, its
headline and batch at that ef, with trials).

    uv run python scripts/engine_table.py --tracking-uri sqlite:///mlruns/mlflow.db
    uv run python scripts/engine_table.py --tracking-uri ... --experiment own-cost --own-cost
"""

import argparse

import mlflow
import numpy as np
import pandas as pd

from vssbench.config import identity
from vssbench.engines.registry import ENGINES


def _runs(experiment: str) -> pd.DataFrame:
    runs = mlflow.search_runs(
        experiment_names=[experiment], filter_string="attributes.status = 'FINISHED'"
    )
    runs = runs[runs["tags.fingerprint"].notna()]
    runs = runs[runs["tags.bench_version"] == identity.BENCH_VERSION].copy()
    runs["engine"] = runs["params.engine.name"].fillna("duckdb_vss")
    # A disturbed run's timings are not shown (as in the report).
    disturbed = runs["tags.timing_disturbed"].eq("true")
    timings = [c for c in runs if c.startswith("metrics.") and ("qps" in c or "latency" in c)]
    runs.loc[disturbed, timings] = np.nan
    runs["disturbed"] = disturbed
    return runs


def _at_ef(run_id: str, metric: str, ef: int) -> float:
    """A curve's value at ef; an exact engine's one point whatever its step."""
    points = {p.step: p.value for p in mlflow.MlflowClient().get_metric_history(run_id, metric)}
    if ef in points:
        return points[ef]
    return next(iter(points.values())) if len(points) == 1 else np.nan


def _fmt(value: float, digits: int) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _interval(run: pd.Series, metric: str) -> str:
    value, low, high = (run.get(f"metrics.{metric}{end}") for end in ("", "_ci_low", "_ci_high"))
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.0f} ({low:.0f}-{high:.0f})"


def own_cost(runs: pd.DataFrame) -> None:
    """DuckDB and each usearch release measured, side by side per scale, dim and ef."""
    runs = runs.assign(
        side=np.where(
            runs["engine"] == "usearch",
            "usearch " + runs.get("tags.version.usearch", pd.Series("", index=runs.index)),
            runs["engine"],
        )
    )
    sides = sorted(runs["side"].unique(), key=lambda side: (side != "duckdb_vss", side))
    print(
        f"| scale | dim | ef | single-query QPS (95% over trials): {' / '.join(sides)} "
        f"| batch QPS: {' / '.join(sides)} | recall@10 | build s |"
    )
    print("|---|---|---|---|---|---|---|")
    order = {c: runs[f"params.{c}"].astype(int) for c in ("scale.n_docs", "dim", "hnsw.ef_search")}
    runs = runs.assign(**{f"_{c}": v for c, v in order.items()})
    keys = ["_scale.n_docs", "params.scale.name", "_dim", "_hnsw.ef_search"]
    for (_, scale, dim, ef), group in runs.sort_values(keys).groupby(keys, sort=False):
        by_side = {r["side"]: r for _, r in group.iterrows()}
        cell = {
            metric: " / ".join(
                _interval(by_side[side], metric) if side in by_side else "not run" for side in sides
            )
            for metric in ("qps", "batch_qps")
        }
        recall = " / ".join(
            _fmt(by_side[side].get("metrics.recall_at_10"), 3) if side in by_side else "-"
            for side in sides
        )
        build = " / ".join(
            _fmt(by_side[side].get("metrics.index_build_s"), 1) if side in by_side else "-"
            for side in sides
        )
        print(
            f"| {scale} | {dim} | {ef} | {cell['qps']} | {cell['batch_qps']} | {recall} | {build} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", default="vssbench")
    parser.add_argument("--own-cost", action="store_true", help="DuckDB against usearch, per ef")
    args = parser.parse_args()
    mlflow.set_tracking_uri(args.tracking_uri)
    runs = _runs(args.experiment)
    if args.own_cost:
        own_cost(runs)
        return
    vector = runs[(runs["params.search.name"] == "vector") & (runs["params.filter.name"] == "none")]
    region = runs[runs["params.filter.name"] == "region"]
    hybrid = runs[runs["params.search.name"] == "hybrid"]
    order = {name: i for i, name in enumerate(ENGINES)}
    for (scale, dim), group in vector.groupby(["params.scale.name", "params.dim"]):
        print(f"\n### {scale}, dim {dim}\n")
        print(
            "| engine | build s | index MB (fresh process) | index file MB | recall@10 @ef64 "
            "| QPS @ef64 | batch QPS | region filter: strategy, rows, recall@10, QPS |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for _, run in sorted(group.iterrows(), key=lambda r: order[r[1]["engine"]]):
            recall = _at_ef(run["run_id"], "ef_curve.recall_at_10", 64)
            qps = np.nan if run["disturbed"] else _at_ef(run["run_id"], "ef_curve.qps", 64)
            filtered = region[
                (region["engine"] == run["engine"])
                & (region["params.scale.name"] == scale)
                & (region["params.dim"] == dim)
            ]
            cells = [
                f"{r['params.filter.strategy']} {_fmt(r['metrics.rows_returned_mean'], 1)} "
                f"{_fmt(r['metrics.recall_at_10'], 3)} {_fmt(r['metrics.qps'], 0)}"
                for _, r in filtered.sort_values("params.filter.strategy").iterrows()
            ]
            print(
                f"| {run['engine']} | {_fmt(run.get('metrics.index_build_s'), 1)} "
                f"| {_fmt(run.get('metrics.index_memory_mb'), 0)} "
                f"| {_fmt(run.get('metrics.index_file_mb'), 0)} | {_fmt(recall, 3)} "
                f"| {_fmt(qps, 0)} | {_fmt(run.get('metrics.batch_qps'), 0)} "
                f"| {'; '.join(cells) or 'not run'} |"
            )
    if hybrid.empty:
        return
    print("\n### hybrid\n")
    print(
        "| scale | dim | tokens, fusion | engine | BM25 | nDCG@10 | p50 ms | BM25 p50 ms | "
        "LanceDB's own hybrid: nDCG@10, p50 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for _, r in hybrid.sort_values(["params.scale.name", "engine"]).iterrows():
        native = (
            f"{_fmt(r.get('metrics.native_hybrid_ndcg_at_10'), 3)}, "
            f"{_fmt(r.get('metrics.native_hybrid_latency_p50_ms'), 2)}"
            if not pd.isna(r.get("metrics.native_hybrid_ndcg_at_10", np.nan))
            else "-"
        )
        bm25 = r["params.search.bm25"] if r["engine"] != "lancedb" else "LanceDB FTS"
        print(
            f"| {r['params.scale.name']} | {r['params.dim']} "
            f"| {r['params.search.tokenizer']}, {r['params.search.fusion']} | {r['engine']} | {bm25} "
            f"| {_fmt(r['metrics.hybrid_ndcg_at_10'], 3)} | {_fmt(r['metrics.latency_p50_ms'], 2)} "
            f"| {_fmt(r['metrics.bm25_latency_p50_ms'], 2)} | {native} |"
        )


if __name__ == "__main__":
    main()
