"""`python -m vssbench.compare`: pairing, verdicts and the command on stores of hand-made runs
(the artifacts a run writes, written here with chosen numbers), then on real tiny sweeps."""

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import QUICK, run_main

from vssbench.compare import sides, verdicts
from vssbench.compare.__main__ import main
from vssbench.compare.evidence import Evidence
from vssbench.compare.pairing import PairingError, StoredRun, pair
from vssbench.measure import intervals
from vssbench.track import store


def _stored(name: str, **config: str) -> StoredRun:
    return StoredRun(name, name, "0", {**sides.DEFAULTS, **config})


def test_pairs_match_on_every_key_but_those_that_differ_between_the_sides():
    baseline = [_stored(f"b{d}", dim=d, **{"hnsw.ef_search": "10"}) for d in ("16", "32", "128")]
    candidate = [_stored(f"c{d}", dim=d, **{"hnsw.ef_search": "256"}) for d in ("16", "32", "64")]
    paired = pair(baseline, candidate)
    assert paired.differing == {"hnsw.ef_search": ("10", "256")}
    assert [(p.label, p.baseline.name, p.candidate.name) for p in paired.pairs] == [
        ("dim=16", "b16", "c16"),
        ("dim=32", "b32", "c32"),
    ]
    assert paired.baseline_only == ["dim=128"] and paired.candidate_only == ["dim=64"]


def test_one_pair_is_named_by_its_run_and_ignored_keys_are_not_paired_on():
    paired = pair(
        [_stored("base", **{"engine.threads": "1"})],
        [_stored("cand", **{"engine.threads": "2", "hnsw.M": "32"})],
        ignore=["hnsw.M"],
    )
    assert [p.label for p in paired.pairs] == ["base"]
    assert paired.differing == {"engine.threads": ("1", "2"), "hnsw.M": ("16", "32")}


def test_sides_that_share_no_configuration_say_which_keys_keep_them_apart():
    with pytest.raises(PairingError, match=r"do not overlap in dim \(16, 32 vs 128, 64\)"):
        pair(
            [_stored("b16", dim="16"), _stored("b32", dim="32")],
            [_stored("c64", dim="64"), _stored("c128", dim="128")],
        )
    with pytest.raises(PairingError, match="match the same configuration"):
        pair([_stored("b1", dim="16"), _stored("b2", dim="32")], [_stored("c")], ignore=["dim"])


def _evidence(qps: list[float], recall: list[float]) -> Evidence:
    timings = {"qps": np.array(qps), "latency_p99_ms": 1000 / np.array(qps)}
    return Evidence(k=10, timings=timings, unit="trials", recall=np.array(recall))


def test_verdicts_use_welch_and_wilcoxon_with_holm_over_the_table():
    recall = np.linspace(0.5, 1.0, 30)
    better = np.minimum(recall + np.where(np.arange(30) % 3 == 0, 0.1, 0.0), 1.0)
    b = _evidence([1000, 1010, 990], list(recall))
    c = _evidence([800, 790, 810], list(better))
    table = verdicts.rows([("one", b, c)])
    assert [(r.measure, r.verdict) for r in table] == [
        ("qps", "slower"),
        ("p99 (ms)", "slower"),
        ("recall@10", "higher recall"),
    ]
    qps = intervals.ratio(b.timings["qps"], c.timings["qps"])
    assert table[0].change == qps and table[0].n == "3+3 trials"
    assert table[0].worse_by == pytest.approx(100 * (1 - qps.value))
    raw = sorted(r.change.p for r in table)
    # Holm: the smallest p times 3, the next times 2 (never below the one before), the last as is.
    assert sorted(r.p_holm for r in table) == pytest.approx(
        [3 * raw[0], max(3 * raw[0], 2 * raw[1]), max(3 * raw[0], 2 * raw[1], raw[2])]
    )
    assert verdicts.regressions(table, 19) == table[:2]
    assert verdicts.regressions(table, 30) == [] and verdicts.regressions(table, None) == []


def _passes(series: str, qps: list[list[float]]) -> pd.DataFrame:
    """A passes table as a run writes it: qps[trial][pass]."""
    rows = [
        {
            "series": series,
            "trial": trial,
            "pass": number,
            "n_queries": 100,
            "elapsed_s": 100 / value,
            "qps": value,
            "latency_p50_ms": 500 / value,
            "latency_p95_ms": 900 / value,
            "latency_p99_ms": 1000 / value,
            "other_cpu_share": 0.0,
            "attempts": 1,
        }
        for trial, values in enumerate(qps)
        for number, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _log(
    tmp: Path,
    experiment: str,
    params: dict[str, str],
    passes: pd.DataFrame | None,
    recall: np.ndarray,
    **tags: str,
) -> str:
    """A finished benchmark run with the params, tags and artifacts of the run contract."""
    mlflow.set_experiment(experiment)
    fingerprint = f"{experiment}-{sorted(params.items())}"
    tags = {"fingerprint": fingerprint, "bench_version": "4", "timing_disturbed": "false", **tags}
    with mlflow.start_run(run_name=f"{experiment}-d{params['dim']}", tags=tags) as run:
        mlflow.log_params({"scale.name": "tiny", "k": "10", "headline_series": "ef_64", **params})
        folder = tmp / run.info.run_id
        (folder / "timings").mkdir(parents=True)
        if passes is not None:
            passes.to_parquet(folder / "timings" / "passes.parquet")
            mlflow.log_artifact(str(folder / "timings" / "passes.parquet"), "timings")
        frame = pd.DataFrame({"qid": np.arange(len(recall)), "recall_at_10": recall})
        frame.to_parquet(folder / "per_query.parquet")
        mlflow.log_artifact(str(folder / "per_query.parquet"))
    return run.info.run_id


@pytest.fixture(scope="module")
def made_store(tmp_path_factory) -> str:
    """base: d16 and d32 at 1000 QPS; cand: d16 at 700 QPS with the same recall, d32 disturbed;
    old: d16 logged before timings were saved."""
    tmp_path = tmp_path_factory.mktemp("made_store")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    recall = np.linspace(0.6, 1.0, 50)
    steady = [[1000, 1004, 998], [990, 995, 1001], [1003, 1010, 1000]]
    for dim in ("16", "32"):
        _log(tmp_path, "base", {"dim": dim}, _passes("ef_64", steady), recall)
    slow = [[700 * v / 1000 for v in trial] for trial in steady]
    _log(tmp_path, "cand", {"dim": "16"}, _passes("ef_64", slow), recall)
    _log(tmp_path, "cand", {"dim": "32"}, _passes("ef_64", steady), recall, timing_disturbed="true")
    _log(tmp_path, "old", {"dim": "16"}, None, recall, bench_version="3")
    return uri


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    return run_main(capsys, main, *args)


def _rows(stdout: str) -> dict[tuple[str, str], str]:
    """The printed table's rows by (pair, measure); columns are apart by two spaces or more, as
    a pair's label or a measure's name may hold one ("p99 (ms)")."""
    rows = {}
    for line in stdout.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) > 2 and parts[1] in ("qps", "p99 (ms)", "batch_qps", "recall@10"):
            rows[(parts[0], parts[1].split()[0])] = line
    return rows


def test_compare_finds_the_slowdown_leaves_disturbed_timings_out_and_gates(
    made_store, tmp_path, capsys
):
    out = tmp_path / "out"
    code, stdout, _ = _compare(
        capsys,
        "base",
        "cand",
        "--tracking-uri",
        made_store,
        "--out",
        str(out),
        "--fail-above",
        "20",
    )
    assert code == 1
    rows = _rows(stdout)
    assert "-30.0% [" in rows[("dim=16", "qps")] and rows[("dim=16", "qps")].endswith("slower")
    assert rows[("dim=16", "p99")].endswith("slower")
    assert rows[("dim=16", "recall@10")].endswith(verdicts.SAME)
    assert rows[("dim=32", "qps")].endswith(
        "not compared: candidate: timing disturbed (its retries ran out)"
    )
    assert rows[("dim=32", "recall@10")].endswith(verdicts.SAME)
    assert "paired on every configuration key but run control" in stdout
    assert "2 significant changes for the worse beyond it: dim=16 qps -30.0%" in stdout
    markdown = (out / "compare.md").read_text()
    assert (
        "| dim=16 | qps | 1000 ±1.1% | 700.1 ±1.1% | -30.0% [-30.7%, -29.3%] | 6.9e-08 |"
        in markdown
    )
    assert "<td>slower</td>" in (out / "compare.html").read_text()
    logged = mlflow.search_runs(experiment_names=["cand"], filter_string="tags.kind = 'compare'")
    assert len(logged) == 1 and logged["metrics.regressions"].iat[0] == 2
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.run_id.iat[0])}
    assert files == {"compare.md", "compare.html"}
    # Within a 50% gate nothing fails; a second comparison does not pair the first's run.
    again = ["base", "cand", "--tracking-uri", made_store, "--out", str(out)]
    assert _compare(capsys, *again, "--fail-above", "50")[0] == 0


def test_old_runs_are_named_and_recall_still_compared(made_store, tmp_path, capsys):
    code, stdout, _ = _compare(
        capsys, "old", "base", "--tracking-uri", made_store, "--out", str(tmp_path / "o")
    )
    assert code == 0
    rows = _rows(stdout)
    assert rows[("dim=16", "qps")].endswith(
        "not compared: baseline: no timings artifact (bench_version 3): re-run"
    )
    assert rows[("dim=16", "recall@10")].endswith(verdicts.SAME)
    assert "only in the candidate, not compared: dim=32" in stdout


def test_a_filter_side_and_a_run_id_side(made_store, tmp_path, capsys):
    run_id = mlflow.search_runs(experiment_names=["base"], filter_string="params.dim = '32'")
    code, stdout, _ = _compare(
        capsys,
        "params.dim = '16'",
        run_id.run_id.iat[0],
        "--tracking-uri",
        made_store,
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, stdout
    assert "dim (16 vs 32: differs between the sides)" in stdout


def test_a_sweep_side_is_its_child_runs(made_store, tmp_path, capsys):
    client = mlflow.MlflowClient()
    experiment_id = mlflow.set_experiment("swept").experiment_id
    tags = {"kind": "sweep", "sweep_jobs": "3"}
    parent = client.create_run(experiment_id, run_name="sweep dim=16,32,64", tags=tags)
    recall = np.linspace(0.6, 1.0, 50)
    steady = [[1000, 1004, 998], [990, 995, 1001], [1003, 1010, 1000]]
    for dim in ("16", "32"):
        child = {"mlflow.parentRunId": parent.info.run_id}
        _log(tmp_path, "swept", {"dim": dim}, _passes("ef_64", steady), recall, **child)
    _log(tmp_path, "swept", {"dim": "64"}, _passes("ef_64", steady), recall)  # not the sweep's
    args = ["base", "sweep dim=16,32,64", "--tracking-uri", made_store, "--out", str(tmp_path)]
    code, stdout, _ = _compare(capsys, *args)
    assert code == 0
    described = f"candidate: sweep 'sweep dim=16,32,64' (run {parent.info.run_id})"
    assert f"{described}, 2 configurations; 2 of the sweep's 3 jobs are its runs" in stdout
    assert {pair for pair, _ in _rows(stdout)} == {"dim=16", "dim=32"}
    assert "only in" not in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "base"], "'nope' is no experiment, sweep, run id or MLflow filter in"),
        (["params.dim = '16", "base"], "bad MLflow filter"),
        (["base", "cand", "--tracking-uri", "sqlite:////nonexistent/x.db"], "no MLflow store at"),
    ],
)
def test_errors_are_one_line_and_exit_2(made_store, capsys, args, message):
    if "--tracking-uri" not in args:
        args = [*args, "--tracking-uri", made_store]
    code, stdout, stderr = _compare(capsys, *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"vssbench.compare: {message}") and stderr.count("\n") == 1


# Three trials (two of them fresh processes on the cached index) of the headline ef alone (no
# curve). Tests run on busy machines: no pass counts as disturbed, so the verdicts are checked
# and not the machine (a disturbed pair's timings are left out: test above).
TRIALS = (
    "scale=tiny",
    "bench.trials=3",
    "hnsw.ef_curve=[]",
    "bench.max_other_cpu_share=1.0",
    "bench.retries=0",
)


def _store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"


# A statistical property, not a guarantee: on a quiet machine 19 of 20 null comparisons held
# (scripts/compare_check.py --null, docs/results.md). In CI, beside the other test worker, one
# side's dim=16 QPS read -53% "slower" (Holm-adjusted p < 0.05) in the run of 2026-12-02, so it
# runs with -m long, on a quiet machine;
# test_a_sweep_side_is_its_child_runs keeps the pairing of sweep sides in CI.
@pytest.mark.long
def test_two_identical_sweeps_show_no_significant_difference(tmp_path, cache_dir, capsys):
    # Side by side, as the tests run on busy machines: a load that comes and goes falls on both
    # sweeps, as interleaved trials make it fall on both sides of `compare --run`. (One after the
    # other, a busy spell during one sweep made its p99 differ "significantly".)
    common = ["-m", "dim=16,32", *TRIALS, "tracking.dir=store", *QUICK, f"cache_dir={cache_dir}"]
    store.prepare(store.StoreLocation("base", str(tmp_path / "store"), None))  # made once
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    sweeps = [
        subprocess.Popen(
            [sys.executable, "-m", "vssbench", *common, f"tracking.experiment={experiment}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for experiment in ("base", "cand")
    ]
    for sweep in sweeps:
        out, err = sweep.communicate(timeout=600)
        # Each experiment measures its own: finished runs are looked up per experiment.
        assert sweep.returncode == 0 and "2 finished" in out, err[-3000:]
    args = ["--tracking-uri", _store_uri(tmp_path), "--out", str(tmp_path / "out")]
    code, stdout, _ = _compare(capsys, "base", "cand", *args, "--fail-above", "5")
    print(stdout)
    assert code == 0
    rows = _rows(stdout)
    assert sorted(rows) == [
        (f"dim={d}", m) for d in ("16", "32") for m in ("batch_qps", "p99", "qps", "recall@10")
    ]
    assert all(row.endswith(verdicts.SAME) for row in rows.values()), stdout
    assert all(" 3+3 trials " in rows[(f"dim={d}", "qps")] for d in ("16", "32"))
    # The candidate named by its sweep's parent run pairs the same runs.
    sweep = mlflow.search_runs(experiment_names=["cand"], filter_string="tags.kind = 'sweep'")
    code, by_sweep, _ = _compare(capsys, "base", sweep.run_id.iat[0], *args)
    assert code == 0 and sorted(_rows(by_sweep)) == sorted(rows)


# test_run_measures_both_sides_interleaved_and_finds_the_slowdown finds the same slowdown and
# trips the same gate in CI; this one compares two stored experiments, which the store-built
# tests here pair and judge without measuring.
@pytest.mark.long
def test_ef_10_against_ef_256_is_slower_and_fails_the_gate(cli, tmp_path, capsys):
    for ef in (10, 256):
        done = cli(
            "dim=256",
            f"hnsw.ef_search={ef}",
            *TRIALS,
            f"tracking.experiment=ef{ef}",
            "tracking.dir=store",
        )
        assert done.returncode == 0, done.stderr[-3000:]
    args = ["--tracking-uri", _store_uri(tmp_path), "--out", str(tmp_path / "out")]
    code, stdout, _ = _compare(capsys, "ef10", "ef256", *args, "--fail-above", "5")
    print(stdout)
    assert code == 1
    assert "hnsw.ef_search (10 vs 256: differs between the sides)" in stdout
    verdict = {measure: row.rsplit("  ", 1)[-1] for (_, measure), row in _rows(stdout).items()}
    assert verdict.pop("recall@10") == "higher recall"
    # Each timing is slower or, where a busy machine spreads the trials wider than ef moves
    # them (p99 is the third slowest of 200 queries), not significantly different; one at least
    # is slower, and that trips the gate.
    assert "slower" in verdict.values() and set(verdict.values()) <= {"slower", verdicts.SAME}
    assert " for the worse beyond it: " in stdout


@pytest.mark.slow
def test_run_measures_both_sides_interleaved_and_finds_the_slowdown(
    tmp_path, cache_dir, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    both = [*TRIALS[:1], *TRIALS[2:], "dim=256", f"cache_dir={cache_dir}", "tracking.dir=store"]
    out = tmp_path / "out"
    code, stdout, _ = _compare(
        capsys,
        "--run",
        "hnsw.ef_search=10",
        "hnsw.ef_search=256",
        *both,
        # 5 trials: beside CI's other worker one trial of 3 read ef 10 at +-228%, and the
        # batch's -86% missed Holm's 0.05 (0.059).
        *("--trials", "5", "--out", str(out), "--fail-above", "5"),
    )
    print(stdout)
    assert code == 1
    assert "5 trials per side, each in a fresh process" in stdout
    rows = _rows(stdout)
    verdict = {measure: row.rsplit("  ", 1)[-1] for (_, measure), row in rows.items()}
    assert verdict.pop("recall@10") == "higher recall"
    assert "slower" in verdict.values() and set(verdict.values()) <= {"slower", verdicts.SAME}
    assert all(" 5+5 trials " in row for (_, m), row in rows.items() if m != "recall@10")
    # Every side's trials are saved with the comparison, and logged with it.
    for side in ("baseline", "candidate"):
        passes = pd.read_parquet(out / f"{side}_passes.parquet")
        assert sorted(passes["trial"].unique()) == [0, 1, 2, 3, 4]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    logged = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string="tags.kind = 'compare'"
    )
    listed = {a.path for a in mlflow.MlflowClient().list_artifacts(logged.run_id.iat[0])}
    assert {"compare.md", "baseline_passes.parquet", "candidate_passes.parquet"} <= listed
