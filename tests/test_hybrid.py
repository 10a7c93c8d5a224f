"""Hybrid runs on tiny data: real DuckDB FTS + HNSW, a real MLflow store."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from documented import undocumented

from vssbench import faults
from vssbench.config.plan import read_plan
from vssbench.run import runner
from vssbench.run.hybrid import BM25CheckError


@pytest.mark.slow
def test_hybrid_beats_both_halves_and_keeps_the_index(make_cfg, tmp_path):
    outcome = runner.run(
        read_plan(make_cfg("search=hybrid", "search.tokenizer=bigram", "hnsw.ef_search=4"))
    )
    result = outcome.metrics
    assert undocumented(mlflow.get_run(outcome.run_id).data.metrics) == []
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
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["vssbench"]).iloc[0]
    assert run["tags.mlflow.runName"].startswith(
        "duckdb_vss-tiny-d128-hybrid-bigram-match_bm25-convex-none"
    )
    assert run["tags.mlflow.runName"].endswith("-ef4")
    assert "HNSW_INDEX_SCAN" in mlflow.artifacts.load_text(f"runs:/{run.run_id}/plan.txt")


@pytest.mark.long
def test_rrf_run_reports_its_loss_honestly(make_cfg):
    """RRF is kept selectable; on this corpus it loses to the vector half (README)."""
    result = runner.run(
        read_plan(make_cfg("search=hybrid", "search.tokenizer=bigram", "search.fusion=rrf"))
    ).metrics
    assert result["hybrid_ndcg_at_10"] < result["vector_ndcg_at_10"]


@pytest.mark.slow
def test_both_halves_respect_the_filter(make_cfg, tmp_path):
    runner.run(
        read_plan(
            make_cfg(
                "search=hybrid", "search.tokenizer=bigram", "filter=region", "filter.strategy=exact"
            )
        )
    )
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run_id = mlflow.search_runs(experiment_names=["vssbench"]).run_id.iat[0]
    per_query = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path)
        )
    )
    from vssbench.data.synthetic.corpus import generate_corpus

    regions = generate_corpus(2000, 42)["region"].to_numpy(dtype=str)
    for column in ("vector_ids", "bm25_ids", "returned_ids"):
        for ids, target in zip(per_query[column], per_query["target"], strict=True):
            assert (regions[np.asarray(ids, int)] == regions[target]).all(), column


def test_run_fails_loudly_when_bm25_scores_too_few(make_cfg, tmp_path):
    with pytest.raises(BM25CheckError, match="BM25 scores only") as error:
        runner.run(
            read_plan(
                make_cfg("search=hybrid", "search.tokenizer=bigram", "search.min_bm25_hit_rate=1.0")
            )
        )
    # Something the user can fix (their text, the tokenizer, the threshold): one line, no bug.
    assert faults.explain(error.value, {}).startswith("BM25 check failed: BM25 scores only")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert list(mlflow.search_runs(experiment_names=["vssbench"])["status"]) == ["FAILED"]


@pytest.mark.slow
@pytest.mark.parametrize("column", [None, "region"])
def test_the_two_duckdb_bm25_implementations_rank_alike(column, cache_dir):
    """search.bm25=fts_tables is the macro's BM25 as one top-k query: same ids, same scores."""
    from vssbench.data.load import DataSpec, data_key, load_dataset, load_tokens
    from vssbench.data.synthetic.corpus import QueryMix
    from vssbench.engines.duckdb.vss import DuckDBVss
    from vssbench.engines.params import HnswBuild, QuerySettings
    from vssbench.run.scoring import filter_values
    from vssbench.stopwatch import Stopwatch

    spec = DataSpec(2000, 200, 16, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), column)
    data = load_dataset(spec, cache_dir)
    doc_tokens, query_tokens, _ = load_tokens(spec, data, "kiwi", cache_dir)
    values = filter_values(data, column)
    found = {}
    for implementation in ("match_bm25", "fts_tables"):
        eng = DuckDBVss(1)
        eng.open(data, HnswBuild("cosine", 8, 32, 1), data_key(spec), None, Stopwatch())
        eng.set_query(QuerySettings(64, 50, "exact" if column else "none", 10, column))
        eng.open_texts(data, doc_tokens, column, implementation)
        found[implementation] = [
            eng.text_query(t, v, 50) for t, v in zip(query_tokens, values, strict=True)
        ]
        eng.close()
    macro, tables = found["match_bm25"], found["fts_tables"]
    assert sum(len(r) for r in macro) > 200 * 10  # most queries match many documents
    for a, b in zip(macro, tables, strict=True):
        assert len(a) == len(b)
        scores_a, scores_b = np.array([r[1] for r in a]), np.array([r[1] for r in b])
        assert np.abs(scores_a - scores_b).max(initial=0) <= 1e-6
        # Ids agree wherever the score is not tied with a neighbour (the macro sums a
        # document's terms in no fixed order: equal scores can differ in the last bit).
        tied = np.isclose(scores_a[:, None], scores_a[None, :], rtol=0, atol=1e-9).sum(1) > 1
        ids_a, ids_b = np.array([r[0] for r in a]), np.array([r[0] for r in b])
        assert (ids_a[~tied] == ids_b[~tied]).all()
        # A tie at the cut-off may keep different ids; above it the tied groups are the same.
        if len(a) and tied.any():
            cut = scores_a[-1]
            inside = ~np.isclose(scores_a, cut, rtol=0, atol=1e-9)
            assert set(ids_a[inside]) == set(ids_b[inside])
