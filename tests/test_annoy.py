"""Annoy as a peer engine: search_k = ef x n_trees, a curve over search_k from one build, the
tree count in the index's cache key, the batch it cannot run, clients on one index."""

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pytest
from peers import needs

from vssbench.config.plan import read_plan
from vssbench.data.load import DataSpec, data_key, load_dataset
from vssbench.data.synthetic.corpus import QueryMix
from vssbench.engines.params import HnswBuild, QuerySettings
from vssbench.engines.registry import AnnoyOptions, engine_class
from vssbench.run import runner
from vssbench.stopwatch import Stopwatch

pytestmark = needs("annoy")

N_TREES = AnnoyOptions().n_trees
NO_BATCH = "not measured: Annoy has no batch query: its Python API answers one vector per call"


def _history(run_id: str, name: str) -> dict[int, float]:
    return {m.step: m.value for m in mlflow.MlflowClient().get_metric_history(run_id, name)}


def _index_files(cache: Path) -> list[Path]:
    return sorted((cache / "index").glob("*.annoy"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """2000 docs x 32 dims, 200 queries, unfiltered; an Annoy index of 10 trees opened on it."""
    root = tmp_path_factory.mktemp("annoy")
    spec = DataSpec(2000, 200, 32, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), None)
    data = load_dataset(spec, root)
    eng = engine_class("annoy")(1, AnnoyOptions(n_trees=10))
    eng.open(data, HnswBuild("cosine", 16, 128, 1), data_key(spec), root, Stopwatch())
    yield data, eng
    eng.close()


@pytest.mark.slow
def test_an_ef_list_is_one_build_and_a_curve_over_search_k(make_cfg, tmp_path):
    cache = tmp_path / "cache"
    outcome = runner.run(
        read_plan(
            make_cfg(
                "scale=tiny",
                "dim=32",
                "engine=annoy",
                "hnsw.ef_search=[10,40,160,640]",
                f"cache_dir={cache}",
            )
        )
    )
    assert len(_index_files(cache)) == 1  # one build for five points
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["index"] == "built" and params["engine"] == "annoy"
    assert outcome.metrics["index_trees"] == N_TREES and outcome.metrics["index_count"] == 2000
    recall = _history(outcome.run_id, "ef_curve.recall_at_10")
    assert (
        sorted(recall) == sorted(_history(outcome.run_id, "ef_curve.qps")) == [10, 40, 64, 160, 640]
    )
    values = [recall[ef] for ef in sorted(recall)]
    # A larger search_k inspects a superset of the candidates: recall never falls.
    assert all(b >= a for a, b in itertools.pairwise(values)), values
    assert values[0] < 0.95 and values[-1] == 1.0, values  # the curve spans something
    # The headline is ef 64: search_k 64 x n_trees, in the params and the logged call.
    assert outcome.metrics["recall_at_10"] == recall[64]
    assert params["annoy.n_trees"] == str(N_TREES) and params["annoy.metric"] == "angular"
    assert params["annoy.search_k"] == str(64 * N_TREES)
    assert f"'annoy.search_k': '{64 * N_TREES}'" in params["sql"]


def test_each_ef_searches_with_ef_x_n_trees_widened_to_the_rows_asked(tiny):
    _data, eng = tiny
    for ef in (10, 40, 160, 640):
        eng.set_query(QuerySettings(ef, 10))
        assert eng.describe()["annoy.search_k"] == str(ef * 10)
    # Overfetch asks for 100 rows: ef 64 searches with 100, as effective_ef_search records.
    eng.set_query(QuerySettings(64, 10, "overfetch", 10, "region", ("x",)))
    assert eng.describe()["annoy.search_k"] == str(100 * 10)


def test_ef_k_is_annoys_own_default_search_k(tiny):
    """At ef = k the ids are those of get_nns_by_vector without search_k (n_trees x k)."""
    data, eng = tiny
    eng.set_query(QuerySettings(10, 10))
    ours = [eng.ids(eng.query(v)).tolist() for v in data.query_vectors]
    default = [eng.index.get_nns_by_vector(v.tolist(), 10) for v in data.query_vectors]
    assert ours == default
    eng.set_query(QuerySettings(11, 10))  # one more candidate per tree: some query differs
    assert [eng.ids(eng.query(v)).tolist() for v in data.query_vectors] != default


@pytest.mark.slow
def test_the_tree_count_keys_the_index_and_ef_does_not(make_cfg, tmp_path):
    cache = tmp_path / "cache"

    def run(*overrides: str):
        cfg = make_cfg(
            "dim=16", "engine=annoy", "bench.batch=false", f"cache_dir={cache}", *overrides
        )
        return runner.run(read_plan(cfg))

    ten = run("engine.n_trees=10")
    assert len(_index_files(cache)) == 1
    twenty = run("engine.n_trees=20")
    assert len(_index_files(cache)) == 2
    again = run("engine.n_trees=10", "hnsw.ef_search=32")
    assert len(_index_files(cache)) == 2  # another ef: the same index
    index = [mlflow.get_run(o.run_id).data.params["index"] for o in (ten, twenty, again)]
    assert index == ["built", "built", "reused"]
    assert ten.metrics["index_trees"] == again.metrics["index_trees"] == 10
    assert twenty.metrics["index_trees"] == 20
    assert twenty.metrics["index_file_mb"] > ten.metrics["index_file_mb"]  # the trees' nodes


@pytest.mark.slow
def test_zero_trees_is_refused_in_one_line_before_any_work(cli, tmp_path):
    result = cli("scale=tiny", "engine=annoy", "engine.n_trees=0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "vssbench: bad configuration: engine.n_trees=0: must be at least 1"
    ]
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.slow
def test_the_batch_is_not_measured_and_clients_share_the_index(make_cfg):
    outcome = runner.run(
        read_plan(make_cfg("dim=16", "engine=annoy", "bench.clients=[1,2]", "bench.repeats=1"))
    )
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["batch"] == NO_BATCH
    assert not any(name.startswith("batch_") for name in outcome.metrics)
    assert sorted(_history(outcome.run_id, "clients.qps")) == [1, 2]


def test_threads_searching_one_index_find_what_one_thread_finds(tiny):
    data, eng = tiny
    eng.set_query(QuerySettings(64, 10))
    assert eng.client() is eng
    alone = [eng.ids(eng.query(v)).tolist() for v in data.query_vectors]
    vectors = list(data.query_vectors) * 20
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda v: eng.ids(eng.query(v)).tolist(), vectors))
    assert together == alone * 20
