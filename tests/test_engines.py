"""Issue 11: peer engines on the same data, queries and ground truth, behind the same seam."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest
from duckdb_extensions import import_extension
from peers import REQUIRED, installed, needs

from vssbench.config.plan import read_plan
from vssbench.data import filters
from vssbench.data.load import DataSpec, data_key, load_dataset
from vssbench.data.synthetic.corpus import QueryMix
from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.engines.registry import ENGINES, VSS_COMMIT, VSS_USEARCH, engine_class
from vssbench.run import runner
from vssbench.run.scoring import exact_recall, filter_values
from vssbench.stopwatch import Stopwatch

ROOT = Path(__file__).resolve().parents[1]

APPROXIMATE = [name for name, e in ENGINES.items() if not e.exact]


def engine_param(names: list[str]) -> list:
    """Engines as test parameters; one whose optional extra is missing skips with the reason."""
    return [pytest.param(n, marks=needs(n)) for n in names]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2000 docs x 32 dims, 200 queries, exact neighbours within each query's region."""
    root = tmp_path_factory.mktemp("engines")
    spec = DataSpec(2000, 200, 32, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), "region")
    return spec, load_dataset(spec, root), root


def _open(name: str, tiny, build: HnswBuild):
    spec, data, root = tiny
    eng = engine_class(name)(threads=1)
    eng.open(data, build, data_key(spec), root, Stopwatch())
    return eng


def _answers(eng, data, settings: QuerySettings) -> list[np.ndarray]:
    eng.set_query(settings)
    values = filter_values(data, settings.column)
    return [eng.ids(eng.query(v, x)) for v, x in zip(data.query_vectors, values, strict=True)]


@pytest.mark.slow
@pytest.mark.parametrize("name", engine_param(APPROXIMATE))
def test_at_a_very_high_ef_every_hnsw_engine_returns_the_exact_neighbours(name, tiny):
    spec, _data, _ = tiny
    eng = _open(name, tiny, HnswBuild("cosine", 16, 128, 1))
    try:
        # Unfiltered: the exact top-k without groups is the ground truth of an unfiltered spec.
        unfiltered = DataSpec(**{**spec.__dict__, "filter_column": None})
        truth = load_dataset(unfiltered, tiny[2])
        found = _answers(eng, truth, QuerySettings(ef_search=2000, limit=10))
    finally:
        eng.close()
    assert all(len(ids) == 10 for ids in found)
    same = np.mean([set(f) == set(t) for f, t in zip(found, truth.exact_ids, strict=True)])
    assert same >= 0.99, same  # a tie at the 10th distance may swap one id
    assert exact_recall(truth, found, 10, "cosine").mean() == 1.0


@pytest.mark.parametrize("name", engine_param(APPROXIMATE))
def test_asked_for_more_rows_than_its_ef_every_engine_returns_them(name, tiny):
    """k=100 at ef 16 (BEIR's recall@100): every engine searches with max(ef, rows), the
    effective ef a run records (LanceDB refuses a beam below the rows asked by itself)."""
    eng = _open(name, tiny, HnswBuild("cosine", 16, 128, 1))
    try:
        found = _answers(eng, tiny[1], QuerySettings(ef_search=16, limit=100))
    finally:
        eng.close()
    assert [len(ids) for ids in found] == [100] * len(found)
    assert all(len(set(ids)) == 100 for ids in found)


@pytest.mark.parametrize("name", engine_param(["usearch"]))
def test_duckdb_vss_and_usearch_with_the_same_parameters_reach_the_same_recall(name, tiny):
    spec, _data, root = tiny
    unfiltered = load_dataset(DataSpec(**{**spec.__dict__, "filter_column": None}), root)
    # A small graph and beam, so recall is well below 1 and a difference could show.
    build = HnswBuild("cosine", 4, 8, 1)
    recall = {}
    for engine in ("duckdb_vss", name):
        eng = _open(engine, (spec, unfiltered, root), build)
        try:
            found = _answers(eng, unfiltered, QuerySettings(ef_search=10, limit=10))
        finally:
            eng.close()
        recall[engine] = exact_recall(unfiltered, found, 10, "cosine").mean()
    assert recall["duckdb_vss"] < 0.97, recall  # the check below means something
    assert abs(recall["duckdb_vss"] - recall[name]) <= 0.02, recall


FILTERED = [(name, strategy) for name, e in ENGINES.items() for strategy in e.strategies]


@pytest.fixture(scope="module")
def tiny_attribute(tmp_path_factory):
    """The same data as `tiny`, each query restricted to the 5% of documents with attribute < 0.05."""
    root = tmp_path_factory.mktemp("engines-attribute")
    spec = DataSpec(2000, 200, 32, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), "attribute", 0.05)
    return spec, load_dataset(spec, root), root


@pytest.mark.parametrize("column", ["region", "attribute"])
@pytest.mark.parametrize(
    ("name", "strategy"),
    [pytest.param(*case, marks=p.marks) for case in FILTERED for p in engine_param([case[0]])],
)
@pytest.mark.slow
def test_every_engine_filtered_results_satisfy_the_filter(name, strategy, column, request):
    data_of = request.getfixturevalue("tiny" if column == "region" else "tiny_attribute")
    _, data, _ = data_of
    eng = _open(name, data_of, HnswBuild("cosine", 16, 128, 1))
    try:
        found = _answers(
            eng,
            data,
            QuerySettings(
                64,
                10,
                strategy,
                10,
                column,
                (data.filter_values[0],)
                if column == "attribute"
                else tuple(sorted(set(data.filter_values))),
            ),
        )
    finally:
        eng.close()
    docs = filters.doc_values(data.corpus, column)
    values = filter_values(data, column)
    assert all(
        filters.matches(column, docs[ids], v).all() for ids, v in zip(found, values, strict=True)
    )
    rows = np.array([len(ids) for ids in found])
    recall = exact_recall(data, [ids[:10] for ids in found], 10, "cosine").mean()
    if strategy in ("pre", "exact"):
        assert rows.mean() > 9.5 and recall > 0.85, (rows.mean(), recall)
    elif strategy == "overfetch":  # 100 candidates hold about 11 (region) or 5 (attribute) matches
        assert rows.mean() > (9 if column == "region" else 3), rows.mean()
    else:  # post: the index's top 10 of all documents, then the filter
        assert rows.mean() < 5, rows.mean()


def test_the_attribute_filter_keeps_the_asked_share_apart_from_the_text():
    corpus = pd.DataFrame({"category": np.resize(np.array(list("abcde")), 10_000)})
    values = filters.attribute_values(10_000, seed=42)
    for selectivity in (0.01, 0.05, 0.1, 0.25, 0.5):
        kept = filters.matches("attribute", values, selectivity)
        assert abs(kept.mean() - selectivity) <= 0.0001  # round(s * n) of n documents
        # Independent of the documents' topic: each category keeps about the same share.
        by_topic = pd.Series(kept).groupby(corpus["category"]).mean()
        assert (by_topic - selectivity).abs().max() < 0.02, by_topic


def test_attribute_ground_truth_is_the_exact_top_k_among_the_kept_documents(tiny_attribute):
    spec, data, root = tiny_attribute
    kept = filters.doc_values(data.corpus, "attribute") < 0.05
    assert kept.sum() == 100
    assert kept[data.exact_ids].all()
    unfiltered = load_dataset(DataSpec(**{**spec.__dict__, "filter_column": None}), root)
    # The filtered top-k are the nearest kept documents: below the unfiltered 10th distance
    # only where a kept document is among the unfiltered top 10.
    assert (data.exact_dist[:, 0] >= unfiltered.exact_dist[:, 0] - 1e-9).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", engine_param(["duckdb_exact", "faiss_flat"]))
def test_an_exact_engine_has_recall_1_and_one_point(name, make_cfg):
    outcome = runner.run(read_plan(make_cfg("dim=32", f"engine={name}", "hnsw.ef_search=[16,64]")))
    m = outcome.metrics
    assert m["recall_at_10"] == 1.0 and m["batch_recall_at_10"] == 1.0
    assert "index_build_s" not in m or name == "faiss_flat"
    curve = mlflow.MlflowClient().get_metric_history(outcome.run_id, "ef_curve.recall_at_10")
    assert [p.value for p in curve] == [1.0]
    run = mlflow.get_run(outcome.run_id)
    assert run.data.params["engine"] == name and run.info.run_name.startswith(name + "-")
    assert run.data.params["plan_uses_hnsw"] == "False"
    assert run.data.params["index"] == ("none" if name == "duckdb_exact" else "built")


@pytest.mark.slow
@pytest.mark.parametrize("name", engine_param(["usearch", "hnswlib", "faiss_hnsw", "annoy"]))
def test_a_library_index_is_built_once_and_logs_build_facts(name, make_cfg, tmp_path):
    cache = tmp_path / "cache"
    first = runner.run(read_plan(make_cfg("dim=24", f"engine={name}", f"cache_dir={cache}")))
    again = runner.run(
        read_plan(make_cfg("dim=24", f"engine={name}", f"cache_dir={cache}", "force=true"))
    )
    files = [p for p in (cache / "index").iterdir() if p.suffix not in (".json", ".lock", ".crc32")]
    assert len(files) == 1, files
    m = first.metrics
    # A 2000 x 24 float32 index holds at least its vectors (0.18 MB) on disk.
    assert m["index_file_mb"] > 2000 * 24 * 4 / 2**20
    assert m["index_memory_mb"] > 0 and m["index_build_s"] > 0 and "build_rss_growth_mb" in m
    assert again.metrics["index_build_s"] == m["index_build_s"]  # read from the cache
    params = mlflow.get_run(again.run_id).data.params
    assert params["index"] == "reused" and params["engine"] == name


@pytest.mark.slow
def test_a_missing_engine_names_the_extra_to_install(tmp_path):
    """A process where hnswlib cannot be imported (whether or not it is installed here)."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hnswlib' or name.startswith('hnswlib.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hide)}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run(
        [sys.executable, "-m", "vssbench", "scale=tiny", "engine=hnswlib"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last == (
        "vssbench: bad configuration: engine=hnswlib: needs hnswlib, which the optional extra "
        "installs: uv sync --extra hnswlib (or pip install 'vssbench[hnswlib]')"
    )
    assert not (tmp_path / "mlruns").exists()  # refused before any work


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["engine=usearch", "search=hybrid"],
            "search=hybrid: engine=usearch has no full-text search; hybrid runs with "
            "duckdb_vss, duckdb_exact, lancedb",
        ),
        (
            ["engine=faiss_flat", "filter=region"],
            "filter.strategy=post: engine=faiss_flat runs filter.strategy exact",
        ),
        (
            ["engine=usearch", "filter=region", "filter.strategy=pre"],
            "filter.strategy=pre: engine=usearch runs filter.strategy post or overfetch",
        ),
        # An option another engine declares (engines/registry.py), set away from its default.
        (
            ["engine=hnswlib", "engine.reuse_index=false"],
            "engine.reuse_index=false: applies to engine=duckdb_vss only",
        ),
        (
            ["engine=duckdb_exact", "engine.reuse_index=false"],
            "engine.reuse_index=false: applies to engine=duckdb_vss only",
        ),
        (
            ["engine=duckdb_vss", "engine.num_partitions=4"],
            "engine.num_partitions=4: applies to engine=lancedb only",
        ),
        (
            ["engine=lancedb", "engine.late_materialization_max_rows=50"],
            "engine.late_materialization_max_rows=50: applies to engine=duckdb_vss or "
            "duckdb_exact only",
        ),
        # vec0's distance_metric has no inner product (the registry's metrics).
        (
            ["engine=sqlite_vec", "hnsw.metric=ip"],
            "hnsw.metric=ip: engine=sqlite_vec computes hnsw.metric l2sq or cosine",
        ),
        (
            ["engine=annoy", "engine.num_partitions=4"],
            "engine.num_partitions=4: applies to engine=lancedb only",
        ),
        # duckdb_vss declares max_clients_is_threads: more clients than threads crash it.
        (
            ["engine=duckdb_vss", "engine.threads=1", "bench.clients=[1,2]"],
            "bench.clients=[1, 2]: at most engine.threads (1) clients: more concurrent searches "
            "than the index's build threads crash this vss build",
        ),
    ],
)
def test_what_an_engine_cannot_run_is_refused_in_one_line(overrides, message, make_cfg):
    from vssbench.config.checks import ConfigError, validate

    with pytest.raises(ConfigError) as refused:
        validate(make_cfg(*overrides))
    assert str(refused.value) == message


@pytest.mark.long  # LanceDB's other tests run in CI; this one is its longest (75 s under load)
@pytest.mark.parametrize("name", engine_param(["lancedb"]))
def test_lancedb_hybrid_runs_its_own_reranker_on_the_same_labels(name, make_cfg, tmp_path):
    outcome = runner.run(
        read_plan(
            make_cfg(
                f"engine={name}",
                "search=hybrid",
                "search.tokenizer=bigram",
                "filter=region",
                "filter.strategy=pre",
                "k=100",  # above ef 64: LanceDB's own query must widen its beam too
                "search.candidates=100",
            )
        )
    )
    m = outcome.metrics
    # Its full-text index finds the Korean bigrams: BM25 scores most target documents.
    assert m["bm25_hit_rate"] > 0.5 and m["bm25_ndcg_at_10"] > 0.3
    # LanceDB's own fused query is scored on the same labels, next to the fusion of the halves.
    assert m["native_hybrid_ndcg_at_10"] > max(m["vector_ndcg_at_10"], m["bm25_ndcg_at_10"]) - 0.05
    assert m["native_hybrid_latency_p50_ms"] > 0 and m["native_hybrid_rows_returned_mean"] == 100


@pytest.mark.slow
@pytest.mark.parametrize("name", engine_param(["usearch", "lancedb"]))
def test_a_library_serves_more_clients_and_a_batch_with_the_single_query_ids(name, make_cfg):
    outcome = runner.run(
        read_plan(make_cfg("dim=16", f"engine={name}", "bench.clients=[1,2,3]", "bench.repeats=1"))
    )
    m = outcome.metrics
    qps = mlflow.MlflowClient().get_metric_history(outcome.run_id, "clients.qps")
    assert sorted(p.step for p in qps) == [1, 2, 3]
    # The batch finds what the single queries found, query by query.
    assert m["batch_same_ids_share"] == 1.0 and m["batch_recall_at_10"] == m["recall_at_10"]
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["plan_check"].startswith("none") and "batch_plan_uses_hnsw" not in params


@pytest.mark.parametrize("name", engine_param(["hnswlib"]))
def test_failed_queries_counts_queries_not_calls(name, make_cfg, tmp_path):
    """hnswlib raises when fewer than k filtered ids are reached: with 10 of 2,000 documents kept
    (k 10) and a graph of M 2, every query fails here. Each counts once, though it fails in the
    warm-up and in all three passes (the count was 650 for these 200 queries): the count is the
    queries the headline point answered with no rows."""
    outcome = runner.run(
        read_plan(
            make_cfg(
                "dim=16",
                f"engine={name}",
                "filter=attribute",
                "filter.selectivity=0.005",
                "filter.strategy=pre",
                "hnsw.M=2",
                "hnsw.ef_construction=4",
                "hnsw.ef_search=10",
                "bench.batch=false",
            )
        )
    )
    failed = outcome.metrics["failed_queries"]
    local = mlflow.artifacts.download_artifacts(
        run_id=outcome.run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path)
    )
    empty = int((pd.read_parquet(local)["rows_returned"] == 0).sum())
    assert 0 < failed <= outcome.metrics["n_queries"]
    assert failed == empty


def test_the_usearch_control_is_the_release_inside_vss():
    """The pin in pyproject.toml, the release recorded from vss's source, the vss build this
    DuckDB loads and the usearch installed here (where it installs) agree."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    (pinned,) = re.findall(r'"usearch==([0-9.]+);', pyproject)
    assert pinned == VSS_USEARCH
    con = duckdb.connect()
    import_extension("vss", con=con)
    con.execute("LOAD vss")
    (built,) = con.execute(
        "SELECT extension_version FROM duckdb_extensions() WHERE extension_name = 'vss'"
    ).fetchone()
    assert built == VSS_COMMIT
    if installed("usearch"):
        assert importlib.metadata.version("usearch") == VSS_USEARCH
    elif sys.version_info[:2] <= (3, 12):
        assert not REQUIRED, "CI installs the usearch extra"
