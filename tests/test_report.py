"""The cross-run report on a tiny real sweep: figures, embedded HTML, numbers equal to MLflow's."""

import base64
from pathlib import Path

import mlflow
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from vssbench import bench, report
from vssbench.report_figures import FIGURES, pareto_front

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture(scope="module")
def store(tmp_path_factory, cache_dir):
    """A store with vector and hybrid runs, a filtered run and two scales' worth of dims."""
    root = tmp_path_factory.mktemp("report-store")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for overrides in (
            ["scale=tiny", "dim=16"],
            ["scale=tiny", "dim=32"],
            ["scale=tiny", "dim=16", "hnsw.ef_search=8"],
            ["scale=tiny", "dim=16", "search=hybrid", "search.tokenizer=bigram"],
            ["scale=tiny", "dim=32", "search=hybrid", "search.tokenizer=bigram"],
            ["scale=tiny", "dim=16", "filter=region"],
            ["scale=tiny", "dim=16", "scale.n_docs=4000", "scale.name=tiny4k"],
        ):
            cfg = compose(
                "config",
                overrides=[
                    *overrides,
                    f"cache_dir={cache_dir}",
                    f"tracking.dir={root}",
                    # Figures need timings: none of these runs is left out as disturbed.
                    "bench.max_other_cpu_share=1.0",
                ],
            )
            bench.run(cfg)
    return root


def test_report_has_every_figure_embedded_and_mlflow_numbers(store, tmp_path, monkeypatch):
    monkeypatch.setattr("vssbench.tracking.USER_TRACKING_URI", None)
    out = tmp_path / "report"
    report.main(["--tracking-uri", f"sqlite:///{store / 'mlflow.db'}", "--out", str(out)])
    page = (out / "report.html").read_text()
    for name in FIGURES:
        png = (out / f"{name}.png").read_bytes()
        assert base64.b64encode(png).decode() in page, name
    markdown = (out / "summary.md").read_text()
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    benchmark = runs[runs["tags.fingerprint"].notna()]
    assert len(benchmark) == 7
    rows = {
        line.split(" | ")[0].strip("| "): line for line in markdown.splitlines() if "-d" in line
    }
    for _, run in benchmark.iterrows():
        line = rows[run["tags.mlflow.runName"]]
        assert f"{run['metrics.qps']:.4g}" in line and f"{run['metrics.ndcg_at_10']:.4g}" in line
    assert "hybrid search changes nDCG@10 by" in markdown
    reports = runs[runs["tags.kind"] == "report"]
    assert len(reports) == 1
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(reports.run_id.iat[0])}
    assert {"report.html", "summary.md", "recall_vs_qps.png"} <= logged


def test_filters_select_runs(store, tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    runs, _ = report.load_runs("vssbench", {"search": "hybrid"}, all_versions=False)
    assert set(runs["search"]) == {"hybrid"} and len(runs) == 2
    with pytest.raises(report.ReportError, match="unknown filter"):
        report.load_runs("vssbench", {"colour": "red"}, all_versions=False)


def test_empty_experiment_gives_a_clear_message(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("vssbench")
    with pytest.raises(SystemExit, match="has no finished benchmark runs yet"):
        report.main(["--tracking-uri", uri, "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="no experiment named 'nope'"):
        report.main(["--tracking-uri", uri, "--experiment", "nope"])


def test_pareto_front():
    recall = [0.9, 0.95, 0.99, 0.93, 0.99]
    qps = [1000, 800, 300, 500, 200]
    assert list(pareto_front(np.array(recall), np.array(qps))) == [0, 1, 2]
