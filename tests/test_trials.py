"""Trials, intervals and disturbed work redone, on real tiny runs: every timing is taken in a
worker process, as many trials as the precision asks for, every logged timing is recomputed
from the run's timings/ artifacts, a pass disturbed on purpose is timed again, and a build made
under load is tagged on every run that reuses its index."""

import json
import re
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vssbench.config.plan import read_plan
from vssbench.measure import intervals, timing
from vssbench.run import runner, timings

# Says when it spins, so a test under load does not time its pass before the process has started.
BUSY = "import time\nend = time.time() + {s}\nprint('spinning', flush=True)\nwhile time.time() < end: pass"


def _artifact(run_id: str, path: str) -> pd.DataFrame:
    return pd.read_parquet(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path))


def _run(make_cfg, tmp_path, *overrides: str) -> mlflow.entities.Run:
    outcome = runner.run(read_plan(make_cfg(*overrides)))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    return mlflow.get_run(outcome.run_id)


@pytest.mark.slow
def test_three_trials_save_every_pass_and_every_interval_is_recomputed_from_them(
    make_cfg, tmp_path
):
    run = _run(
        make_cfg,
        tmp_path,
        "bench.trials=3",
        "bench.max_trials=3",
        "bench.repeats=2",
        "hnsw.ef_curve=[32]",
        "bench.max_other_cpu_share=1.0",  # the intervals are checked, not the machine
    )
    m, k, n = run.data.metrics, 10, int(run.data.metrics["n_queries"])
    passes = _artifact(run.info.run_id, "timings/passes.parquet")
    queries = _artifact(run.info.run_id, "timings/queries.parquet")
    assert set(passes["series"]) == {"ef_32", "ef_64", "batch"}
    assert passes.groupby(["series", "trial"]).size().eq(2).all()
    assert sorted(passes["trial"].unique()) == [0, 1, 2]
    # Every pass in a worker of its own trial: none in the run's process, one process a trial.
    assert int(run.data.tags["process.pid"]) not in set(passes["pid"])
    assert passes.groupby("trial")["pid"].nunique().eq(1).all() and passes["pid"].nunique() == 3
    assert len(queries) == len(passes) * n
    assert queries[queries["series"] != "batch"]["latency_ns"].gt(0).all()
    assert queries["ids"].map(len).eq(k).all()
    # Every trial found the same documents: the trials time one index.
    head = queries[queries["series"] == "ef_64"]
    first = head[(head["trial"] == 0) & (head["pass"] == 0)]["ids"].map(tuple).tolist()
    for _, other in head.groupby(["trial", "pass"]):
        assert other["ids"].map(tuple).tolist() == first

    assert run.data.params["interval_over"] == "trials" and m["trials"] == 3
    assert _by_the_definitions(passes, queries, "ef_64") == pytest.approx(
        {name: m[name] for name in _by_the_definitions(passes, queries, "ef_64")}
    )
    recomputed = timings.headline(passes, run.data.params["headline_series"])
    for name in ("qps", "latency_p50_ms", "latency_p99_ms"):
        low, high = m[f"{name}_ci_low"], m[f"{name}_ci_high"]
        assert low <= m[name] <= high
        assert (m[name], low, high) == pytest.approx(
            (recomputed[name], recomputed[f"{name}_ci_low"], recomputed[f"{name}_ci_high"])
        )
    # From the pass rows alone: the geometric mean over trials of each trial's passes.
    rows = passes[passes["series"] == "ef_64"]
    per_trial = np.exp(np.log(rows["qps"]).groupby(rows["trial"]).mean())
    assert m["qps"] == pytest.approx(np.exp(np.log(per_trial).mean()))
    assert m["batch_qps"] == pytest.approx(timings.prefixed(passes, "batch", "batch_")["batch_qps"])
    recall = intervals.mean(_artifact(run.info.run_id, "per_query.parquet")[f"recall_at_{k}"])
    assert (m["recall_at_10_ci_low"], m["recall_at_10_ci_high"]) == pytest.approx(
        (recall.low, recall.high)
    )
    assert m["trial_fixed_s"] > 0


def _by_the_definitions(passes: pd.DataFrame, queries: pd.DataFrame, head: str) -> dict:
    """Every timing metric of a run recomputed from its timings/ tables by the words of its
    definition (measure/definitions.py), with numpy and scipy alone, not run/timings.py."""
    out: dict[str, float] = {}

    def over_trials(name: str, per_pass: pd.Series, trials: pd.Series) -> None:
        # Per trial the geometric mean of its passes; the estimate their geometric mean, with a
        # Student t interval on their logs.
        logs = np.log(per_pass).groupby(trials).mean().to_numpy()
        half = stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
        out[name] = np.exp(logs.mean())
        if name != "latency_mean_ms":  # logged without its interval
            out[f"{name}_ci_low"] = np.exp(logs.mean() - half)
            out[f"{name}_ci_high"] = np.exp(logs.mean() + half)

    timed = queries[queries["series"] == head]
    per = timed.groupby(["trial", "pass"])["latency_ns"]
    ms = per.apply(lambda lat: lat.to_numpy(float) / 1e6)
    trials = ms.index.get_level_values("trial").to_series(index=ms.index)
    qps = per.apply(lambda lat: len(lat) / (lat.sum() / 1e9))
    over_trials("qps", qps, trials)
    for pct in (50, 95, 99):
        over_trials(f"latency_p{pct}_ms", ms.map(lambda v, pct=pct: np.percentile(v, pct)), trials)
    over_trials("latency_mean_ms", ms.map(np.mean), trials)
    out["latency_max_ms"] = max(v.max() for v in ms)
    out["qps_median"] = qps.median()
    out["qps_spread"] = (qps.max() - qps.min()) / qps.median()
    out["qps_ci_halfwidth"] = out["qps_ci_high"] / out["qps"] - 1
    out["timed_passes"] = len(qps)
    out["trials"] = out["timing_units"] = trials.nunique()
    out["timed_s"] = passes["elapsed_s"].sum()
    batch = passes[passes["series"] == "batch"]
    over_trials("batch_qps", batch["n_queries"] / batch["elapsed_s"], batch["trial"])
    return out


@pytest.mark.slow
def test_a_pass_disturbed_by_a_busy_process_is_timed_again():
    busy = subprocess.Popen([sys.executable, "-c", BUSY.format(s=1.5)], stdout=subprocess.PIPE)
    assert busy.stdout.readline() == b"spinning\n"
    try:
        timed = timing.repeated(
            # One core's Python work: the busy process has the other core to itself.
            lambda: timing.timed_pass(lambda i: sum(range(20_000)), 500, "busy"),
            lambda: None,
            1,
            timing.Guard(max_share=0.2, retries=3, pause_s=1.5),
        )
    finally:
        busy.kill()
    kept = timed.passes[0]
    assert kept.attempts >= 2  # the first attempt saw the busy process and was redone
    if kept.attempts <= 3:  # not the last retry: it was kept because it was undisturbed
        assert kept.other_cpu_share <= 0.2


def test_a_child_this_process_waits_for_is_its_own_cpu_not_another_processes():
    """A build's memory probe is a fresh process: its CPU must not make the build disturbed."""
    # The child spins until it has had 0.6 s of CPU, however long a busy machine makes that.
    spin = "import time\nwhile time.process_time() < 0.6: pass"
    with timing.CpuOfOthers() as others:
        subprocess.run([sys.executable, "-c", spin], check=True)
    # the child's spin, counted as this process's (less one 10 ms clock tick of rounding)
    assert others.own_s >= 0.59


@pytest.mark.slow
def test_a_build_made_under_load_is_tagged_on_every_run_that_reuses_it(make_cfg, tmp_path):
    own_cache = f"cache_dir={tmp_path / 'cache'}"  # an index no other test has built
    cheap = ("hnsw.ef_curve=[]", "bench.batch=false", "bench.repeats=1", "bench.retries=0")
    cheap = (own_cache, *cheap)
    busy = subprocess.Popen([sys.executable, "-c", BUSY.format(s=600)], stdout=subprocess.DEVNULL)
    try:
        built = _run(make_cfg, tmp_path, *cheap)
    finally:
        busy.kill()
        busy.wait()
    assert built.data.params["index"] == "built"
    assert built.data.tags["build_disturbed"] == "true"
    share = built.data.metrics["index_build_other_cpu_share"]
    assert share > 0.1

    reused = _run(make_cfg, tmp_path, *cheap, "force=true")
    assert reused.data.params["index"] == "reused"
    assert reused.data.tags["build_disturbed"] == "true"
    assert reused.data.metrics["index_build_other_cpu_share"] == pytest.approx(share)

    index = next((tmp_path / "cache").rglob("index/*.duckdb"))
    before = (index.stat().st_mtime_ns, index.with_name(index.name + ".crc32").read_text())
    retimed = _run(make_cfg, tmp_path, *cheap, "retime_build=true")
    assert retimed.data.params["index"] == "reused"
    again = retimed.data.metrics["index_build_other_cpu_share"]
    assert again != share  # a new measurement of the build (the busy process is gone)
    assert retimed.data.tags["build_disturbed"] == str(again > 0.1).lower()
    assert (index.stat().st_mtime_ns, index.with_name(index.name + ".crc32").read_text()) == before
    facts = json.loads(index.with_name(index.name + ".build.json").read_text())
    assert facts["index_build_s"] == pytest.approx(retimed.data.metrics["index_build_s"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("precision", "trials", "reached"),
    [
        # Any interval of two trials is within +-1e6% (their QPS differ by far less than
        # 10,000x): the run stops at its minimum, 2 trials.
        ("10000", 2, "true"),
        # None is within +-0.001% (passes of real queries differ by more): it stops at the bound.
        ("0.00001", 3, "false"),
    ],
)
def test_trials_are_added_until_the_precision_or_the_bound(
    make_cfg, tmp_path, caplog, precision, trials, reached
):
    caplog.set_level("INFO", logger="vssbench")
    run = _run(
        make_cfg,
        tmp_path,
        "bench.trials=2",
        "bench.max_trials=3",
        f"bench.precision={precision}",
        "bench.batch=false",
    )
    m = run.data.metrics
    assert m["trials"] == trials and run.data.tags["precision_reached"] == reached
    assert (m["qps_ci_halfwidth"] <= float(precision)) == (reached == "true")
    assert m["qps_ci_halfwidth"] == pytest.approx(m["qps_ci_high"] / m["qps"] - 1)
    finished = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("finished"))
    assert ("precision not reached" in finished) == (reached == "false")


@pytest.mark.slow
def test_the_ef_line_and_the_finished_line_show_the_logged_qps(cli, tmp_path):
    """One number, one name: the console's ef 64 line and qps= are MLflow's qps, with its interval
    and trial count."""
    done = cli("scale=tiny", "bench.batch=false")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    ef_line = re.search(r"ef 64: recall@10 [0-9.]+, (\d+) QPS \[(\d+)-(\d+)\], (\d+) trials", out)
    finished = re.search(r"qps=(\d+) \[(\d+)-(\d+)\] (\d+) trials", out)
    assert ef_line and finished, out
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["vssbench"]).iloc[0]
    logged = tuple(
        round(run[f"metrics.{name}"]) for name in ("qps", "qps_ci_low", "qps_ci_high", "trials")
    )
    assert tuple(map(int, ef_line.groups())) == logged
    assert tuple(map(int, finished.groups())) == logged
