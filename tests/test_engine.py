"""Real DuckDB with the vss extension from PyPI: the plan checks that guard every run."""

import duckdb
import numpy as np
import pytest

from vssbench.engines.duckdb import index_file, sql
from vssbench.engines.duckdb.queries import bm25_query, vector_query

DIM = 16


@pytest.fixture(scope="module")
def con(metadata):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, DIM)).astype(np.float32)
    corpus = metadata(500, ("가", "나"))
    c = sql.connect(threads=1, late_materialization_max_rows=0)
    sql.load_documents(c, corpus, vectors)
    sql.build_hnsw(c, "cosine", 8, 32)
    sql.load_texts(c, corpus, ["커피 녹차"] * 500)
    sql.build_fts(c)
    yield c
    c.close()


def _plan(con, shape):
    params = shape.params(vec=np.ones(DIM, np.float32), value="가", k=10, fetch=100)
    return sql.explain(con, shape.sql, params)


@pytest.mark.parametrize("strategy", ["none", "post", "overfetch"])
def test_index_shapes_use_hnsw(con, strategy):
    shape = vector_query("cosine", DIM, strategy, "category")
    assert shape.uses_index
    sql.check_plan(_plan(con, shape), expect_index=True)


def test_exact_shape_does_not_use_the_index(con):
    shape = vector_query("cosine", DIM, "exact", "category")
    plan = _plan(con, shape)
    assert "HNSW_INDEX_SCAN" not in plan
    with pytest.raises(sql.PlanCheckError):
        sql.check_plan(plan, expect_index=True)


def test_metric_mismatch_is_caught(con):
    """The trap: an l2 ORDER BY over a cosine index silently scans; the check must refuse it."""
    with pytest.raises(sql.PlanCheckError, match="HNSW_INDEX_SCAN"):
        sql.check_plan(_plan(con, vector_query("l2sq", DIM, "none")), expect_index=True)


def test_settings_and_versions(con):
    sql.set_ef_search(con, 37)
    assert sql.settings(con) == {
        "threads": "1",
        "late_materialization_max_rows": "0",
        "hnsw_ef_search": "37",
    }
    versions = sql.versions(con)
    assert versions["duckdb"] == "1.5.5" and versions["vss"] and versions["fts"]


def test_one_statement_hybrid_loses_the_index(con):
    """Why hybrid runs two statements: joined with match_bm25, the HNSW top-k becomes a full scan."""
    vector = vector_query("cosine", DIM, "none")
    bm25 = bm25_query()
    union = f"SELECT id FROM ({vector.sql}) UNION ALL SELECT id FROM ({bm25.sql})"
    plan = sql.explain(con, union, [np.ones(DIM, np.float32), 10, "커피", 10])
    assert "HNSW_INDEX_SCAN" not in plan
    sql.check_plan(_plan(con, vector), expect_index=True)


def test_index_file_is_queried_read_only_with_its_index(tmp_path, metadata):
    """Runs attach the cached index file instead of copying it: the index serves, nothing writes."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    path = tmp_path / "it's" / "index.duckdb"  # a quote in the path must not break the SQL
    path.parent.mkdir()
    hnsw = {"metric": "cosine", "M": 8, "ef_construction": 32}
    index_file.build(path, metadata(300), vectors, hnsw, threads=1)
    con = sql.connect(threads=1, late_materialization_max_rows=0)
    sql.attach_index_file(con, path)
    shape = vector_query("cosine", DIM, "none")
    sql.check_plan(_plan(con, shape), expect_index=True)
    assert sql.index_info(con)["index_count"] == 300
    with pytest.raises(duckdb.InvalidInputException, match="read-only"):
        con.execute("DELETE FROM docs")
    sql.load_texts(con, metadata(300), ["커피"] * 300)  # the run's own tables: in memory
    con.close()


@pytest.mark.slow
def test_index_memory_is_measured_where_the_allocator_cannot_hide_it(tmp_path, metadata):
    """A fresh process opens the index file: at least the vectors usearch keeps, and of the
    order of the file (RSS growth across CREATE INDEX once logged a sixth of the file)."""
    n, dim = 20_000, 64
    vectors = np.random.default_rng(2).standard_normal((n, dim)).astype(np.float32)
    hnsw = {"metric": "cosine", "M": 16, "ef_construction": 64}
    facts = index_file.build(tmp_path / "i.duckdb", metadata(n), vectors, hnsw, threads=2)
    raw_mb = vectors.nbytes / 2**20
    assert raw_mb <= facts["index_memory_mb"] <= 3 * facts["index_file_mb"]
    assert facts["index_file_mb"] == pytest.approx((tmp_path / "i.duckdb").stat().st_size / 2**20)


def test_a_build_that_dies_under_its_memory_limit_is_built_again_without(
    tmp_path, metadata, monkeypatch, caplog
):
    """A limit below CREATE INDEX's collection fails the build in its process (DuckDB raises,
    or aborts the process): the index is built again without a limit, and the facts say so."""
    monkeypatch.setattr(index_file, "memory_limit_mb", lambda n, dim: 1)
    vectors = np.random.default_rng(3).standard_normal((2000, DIM)).astype(np.float32)
    hnsw = {"metric": "cosine", "M": 8, "ef_construction": 32}
    path = tmp_path / "i.duckdb"
    facts = index_file.build(path, metadata(2000), vectors, hnsw, threads=1)
    assert facts["index_build_attempts"] == 2
    assert facts["index_build_memory_limit_mb"] == 0
    assert "under memory_limit=1 MB failed" in caplog.text
    con = sql.connect(threads=1, late_materialization_max_rows=0)
    sql.attach_index_file(con, path)
    assert sql.index_info(con)["index_count"] == 2000
    con.close()


def test_a_build_under_its_memory_limit_records_it(tmp_path, metadata):
    vectors = np.random.default_rng(4).standard_normal((2000, DIM)).astype(np.float32)
    hnsw = {"metric": "cosine", "M": 8, "ef_construction": 32}
    facts = index_file.build(tmp_path / "i.duckdb", metadata(2000), vectors, hnsw, threads=1)
    assert facts["index_build_attempts"] == 1
    assert facts["index_build_memory_limit_mb"] == index_file.memory_limit_mb(2000, DIM)
