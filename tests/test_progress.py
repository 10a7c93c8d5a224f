import logging

import pytest

from vssbench.progress import Expected, Progress, eta_text, heartbeat


def test_logs_each_tenth_with_an_eta_even_for_uneven_steps(caplog):
    caplog.set_level(logging.INFO, logger="vssbench")
    progress = Progress("ground truth", 100)
    for done in range(0, 100, 7):  # 0, 7, ..., 98: crosses the marks 10, 20, ..., 90
        progress.update(done)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 9
    assert lines[0].startswith("ground truth: 14/100") and "ETA" in lines[0]


def test_small_totals_stay_quiet(caplog):
    caplog.set_level(logging.INFO, logger="vssbench")
    progress = Progress("queries", 200, min_total=1000)
    for done in range(201):
        progress.update(done)
    assert caplog.records == []


def test_eta_counts_down_from_the_expected_time_and_says_when_it_is_past():
    expected = Expected(560.0, 420.0, 750.0, "fit")
    assert eta_text(120.0, expected).startswith("ETA 440 s (expected 560 s, 95% 420-750 s")
    assert eta_text(600.0, expected).startswith("40 s past the expected time")
    assert eta_text(10.0, None).startswith("no ETA")


@pytest.mark.slow
def test_heartbeat_beats_while_an_index_builds(caplog, metadata):
    """A real HNSW build, with the heartbeat logging its ETA."""
    import numpy as np

    from vssbench.engines.duckdb import sql

    caplog.set_level(logging.INFO, logger="vssbench")
    vectors = np.random.default_rng(0).standard_normal((20_000, 64)).astype(np.float32)
    corpus = metadata(20_000)
    con = sql.connect(threads=1, late_materialization_max_rows=0)
    sql.load_documents(con, corpus, vectors)
    with heartbeat("test build", Expected(100.0, 50.0, 200.0, "fit"), interval=0.2):
        con.execute("CREATE INDEX h ON docs USING HNSW (vec) WITH (metric = 'cosine')")
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("test build")]
    assert beats and all("ETA" in b and "expected 100 s" in b for b in beats)


@pytest.mark.slow
def test_a_build_asks_for_its_expected_time_and_a_reused_index_does_not(tmp_path):
    """The expectation reads the store: only a build that happens pays for it."""
    from vssbench.data.load import DataSpec, data_key, load_dataset
    from vssbench.data.synthetic.corpus import QueryMix
    from vssbench.engines.duckdb.vss import DuckDBVss
    from vssbench.engines.params import HnswBuild
    from vssbench.stopwatch import Stopwatch

    spec = DataSpec(2000, 20, 16, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), None)
    data = load_dataset(spec, tmp_path)
    asked = []
    reused = []
    for _ in range(2):
        watch = Stopwatch()
        watch.expect["index_build"] = lambda: asked.append(1) or Expected(1.0, 0.5, 2.0, "fit")
        eng = DuckDBVss(threads=1)
        facts = eng.open(data, HnswBuild("cosine", 8, 32, 1), data_key(spec), tmp_path, watch)
        reused.append(facts["index_reused"])
        eng.close()
    assert reused == [0.0, 1.0]
    assert len(asked) == 1
