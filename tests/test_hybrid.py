"""Hybrid runs on tiny data: real DuckDB FTS + HNSW, a real MLflow store."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from vssbench import bench
from vssbench.hybrid import BM25CheckError


def test_hybrid_beats_both_halves_and_keeps_the_index(make_cfg, tmp_path):
    result = bench.run(
        make_cfg("search=hybrid", "search.tokenizer=bigram", "hnsw.ef_search=4")
    ).metrics
    # The vector half asks for search.candidates (50) rows: the index searches with ef 50.
    assert result["effective_ef_search"] == 50
    assert result["hybrid_ndcg_at_10"] >= max(
        result["vector_ndcg_at_10"], result["bm25_ndcg_at_10"]
    )
    assert result["ndcg_at_10"] == result["hybrid_ndcg_at_10"]
    # The corpus model: BM25 misses paraphrases, the vector half misses rare names.
    assert result["bm25_ndcg_at_10.paraphrase"] < 0.2 < result["vector_ndcg_at_10.paraphrase"]
    assert result["vector_ndcg_at_10.entity"] < 0.3 < result["bm25_ndcg_at_10.entity"]
    assert result["bm25_hit_rate"] > 0.5
    assert result["fts_build_s"] > 0 and 0 < result["fts_build_share"] < 1
    assert result["latency_p50_ms"] >= result["bm25_latency_p50_ms"]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["vssbench"]).iloc[0]
    assert run["tags.mlflow.runName"].startswith("tiny-d128-hybrid-bigram-convex-none")
    assert run["tags.mlflow.runName"].endswith("-ef4")
    assert "HNSW_INDEX_SCAN" in mlflow.artifacts.load_text(f"runs:/{run.run_id}/plan.txt")


def test_rrf_run_reports_its_loss_honestly(make_cfg):
    """RRF is kept selectable; on this corpus it loses to the vector half (README)."""
    result = bench.run(
        make_cfg("search=hybrid", "search.tokenizer=bigram", "search.fusion=rrf")
    ).metrics
    assert result["hybrid_ndcg_at_10"] < result["vector_ndcg_at_10"]


def test_both_halves_respect_the_filter(make_cfg, tmp_path):
    bench.run(
        make_cfg(
            "search=hybrid", "search.tokenizer=bigram", "filter=region", "filter.strategy=exact"
        )
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run_id = mlflow.search_runs(experiment_names=["vssbench"]).run_id.iat[0]
    per_query = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path)
        )
    )
    from vssbench.corpus import generate_corpus

    regions = generate_corpus(2000, 42)["region"].to_numpy(dtype=str)
    for column in ("vector_ids", "bm25_ids", "returned_ids"):
        for ids, target in zip(per_query[column], per_query["target"], strict=True):
            assert (regions[np.asarray(ids, int)] == regions[target]).all(), column


def test_run_fails_loudly_when_bm25_scores_too_few(make_cfg, tmp_path):
    with pytest.raises(BM25CheckError, match="BM25 scores only"):
        bench.run(
            make_cfg("search=hybrid", "search.tokenizer=bigram", "search.min_bm25_hit_rate=1.0")
        )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert list(mlflow.search_runs(experiment_names=["vssbench"])["status"]) == ["FAILED"]
