"""sqlite-vec's vec0 table as an exact peer: the exact top k, filters inside its KNN scan, a client
per connection, and what it cannot run."""

import subprocess
import sys
import threading

import mlflow
import numpy as np
import pandas as pd
import pytest
from peers import needs

from vssbench.config.plan import read_plan
from vssbench.data import filters
from vssbench.data.load import DataSpec, data_key, load_dataset
from vssbench.data.synthetic.corpus import QueryMix
from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.engines.registry import engine_class
from vssbench.run import runner
from vssbench.run.scoring import filter_values
from vssbench.stopwatch import Stopwatch

pytestmark = needs("sqlite_vec")

KNN = "SELECT id, distance FROM docs WHERE embedding MATCH ? AND k = ?"


def _run(make_cfg, tmp_path, *overrides: str):
    """A run, its params, the per-query ids it returned and its data (the run's cached data)."""
    cfg = make_cfg("scale=tiny", "engine=sqlite_vec", "dim=32", *overrides)
    outcome = runner.run(read_plan(cfg))
    plan = read_plan(cfg)
    data = load_dataset(plan.data, plan.cache_dir)
    local = mlflow.artifacts.download_artifacts(
        run_id=outcome.run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path)
    )
    returned = pd.read_parquet(local)["returned_ids"].map(list).tolist()
    return outcome, mlflow.get_run(outcome.run_id).data.params, returned, data


@pytest.mark.slow
def test_a_run_returns_exactly_the_exact_top_k_and_measures_no_batch(make_cfg, tmp_path):
    outcome, params, returned, data = _run(
        make_cfg,
        tmp_path,
        f"cache_dir={tmp_path / 'cache'}",
        "hnsw.ef_search=[16,64]",
        "bench.clients=[1,2]",
        "bench.repeats=1",
    )
    m = outcome.metrics
    assert m["recall_at_10"] == 1.0 and m["rows_returned_mean"] == 10
    # Not only the same distances: the same ids in the same order, query by query.
    assert returned == [data.own_ids(ids) for ids in data.exact_ids]
    curve = mlflow.MlflowClient().get_metric_history(outcome.run_id, "ef_curve.recall_at_10")
    assert [p.value for p in curve] == [1.0]  # an exact scan has no ef: one point
    clients = mlflow.MlflowClient().get_metric_history(outcome.run_id, "clients.qps")
    assert sorted(p.step for p in clients) == [1, 2] and all(p.value > 0 for p in clients)
    assert params["batch"] == "not measured: sqlite-vec's KNN takes one query vector per statement"
    assert "batch_qps" not in m and "batch_recall_at_10" not in m
    assert params["sql"] == KNN and params["plan_uses_hnsw"] == "False"
    assert params["sqlite_vec.distance_metric"] == "cosine"
    assert params["sqlite_vec.version"].startswith("v0.1.")
    assert params["index"] == "built" and m["index_count"] == 2000
    # The fresh-process probe opened the file and answered a query.
    assert m["index_memory_mb"] > 0 and m["index_file_mb"] > 2000 * 32 * 4 / 2**20


@pytest.mark.slow
def test_the_index_file_is_built_once_and_reused(make_cfg, tmp_path):
    cache = tmp_path / "cache"
    first = runner.run(read_plan(make_cfg("engine=sqlite_vec", "dim=24", f"cache_dir={cache}")))
    again = runner.run(
        read_plan(make_cfg("engine=sqlite_vec", "dim=24", f"cache_dir={cache}", "force=true"))
    )
    files = [p for p in (cache / "index").iterdir() if p.suffix not in (".json", ".lock", ".crc32")]
    assert [p.suffix for p in files] == [".sqlite"]
    assert again.metrics["index_build_s"] == first.metrics["index_build_s"]  # from the cache
    assert mlflow.get_run(again.run_id).data.params["index"] == "reused"
    assert again.metrics["recall_at_10"] == 1.0


@pytest.mark.slow
def test_post_asked_of_the_exact_scan_is_measured_as_post(make_cfg, tmp_path):
    """An exact engine runs filter.strategy=post when asked: the unfiltered top k, then the
    filter, so most queries keep fewer than k rows."""
    outcome, params, _, _ = _run(make_cfg, tmp_path, "filter=region", "filter.strategy=post")
    assert params["filter_strategy_used"] == "post"
    assert outcome.metrics["rows_returned_mean"] < 5


@pytest.mark.parametrize(
    ("column", "overrides", "condition"),
    [
        ("region", (), "region = ?"),
        ("category", (), "category = ?"),
        ("attribute", ("filter.selectivity=0.05",), "attribute < ?"),
    ],
)
def test_the_exact_strategy_filters_inside_the_knn_scan(
    column, overrides, condition, make_cfg, tmp_path
):
    outcome, params, returned, data = _run(
        make_cfg, tmp_path, f"filter={column}", "filter.strategy=exact", *overrides
    )
    values = filter_values(data, column)
    docs = filters.doc_values(data.corpus, column)
    assert all(
        filters.matches(column, docs[ids], v).all() for ids, v in zip(returned, values, strict=True)
    )
    # The exact top 10 among the documents the filter keeps, in order: no query comes up short.
    assert returned == [data.own_ids(ids) for ids in data.exact_ids]
    assert outcome.metrics["rows_returned_mean"] == 10 and outcome.metrics["recall_at_10"] == 1.0
    assert params["sql"] == f"{KNN} AND {condition}"
    assert params["filter_strategy_used"] == "exact"


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    """The tiny data of a region filter and its sqlite_vec engine, open on the cached file."""
    root = tmp_path_factory.mktemp("sqlite-vec")
    spec = DataSpec(2000, 50, 16, "l2sq", 10, 42, QueryMix(0.4, 0.3, 0.3), "region")
    data = load_dataset(spec, root)
    eng = engine_class("sqlite_vec")(threads=1)
    eng.open(data, HnswBuild("l2sq", 16, 128, 1), data_key(spec), root, Stopwatch())
    yield data, eng
    eng.close()


def _settings(data, strategy: str, column: str | None = "region") -> QuerySettings:
    values = tuple(sorted(set(data.filter_values))) if column else ()
    return QuerySettings(64, 10, strategy, 10, column, values)


def test_post_filters_the_unfiltered_top_k_in_numpy(opened):
    data, eng = opened
    eng.set_query(_settings(data, "none", None))
    unfiltered = [eng.ids(eng.query(v)) for v in data.query_vectors]
    eng.set_query(_settings(data, "post"))
    assert eng.sql == KNN
    docs = filters.doc_values(data.corpus, "region")
    kept = []
    for v, value, top in zip(data.query_vectors, data.filter_values, unfiltered, strict=True):
        found = eng.ids(eng.query(v, value))
        assert found.tolist() == top[docs[top] == value].tolist()
        kept.append(len(found))
    # What post gives up: fewer than 10 rows, where the scan's own filter (exact) returns 10.
    assert np.mean(kept) < 5


def test_l2sq_distances_are_euclidean_as_the_ground_truth(opened):
    data, eng = opened
    eng.set_query(_settings(data, "exact"))
    found = [eng.query(v, x) for v, x in zip(data.query_vectors, data.filter_values, strict=True)]
    assert [eng.ids(f).tolist() for f in found] == data.exact_ids.tolist()
    np.testing.assert_allclose([eng.scores(f) for f in found], data.exact_dist, rtol=1e-5)
    assert eng.describe()["sqlite_vec.distance_metric"] == "L2"


def test_each_client_has_its_own_connection_and_answers_concurrently(opened):
    data, eng = opened
    eng.set_query(_settings(data, "exact"))
    expected = [
        eng.ids(eng.query(v, x)).tolist()
        for v, x in zip(data.query_vectors, data.filter_values, strict=True)
    ]
    clients = [eng.client() for _ in range(3)]
    answers: dict[int, list] = {}

    def ask(i: int) -> None:
        c = clients[i]
        answers[i] = [
            c.ids(c.query(v, x)).tolist()
            for v, x in zip(data.query_vectors, data.filter_values, strict=True)
        ]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len({id(c.index) for c in clients} | {id(eng.index)}) == 4
        assert all(answers[i] == expected for i in range(3))
    finally:
        for c in clients:
            c.close()
    # Closing the clients leaves the engine's own connection open.
    assert eng.ids(eng.query(data.query_vectors[0], data.filter_values[0])).tolist() == expected[0]


def test_the_plan_is_vec0s_knn_with_the_filter_inside_it(opened):
    data, eng = opened
    eng.set_query(_settings(data, "exact"))
    plan = eng.explain(data.query_vectors[0], data.filter_values[0])
    # vec0's idxStr: 3 is its KNN plan; & a metadata constraint (A: the first metadata column).
    assert "SCAN docs VIRTUAL TABLE INDEX 0:3{___}___&" in plan
    assert f"{KNN} AND region = ?" in plan and "TEMP B-TREE" not in plan


@pytest.mark.slow
def test_inner_product_is_refused_in_one_line_before_any_work(cli, tmp_path):
    out = cli("scale=tiny", "engine=sqlite_vec", "hnsw.metric=ip")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "vssbench: bad configuration: hnsw.metric=ip: engine=sqlite_vec computes hnsw.metric "
        "l2sq or cosine"
    )
    assert not (tmp_path / "mlruns").exists()


def test_the_engine_loads_without_the_data_generators():
    """The memory probe imports this module alone in a fresh process."""
    code = (
        "import sys; from vssbench.engines.registry import engine_class; "
        "engine_class('sqlite_vec'); import vssbench.engines.index_probe; "
        "print(sorted(m for m in ('faker', 'scipy', 'kiwipiepy', 'omegaconf') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
