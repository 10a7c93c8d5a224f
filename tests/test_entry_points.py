"""Every command of the README run once as a user runs it, on tiny data: real DuckDB, MLflow and
Hydra in the fast suite (`uv run pytest`); the full suite (`-m "not long"`) tests each further."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from conftest import QUICK

ROOT = Path(__file__).resolve().parents[1]
RUN = "duckdb_vss-tiny-d16-vector-none-cosine-M16-efc128-ef{}"


def _command(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def user(tmp_path_factory, cache_dir) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """A user's dir after one run at 1,000 documents and a two-job sweep over ef at 2,000: the
    dir and each command's outcome."""
    root = tmp_path_factory.mktemp("user")
    base = ("scale=tiny", "dim=16", *QUICK, f"cache_dir={cache_dir}")
    done = {
        "run": _command(root, "-m", "vssbench", *base, "scale.n_docs=1000"),
        "sweep": _command(root, "-m", "vssbench", "-m", *base, "hnsw.ef_search=16,48"),
    }
    return root, done


def _finished(root: Path) -> dict[str, mlflow.entities.Run]:
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("vssbench").experiment_id
    return {r.info.run_name: r for r in client.search_runs([experiment])}


def test_a_run_and_a_sweep_finish_and_are_in_the_store(user):
    root, done = user
    assert done["run"].returncode == 0, done["run"].stderr[-3000:]
    assert done["sweep"].returncode == 0, done["sweep"].stderr[-3000:]
    assert f"finished {RUN.format(64)}" in done["run"].stdout
    assert "[2/2]" in done["sweep"].stdout and "(skipped 0, failed 0)" in done["sweep"].stdout
    runs = _finished(root)
    measured = {RUN.format(ef) for ef in (64, 16, 48)}
    assert measured <= set(runs) and all(runs[n].info.status == "FINISHED" for n in measured)
    assert runs[RUN.format(64)].data.params["scale.n_docs"] == "1000"
    parent = {runs[RUN.format(ef)].data.tags.get("mlflow.parentRunId") for ef in (16, 48)}
    assert len(parent) == 1 and parent != {None}
    for name in measured:
        metrics = runs[name].data.metrics
        assert 0.5 < metrics["recall_at_10"] <= 1 and metrics["qps"] > 0
        assert metrics["qps_ci_low"] <= metrics["qps"] <= metrics["qps_ci_high"]


def test_the_report_holds_every_run(user):
    root, _ = user
    done = _command(root, "-m", "vssbench.report", "--out", "report")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = (root / "report" / "summary.md").read_text()
    assert all(RUN.format(ef) in summary for ef in (64, 16, 48))
    assert (root / "report" / "report.html").stat().st_size > 10_000
    # Every figure, however busy the machine was (its timings are then marked busy).
    figures = {"recall_vs_qps", "latency_percentiles", "heatmaps", "build_and_memory"}
    assert {f"{name}.png" for name in figures} <= {p.name for p in (root / "report").iterdir()}
    assert "## The ef each configuration needs for recall@10" not in summary  # one-point curves
    assert "## Each engine's highest QPS at recall@10 >= 0.95, per scale x dim" in summary


def test_compare_pairs_the_sweeps_two_ef_values(user):
    root, _ = user
    sides = [f"params.`hnsw.ef_search` = '{ef}'" for ef in (16, 48)]
    done = _command(
        root, "-m", "vssbench.compare", *sides, "--ignore", "hnsw.ef_search", "--out", "compare"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {
        line.split(" | ")[1]: line
        for line in (root / "compare" / "compare.md").read_text().splitlines()
        if line.startswith(f"| {RUN.format(16)} |")
    }
    assert set(rows) == {"qps", "p99 (ms)", "batch_qps", "recall@10"}
    # ef 48 finds more of the true neighbours than ef 16 on the same 200 queries.
    assert rows["recall@10"].endswith("| Wilcoxon | 200 queries | higher recall |")


def test_capacity_predicts_from_the_two_sizes(user):
    root, _ = user
    done = _command(root, "-m", "vssbench.capacity", "--dim", "16", "--n", "1m")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1,000,000" in done.stdout and "(point only)" in done.stdout


def test_the_reference_pages_are_current():
    done = _command(ROOT, "-m", "vssbench.reference", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
