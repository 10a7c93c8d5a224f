"""The per-job line's ETA: jobs left weighed by their expected cost, calibrated on finished jobs."""

import dataclasses
import time

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from vssbench.config.scales import CONF_DIR, scale_sizes
from vssbench.sweep import eta, state

SCALES = scale_sizes([CONF_DIR], 500)


def _key(
    n_docs: int,
    dim: int = 128,
    search: str = "vector",
    engine: str = "duckdb_vss",
    queries: int = 500,
) -> eta.JobKey:
    return eta.JobKey(n_docs, queries, dim, search, engine)


BASE = _key(10_000)


def _planned(*overrides: str) -> list[list[str]]:
    """The jobs in the order Hydra's basic sweeper launches them (the last parameter fastest)."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _seconds(key: eta.JobKey) -> float:
    """Real-looking job seconds, not the prior's formula: 10k 9-23 s, 100k 52-201 s, 250k 148-607 s."""
    docs, dim = key.n_docs / 100_000, key.dim
    return 6 + 0.006 * dim + 45 * docs**1.25 * ((dim + 100) / 228) ** 0.9


def test_scale_sizes_come_from_the_scale_option_files(tmp_path):
    expected = {"tiny": (2_000, 200), "10k": (10_000, 500), "250k": (250_000, 500)}
    assert expected.items() <= SCALES.items()
    (tmp_path / "scale").mkdir()
    (tmp_path / "scale" / "1m.yaml").write_text("name: 1m\nn_docs: 1000000\nn_queries: 10000\n")
    (tmp_path / "scale" / "5k.yaml").write_text("name: 5k\nn_docs: 5000\n")
    assert scale_sizes([tmp_path], 500) == {"1m": (1_000_000, 10_000), "5k": (5_000, 500)}


def test_the_12_run_grid_half_way_is_within_25_percent_where_the_even_spread_is_not():
    jobs = _planned("scale=10k,100k,250k", "dim=128,256,512,1024")
    assert jobs[:2] == [["scale=10k", "dim=128"], ["scale=10k", "dim=256"]]
    keys = [eta.job_key(job, BASE, SCALES) for job in jobs]
    seconds = [_seconds(key) for key in keys]
    ended = [(key, "finished", s) for key, s in zip(keys[:6], seconds[:6], strict=True)]
    true_left = sum(seconds[6:])

    weighted = eta.left_s(ended, keys[6:])
    even = eta.even_spread_s(sum(seconds[:6]), 6, 6)

    assert abs(weighted / true_left - 1) < 0.25
    assert abs(even / true_left - 1) > 0.25  # the old ETA: about a sixth of the time left


# The 48-run grid's job seconds (job_s), in launch order, measured cold on the project's VM
# (2026-12-05, scripts/sweep_overhead.py --grid full --cold-only): 4682 s in all.
FULL_GRID_S = [
    *(
        14.7,
        7.1,
        54.3,
        44.7,
        19.4,
        10.5,
        49.1,
        53.8,
        30.5,
        15.7,
        59.8,
        52.7,
        45.2,
        21.2,
        43.6,
        38.6,
    ),
    *(51.0, 9.3, 171.8, 75.5, 69.8, 13.5, 85.4, 80.6, 108.8, 15.0, 100.4, 88.9, 144.9, 19.0, 78.2),
    *(93.5, 173.3, 12.6, 416.5, 173.7, 213.4, 17.2, 180.0, 156.3, 260.3, 19.0, 180.9, 186.2, 481.6),
    *(33.4, 208.5, 202.6),
]


def test_the_48_run_grid_builds_each_index_and_tokenizes_each_corpus_once():
    jobs = _planned(
        "scale=10k,100k,250k",
        "dim=128,256,512,1024",
        "search=vector,hybrid",
        "filter=none,attribute",
    )
    keys = eta.job_keys(jobs, BASE, SCALES)
    assert [key.builds for key in keys[:5]] == [True, False, False, False, True]
    assert sum(key.builds for key in keys) == 12
    assert [n for n, key in enumerate(keys) if key.tokenizes] == [2, 18, 34]
    ended = [(key, "finished", s) for key, s in zip(keys[:24], FULL_GRID_S[:24], strict=True)]
    true_left = sum(FULL_GRID_S[24:])
    assert abs(eta.left_s(ended, keys[24:]) / true_left - 1) < 0.25
    # Counting a build in every job, as the ETA did in that sweep, said far more.
    every = [dataclasses.replace(key, builds=True, tokenizes=False) for key in keys]
    ended = [(key, "finished", s) for key, s in zip(every[:24], FULL_GRID_S[:24], strict=True)]
    assert eta.left_s(ended, every[24:]) / true_left - 1 > 0.5


def test_a_job_builds_again_when_an_override_may_change_its_index():
    jobs = _planned(
        "hnsw.M=16,32", "hnsw.ef_search=32,64", "search=hybrid", "search.tokenizer=kiwi,ngram"
    )
    keys = eta.job_keys(jobs, BASE, SCALES)
    assert [key.builds for key in keys] == [True, False, False, False, True, False, False, False]
    assert [key.tokenizes for key in keys] == [True, True, False, False, False, False, False, False]
    # An exact engine's scan of every row is paid by every job, not once.
    scan, reuse = (_key(100_000, engine="duckdb_exact"), _key(100_000))
    unbuilt = [dataclasses.replace(key, builds=False) for key in (scan, reuse)]
    assert eta.prior_s(unbuilt[0]) == eta.prior_s(scan)
    assert eta.prior_s(unbuilt[1]) < eta.prior_s(reuse)


def test_a_job_left_takes_what_a_finished_job_with_its_key_took():
    done = _key(100_000, 512)
    ended = [(done, "finished", 80.0), (done, "finished", 100.0)]
    assert eta.left_s(ended, [done, done]) == pytest.approx(180.0)
    # Another key is its prior times the rate the finished jobs ran at.
    other = _key(250_000, 512, "hybrid")
    rate = 90.0 / eta.prior_s(done)
    assert eta.left_s(ended, [other]) == pytest.approx(rate * eta.prior_s(other))


def test_skipped_jobs_do_not_shrink_the_rate():
    small, big = (_key(n, 128) for n in (10_000, 250_000))
    finished = [(small, "finished", 2 * eta.prior_s(small))]
    skipped = [(_key(100_000, d), "skipped", 1.0) for d in (256, 512)]
    failed = [(_key(10_000, 1024), "failed", 0.5)]
    expected = 2 * eta.prior_s(big)
    assert eta.left_s(finished + skipped + failed, [big]) == pytest.approx(expected)
    # Nothing finished yet: the prior's own seconds; a skipped job left counts in full.
    assert eta.left_s(skipped, [big, big]) == pytest.approx(2 * eta.prior_s(big))


def test_jobs_left_are_shared_by_the_workers():
    key = _key(10_000, 128)
    ended = [(key, "finished", 30.0)]
    assert eta.left_s(ended, [key] * 4, workers=2) == pytest.approx(60.0)
    assert [eta.workers(n, cpus=4) for n in (None, 1, 3, -1, -2)] == [1, 1, 3, 4, 3]


def test_the_prior_grows_with_scale_dim_queries_hybrid_and_engine():
    key = _key(100_000)
    assert eta.prior_s(key) > eta.prior_s(_key(10_000))
    assert eta.prior_s(_key(100_000, 512)) > eta.prior_s(key)
    assert eta.prior_s(_key(100_000, queries=10_000)) > eta.prior_s(key)
    assert eta.prior_s(_key(100_000, search="hybrid")) > eta.prior_s(key)
    assert eta.prior_s(_key(100_000, engine="usearch")) < eta.prior_s(key)


def test_job_keys_read_the_overrides_and_the_base_for_the_rest():
    key = eta.job_key(["+grid=fits", "scale=250k", "search=hybrid", "hnsw.M=32"], BASE, SCALES)
    assert key == _key(250_000, search="hybrid")


def _row(number: int, status: str, job_s: float | None = None) -> tuple[str, dict, str]:
    found = {"status": status} if job_s is None else {"status": status, "job_s": job_s}
    return str(number), found, ""


def test_a_sweep_pairs_its_statuses_with_its_planned_jobs():
    jobs = _planned("scale=10k,100k", "dim=128,512")
    rows = [_row(0, "finished", 12.0), _row(1, "skipped", 1.0), _row(2, "running")]
    info = {"started": time.time() - 13, "total": 4, "jobs": jobs}
    keys = [eta.job_key(job, BASE, SCALES) for job in jobs]
    rate = 12.0 / eta.prior_s(keys[0])
    expected = rate * (eta.prior_s(keys[2]) + eta.prior_s(keys[3]))
    assert state.sweep_left_s(rows, info, BASE, SCALES, 1) == pytest.approx(expected)


def test_a_sweep_without_a_planned_list_spreads_its_wall_time_evenly():
    """An Optuna sweep picks its jobs as it goes: no planned jobs to weigh."""
    rows = [_row(0, "finished", 12.0), _row(1, "finished", 30.0)]
    info = {"started": time.time() - 40, "total": 5, "jobs": None}
    assert state.sweep_left_s(rows, info, BASE, SCALES, 1) == pytest.approx(60.0, abs=1.0)


def test_the_line_keeps_its_format():
    done = {"finished": 3, "skipped": 3, "failed": 1}
    line = state.job_line("100k-d512", "finished", 85.0, done, 12, 41 * 60)
    assert line == "[7/12] 100k-d512 finished in 85 s (skipped 3, failed 1), ETA 41 min"
    assert state.job_line("x", "skipped", 0.4, {**done, "skipped": 8}, 12, 0).endswith("last job")
