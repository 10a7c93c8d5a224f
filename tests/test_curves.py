"""Issue 10: one build, many ef points; batch in one statement; concurrent clients; the timing
harness and the index cache key."""

import dataclasses
import itertools
import os
import subprocess
import sys
import time

import mlflow
import numpy as np
import psutil
import pytest
from documented import undocumented

from vssbench.config.checks import ConfigError, validate
from vssbench.config.plan import hpo_settings, read_plan
from vssbench.data.load import DataSpec, data_key, load_dataset
from vssbench.data.synthetic.corpus import QueryMix
from vssbench.engines.duckdb.vss import DuckDBVss
from vssbench.engines.params import HnswBuild, QuerySettings, ef_points, index_key
from vssbench.engines.seam import Unsupported
from vssbench.measure import timing
from vssbench.report.findings import findings
from vssbench.report.load import load_curves, load_runs
from vssbench.report.summary import attach_curves, summarize, table
from vssbench.report.tables import tables
from vssbench.run import runner, timings
from vssbench.stopwatch import Stopwatch
from vssbench.sweep.objective import objective


def _history(run_id: str, name: str) -> dict[int, float]:
    return {m.step: m.value for m in mlflow.MlflowClient().get_metric_history(run_id, name)}


@pytest.mark.slow
def test_an_ef_list_is_one_build_and_a_curve(make_cfg, tmp_path):
    cache = tmp_path / "cache"
    cfg = make_cfg(
        "dim=24",
        "dataset.noise=0",  # the easy data: this weak build still passes 0.9 at ef 128
        "engine.threads=1",
        "hnsw.M=4",
        "hnsw.ef_construction=8",
        "hnsw.ef_search=[4,10,16,32,128]",
        f"cache_dir={cache}",
    )
    outcome = runner.run(read_plan(cfg))
    assert len(list((cache / "index").glob("*.duckdb"))) == 1  # one build for five points
    recall = _history(outcome.run_id, "ef_curve.recall_at_10")
    qps = _history(outcome.run_id, "ef_curve.qps")
    # 4 searches with 10 (the LIMIT): one point; 64, the headline ef, is measured too.
    assert sorted(recall) == sorted(qps) == [10, 16, 32, 64, 128]
    values = [recall[ef] for ef in sorted(recall)]
    assert values[0] < 0.9 < values[-1]  # each point scored against exact search
    assert all(b >= a for a, b in itertools.pairwise(values)), values
    assert outcome.metrics["recall_at_10"] == recall[64]  # the headline is the default ef
    assert outcome.metrics["effective_ef_search"] == 64
    run = mlflow.get_run(outcome.run_id)
    assert run.info.run_name.endswith("-ef4-128")
    assert "plots/recall_vs_qps.png" in {
        a.path for a in mlflow.MlflowClient().list_artifacts(outcome.run_id, "plots")
    }


def test_ef_points_merge_below_the_limit_and_exact_is_one_point():
    assert ef_points([4, 8, 10, 200], 10) == [10, 64, 200]
    assert ef_points(32, 100) == [100]
    assert ef_points([16, 32], None) == [64]
    assert ef_points(48, 10, (16, 32, 64, 128)) == [16, 32, 48, 64, 128]  # hnsw.ef_curve beside


def test_batch_finds_the_single_query_ids_through_the_index_join(make_cfg):
    outcome = runner.run(read_plan(make_cfg("dim=32")))
    run = mlflow.get_run(outcome.run_id)
    assert run.data.params["batch_plan_uses_hnsw"] == "True"
    assert "LATERAL" in run.data.params["batch_sql"]
    m = outcome.metrics
    assert m["batch_same_ids_share"] == 1.0
    assert m["batch_recall_at_10"] == m["recall_at_10"]
    # In-engine cost per query is below a single query's client latency.
    assert m["batch_qps"] > m["qps"] and 0 < m["client_overhead_share"] < 1


@pytest.mark.slow
def test_batch_with_a_filter_is_refused_not_answered_wrongly(make_cfg, cache_dir):
    outcome = runner.run(
        read_plan(make_cfg("dim=32", "filter=region", "filter.strategy=overfetch"))
    )
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["batch"].startswith("not measured: batch search with a filter")
    assert "batch_qps" not in outcome.metrics

    spec = DataSpec(2000, 200, 32, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), "region")
    data = load_dataset(spec, cache_dir)
    eng = DuckDBVss(1)
    eng.open(data, HnswBuild("cosine", 8, 32, 1), data_key(spec), None, Stopwatch())
    eng.set_query(QuerySettings(64, 10, "post", 10, "region"))
    with (
        pytest.raises(Unsupported, match="drops a WHERE inside the LATERAL"),
        eng.batch(data.query_vectors),
    ):
        pass
    eng.close()


def test_two_clients_log_two_points(make_cfg):
    overrides = ("dim=16", "hnsw.ef_curve=[16]", "bench.clients=[1,2]", "bench.repeats=1")
    outcome = runner.run(read_plan(make_cfg(*overrides)))
    qps = _history(outcome.run_id, "clients.qps")
    p99 = _history(outcome.run_id, "clients.latency_p99_ms")
    assert sorted(qps) == sorted(p99) == [1, 2]
    assert qps[1] == outcome.metrics["qps"] and qps[2] > 0
    logged = mlflow.get_run(outcome.run_id).data.metrics
    assert {"clients.qps", "ef_curve.qps"} <= set(logged) and undocumented(logged) == []


def test_concurrent_clients_answer_every_query_once():
    seen = []

    def step(i: int, client: int) -> int:
        time.sleep(0.0002)  # a query: the GIL is free meanwhile
        seen.append((client, i))
        return i

    steps = [lambda i, c=c: step(i, c) for c in range(3)]
    done = timing.concurrent_pass(steps, 300)
    assert done.results == list(range(300))
    assert sorted(i for _, i in seen) == list(range(300))
    assert len({c for c, _ in seen}) > 1  # the work was shared


def test_cpu_taken_by_another_process_is_measured():
    cores = len(os.sched_getaffinity(0))
    # One busy process per core. Compared with what they are known to have taken, not with a
    # "quiet" pass: beside CI's other test worker no pass is quiet.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    spinners = [psutil.Process(p.pid) for p in busy]
    try:
        time.sleep(0.2)  # started and spinning
        before, start = sum(sum(s.cpu_times()[:2]) for s in spinners), time.perf_counter()
        loud = timing.timed_pass(lambda i: sum(range(20000)), 3000, "loud")
        taken = sum(sum(s.cpu_times()[:2]) for s in spinners) - before
        wall = time.perf_counter() - start
    finally:
        for process in busy:
            process.kill()
    spun = taken / (wall * cores)  # the spinners' share of the machine around the pass
    # They did take the CPU (less where the machine runs other work too, as CI's other worker).
    assert spun > 0.05
    assert loud.other_cpu_share >= 0.8 * spun, (loud.other_cpu_share, spun)


def test_a_new_build_parameter_changes_the_index_key():
    @dataclasses.dataclass(frozen=True)
    class WithShards(HnswBuild):  # a build setting added later
        shards: int = 1

    base = HnswBuild("cosine", 16, 128, 2)
    data, versions = {"n_docs": 2000}, {"duckdb": "1.5.5"}
    assert index_key(data, WithShards("cosine", 16, 128, 2), versions) != index_key(
        data, base, versions
    )
    assert index_key(data, base, versions) == index_key(
        data, HnswBuild("cosine", 16, 128, 2), versions
    )
    assert index_key(data, base, versions) != index_key(
        data, HnswBuild("cosine", 16, 128, 1), versions
    )


def _series(seconds: tuple[float, ...], name: str = "ef_64") -> timing.Timing:
    passes = [timing.TimedPass(list(range(10)), np.full(10, 10**6), s, 0.0, 0.0) for s in seconds]
    return timing.Timing(passes, name)


def test_one_trial_estimates_over_its_passes_and_reports_their_spread():
    passes = timings.passes_frame([[_series((0.02, 0.01, 0.04))]])
    m = timings.headline(passes, "ef_64")
    assert m["qps"] == pytest.approx(500)  # geometric mean of 500, 1000, 250
    assert m["qps_ci_low"] < 250 < 1000 < m["qps_ci_high"]  # t with 2 degrees of freedom
    assert m["qps_median"] == pytest.approx(500)
    assert m["qps_spread"] == pytest.approx((1000 - 250) / 500)
    assert m["timed_passes"] == 3 and m["timing_units"] == 3 and m["trials"] == 1


def test_timed_seconds_cover_every_pass_of_every_series_and_trial():
    """timed_s is what a sweep cannot do without: every timed pass, not the headline's alone."""
    trials = [[_series((0.02, 0.01)), _series((0.5,), "batch")], [_series((0.04,))]]
    m = timings.headline(timings.passes_frame(trials), "ef_64")
    assert m["timed_s"] == pytest.approx(0.02 + 0.01 + 0.5 + 0.04)


def test_several_trials_estimate_over_trials_not_passes():
    trials = [[_series((0.01, 0.01))], [_series((0.02, 0.02))], [_series((0.01, 0.02))]]
    m = timings.headline(timings.passes_frame(trials), "ef_64")
    assert m["timing_units"] == 3 and m["trials"] == 3 and m["timed_passes"] == 6
    per_trial = np.array([1000, 500, np.sqrt(1000 * 500)])
    assert m["qps"] == pytest.approx(np.exp(np.log(per_trial).mean()))
    assert m["qps_ci_low"] < m["qps"] < m["qps_ci_high"]


CONCURRENT_SEARCHES = """
import sys, threading
import numpy as np, pandas as pd
from vssbench.engines.duckdb import sql
clients, threads = int(sys.argv[1]), int(sys.argv[2])
n, dim = 20_000, 32
rng = np.random.default_rng(0)
corpus = pd.DataFrame({"id": np.arange(n, dtype=np.int32), "category": "a", "region": "b",
                       "attribute": 0.5, "published": pd.Timestamp("2024-01-01"),
                       "price": np.arange(n)})
con = sql.connect(threads, 0)
sql.load_documents(con, corpus, rng.standard_normal((n, dim)).astype(np.float32))
sql.build_hnsw(con, "cosine", 16, 64)
queries = rng.standard_normal((2000, dim)).astype(np.float32)
statement = f"SELECT id FROM docs ORDER BY array_cosine_distance(vec, ?::FLOAT[{dim}]) LIMIT 10"
def client(c):
    cursor = con.cursor()
    for i in range(c, len(queries), clients):
        cursor.execute(statement, [queries[i]]).fetchall()
workers = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
[w.start() for w in workers]
[w.join() for w in workers]
print("answered")
"""


@pytest.mark.slow
def test_more_clients_than_the_build_threads_crash_this_vss_build():
    """The trap behind the bench.clients limit: if this stops crashing, lift the limit."""

    def run(clients: int, threads: int, timeout: float) -> int | str:
        try:
            done = subprocess.run(
                [sys.executable, "-c", CONCURRENT_SEARCHES, str(clients), str(threads)],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return "hung"
        return "answered" if done.stdout.strip() == "answered" else done.returncode

    started = time.perf_counter()
    assert run(1, 1, timeout=300) == "answered"
    one_client_s = time.perf_counter() - started
    # A race: most tries crash, not all (one of 8 CI tries here answered), so up to 5 tries.
    # SIGSEGV, glibc's abort on a corrupted heap ("free(): invalid pointer"), or, seen once in CI,
    # a deadlock: two clients never finishing in 6x the time one client takes for all the queries.
    broken = (-11, -6, "hung")
    outcomes = []
    for _ in range(5):
        outcomes.append(run(2, 1, timeout=max(60.0, 6 * one_client_s)))
        if outcomes[-1] in broken:
            break
    assert outcomes[-1] in broken, outcomes


def test_clients_beyond_the_engine_threads_are_refused(make_cfg):
    with pytest.raises(ConfigError, match=r"bench.clients=\[1, 2, 4\]: at most engine.threads"):
        validate(make_cfg("bench.clients=[1,2,4]", "engine.threads=2"))


def test_k_20_reads_the_same_in_logging_console_report_and_objective(make_cfg, tmp_path, caplog):
    cfg = make_cfg(
        "dim=16",
        "k=20",
        "hnsw.ef_search=[16,32]",
        "bench.repeats=1",
        "hpo.objective=recall_qps",
        "bench.max_other_cpu_share=1.0",  # never left out of the report, however busy the machine
    )
    with caplog.at_level("INFO", logger="vssbench.run.runner"):
        outcome = runner.run(read_plan(cfg))
    m = outcome.metrics
    assert "recall_at_20" in m and "recall_at_10" not in m
    assert f"recall@20={m['recall_at_20']:.3f}" in caplog.text
    assert objective(m, 20, hpo_settings(cfg.hpo)) == [m["recall_at_20"], m["qps"]]
    # ef 16 searches with the 20 rows asked.
    assert sorted(_history(outcome.run_id, "ef_curve.recall_at_20")) == [20, 32, 64]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs, _ = load_runs("vssbench", {"k": "20"}, all_versions=False)
    assert runs["recall"].tolist() == [m["recall_at_20"]]
    summary = attach_curves(summarize(runs), runs, load_curves(runs))
    assert len(summary["curve"].iat[0]) == 3
    (needed,) = [frame for heading, frame in tables(summary).items() if "recall@20" in heading][:1]
    assert needed.columns[3] == "ef for recall@20 >= 0.95" and len(needed) == 1


def test_the_report_shows_a_disturbed_run_marked_busy_when_it_is_the_only_one(make_cfg, tmp_path):
    outcome = runner.run(read_plan(make_cfg("dim=16", "hnsw.ef_search=[16,32]", "bench.repeats=1")))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    mlflow.MlflowClient().set_tag(outcome.run_id, "timing_disturbed", "true")
    runs, _ = load_runs("vssbench", {}, all_versions=False)
    assert runs["busy"].tolist() == [True]
    assert runs["qps"].tolist() == [outcome.metrics["qps"]]
    assert runs["latency_p99_ms"].tolist() == [outcome.metrics["latency_p99_ms"]]
    curves = load_curves(runs)
    assert sorted(curves["ef"]) == [16, 32, 64]
    summary = attach_curves(summarize(runs), runs, load_curves(runs))
    # (Its build may be marked too, when the machine was busy while it was built.)
    assert table(summary)["timed"].iat[0].split(", ")[0] == "busy"
    assert findings(summary)[0].startswith(
        "The timings of 1 configuration were measured only while other processes took more CPU"
    )
