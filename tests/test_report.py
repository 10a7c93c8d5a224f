"""The cross-run report on a tiny real sweep: figures, embedded HTML, numbers equal to MLflow's."""

import base64
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from peers import installed, needs

from vssbench.config import identity
from vssbench.config.plan import read_plan
from vssbench.measure import timing
from vssbench.report.__main__ import main
from vssbench.report.figures import ENGINE_COLORS, FIGURES, pareto_front, recall_vs_qps
from vssbench.report.findings import findings, overhead_findings, qps_at_recall_findings
from vssbench.report.load import ReportError, load_curves, load_runs
from vssbench.report.summary import attach_curves, summarize, table
from vssbench.run import runner

CONF = Path(__file__).resolve().parents[1] / "conf"
EF_LIST = "hnsw.ef_search=[10,16,32,64]"
# The engines at tiny x d32; usearch is an optional extra (its tests skip without it).
WITH_USEARCH = installed("usearch")
ENGINES = {"duckdb_vss", "duckdb_exact"} | ({"usearch"} if WITH_USEARCH else set())


class _QuietMachine:
    """Stands in for timing._CpuOfOthers: no other process took any CPU."""

    share = 0.0
    resolution = 0.0

    def __enter__(self) -> "_QuietMachine":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory, cache_dir):
    """A runs_store with vector and hybrid runs, a filtered run, two scales' worth of dims, and at
    tiny x d32 duckdb_vss and usearch over the same ef list beside the exact scan."""
    root = tmp_path_factory.mktemp("report-runs_store")
    with (
        initialize_config_dir(config_dir=str(CONF), version_base="1.3"),
        pytest.MonkeyPatch.context() as patch,
    ):
        # Figures and findings need timings, so no run may be left out as disturbed: a usearch
        # pass over the tiny queries lasts a few ms, and psutil's 10 ms CPU-time ticks read
        # other processes' share there above 1.0 (tagged disturbed at any threshold).
        patch.setattr(timing, "_CpuOfOthers", _QuietMachine)
        for overrides in (
            ["scale=tiny", "dim=16"],
            ["scale=tiny", "dim=32", EF_LIST],
            *([["scale=tiny", "dim=32", "engine=usearch", EF_LIST]] if WITH_USEARCH else []),
            ["scale=tiny", "dim=32", "engine=duckdb_exact"],
            ["scale=tiny", "dim=16", "hnsw.ef_search=8"],
            ["scale=tiny", "dim=16", "search=hybrid", "search.tokenizer=bigram"],
            ["scale=tiny", "dim=32", "search=hybrid", "search.tokenizer=bigram"],
            ["scale=tiny", "dim=16", "filter=region"],
            ["scale=tiny", "dim=16", "filter=attribute", "filter.selectivity=0.05"],
            ["scale=tiny", "dim=16", "filter=attribute", "filter.selectivity=0.5"],
            ["scale=tiny", "dim=16", "scale.n_docs=4000", "scale.name=tiny4k"],
        ):
            cfg = compose(
                "config",
                overrides=[
                    *overrides,
                    f"cache_dir={cache_dir}",
                    f"tracking.dir={root}",
                ],
            )
            runner.run(read_plan(cfg))
    return root


def test_report_has_every_figure_embedded_and_mlflow_numbers(runs_store, tmp_path, monkeypatch):
    monkeypatch.setattr("vssbench.track.store.USER_TRACKING_URI", None)
    out = tmp_path / "report"
    main(["--tracking-uri", f"sqlite:///{runs_store / 'mlflow.db'}", "--out", str(out)])
    page = (out / "report.html").read_text()
    for name in FIGURES:
        png = (out / f"{name}.png").read_bytes()
        assert base64.b64encode(png).decode() in page, name
    markdown = (out / "summary.md").read_text()
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    benchmark = runs[runs["tags.fingerprint"].notna()]
    assert len(benchmark) == 10 + WITH_USEARCH
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


def test_filters_select_runs(runs_store, tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs, _ = load_runs("vssbench", {"search": "hybrid"}, all_versions=False)
    assert set(runs["search"]) == {"hybrid"} and len(runs) == 2
    with pytest.raises(ReportError, match="unknown filter"):
        load_runs("vssbench", {"colour": "red"}, all_versions=False)


def _summary(runs_store: Path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs, _ = load_runs("vssbench", {}, all_versions=False)
    return attach_curves(summarize(runs), runs, load_curves(runs))


def _logged_curves(runs_store: Path, dim: int) -> dict[str, dict[int, tuple[float, float]]]:
    """Per engine, its one vector run at tiny x `dim`: {ef: (recall@10, QPS)} as MLflow logged."""
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs = mlflow.search_runs(
        experiment_names=["vssbench"],
        filter_string=f"params.dim = '{dim}' and params.`search.name` = 'vector'",
    )
    client = mlflow.MlflowClient()
    curves = {}
    for engine, run_id in zip(runs["params.engine.name"], runs["run_id"], strict=True):
        recall = client.get_metric_history(run_id, "ef_curve.recall_at_10")
        qps = {m.step: m.value for m in client.get_metric_history(run_id, "ef_curve.qps")}
        curves[engine] = {m.step: (m.value, qps[m.step]) for m in recall}
    return curves


@needs("usearch")
def test_engine_is_a_column_and_a_filter(runs_store):
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs, _ = load_runs("vssbench", {}, all_versions=False)
    logged = mlflow.search_runs(experiment_names=["vssbench"]).set_index("run_id")
    assert (runs["engine"] == logged.loc[runs["run_id"], "params.engine.name"].to_numpy()).all()
    assert set(runs["engine"]) == ENGINES
    usearch, _ = load_runs("vssbench", {"engine": "usearch"}, all_versions=False)
    assert list(usearch["engine"]) == ["usearch"]
    assert usearch["configuration"].iat[0].startswith("usearch-tiny-d32-")
    shown = table(summarize(runs))
    assert list(shown.columns[:2]) == ["configuration", "engine"]


def test_a_run_without_an_engine_param_is_duckdb_vss(tmp_path):
    """Runs logged before engines existed have no engine param: they measured duckdb_vss."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'old.db'}")
    mlflow.set_experiment("vssbench")
    tags = {"fingerprint": "f", "bench_version": identity.BENCH_VERSION}
    with mlflow.start_run(run_name="tiny-d16-vector-none-cosine-M16-efc128-ef64", tags=tags):
        mlflow.log_params({"scale.name": "tiny", "scale.n_docs": 2000, "dim": 16, "k": 10})
        mlflow.log_metric("recall_at_10", 0.99)
    runs, _ = load_runs("vssbench", {"engine": "duckdb_vss"}, all_versions=False)
    assert list(runs["engine"]) == ["duckdb_vss"]


def test_runs_of_one_configuration_on_two_hosts_stay_apart(tmp_path):
    """Timings from two hosts are not one median: each host's runs get their own row and scale."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'hosts.db'}")
    mlflow.set_experiment("vssbench")
    for host, qps in (("node-a", 1000.0), ("node-a", 1200.0), ("node-b", 300.0)):
        tags = {"fingerprint": "f", "bench_version": identity.BENCH_VERSION, "process.host": host}
        with mlflow.start_run(run_name="duckdb_vss-tiny-d16", tags=tags):
            params = {"scale.name": "tiny", "scale.n_docs": 2000, "dim": 16, "k": 10}
            mlflow.log_params({**params, "search.name": "vector", "filter.name": "none"})
            mlflow.log_params({"filter.strategy": "none", "engine.name": "duckdb_vss"})
            mlflow.log_params({"dataset.name": "synthetic_ko", "dataset.noise": 0.5})
            mlflow.log_metrics({"recall_at_10": 0.99, "qps": qps})
    runs, _ = load_runs("vssbench", {}, all_versions=False)
    summary = summarize(runs).set_index("host")
    assert summary.loc["node-a", "qps"] == 1100.0 and summary.loc["node-a", "runs"] == 2
    assert summary.loc["node-b", "qps"] == 300.0
    assert sorted(summary["scale"]) == ["tiny @node-a", "tiny @node-b"]
    assert list(table(summary.reset_index()).columns[:2]) == ["configuration", "host"]


@needs("usearch")
def test_frontier_figure_has_a_line_per_engine_in_its_colour(runs_store):
    summary = _summary(runs_store)
    fig = recall_vs_qps(summary)
    panels = {ax.get_title(): ax for ax in fig.axes}
    colours = {}  # engine -> colours of its lines, over all panels
    for ax in panels.values():
        for line in ax.lines:
            colours.setdefault(line.get_label().split(":")[0], set()).add(line.get_color())
    assert {line.get_label().split(":")[0] for line in panels["tiny x d32"].lines} == ENGINES
    assert all(colours[e] == {ENGINE_COLORS[e]} for e in ENGINES)  # one colour each, everywhere
    assert len({ENGINE_COLORS[e] for e in ENGINES}) == len(ENGINES)
    exact = [
        line for line in panels["tiny x d32"].lines if line.get_label().startswith("duckdb_exact")
    ]
    assert len(exact[0].get_xdata()) == 1 and exact[0].get_marker() != ""  # one point, a marker
    legend = {text.get_text() for text in fig.legends[0].get_texts()}
    assert {"duckdb_vss", "usearch", "duckdb_exact (exact: one point)"} <= legend


@needs("usearch")
def test_overhead_finding_equals_the_logged_curves(runs_store):
    curves = _logged_curves(runs_store, 32)
    duckdb, usearch = curves["duckdb_vss"], curves["usearch"]
    shared = sorted(set(duckdb) & set(usearch))
    assert shared == [10, 16, 32, 64]
    ratios = [usearch[ef][1] / duckdb[ef][1] for ef in shared]
    extra_ms = 1000 / duckdb[64][1] - 1000 / usearch[64][1]
    expected = (
        f"tiny d32: usearch answers {usearch[64][1] / duckdb[64][1]:.1f}x the queries per second "
        f"of duckdb_vss at ef 64 ({abs(extra_ms):.2f} ms {'more' if extra_ms >= 0 else 'less'} "
        f"per query in DuckDB; ef 10-64: {min(ratios):.1f}-{max(ratios):.1f}x)."
    )
    facts = findings(_summary(runs_store))
    assert [f for f in facts if " answers " in f] == [expected]


@needs("usearch")
def test_qps_at_recall_finding_equals_the_logged_curves(runs_store):
    parts = []  # (QPS or -1, text) per engine
    for engine, curve in _logged_curves(runs_store, 32).items():
        reached = {ef: qps for ef, (recall, qps) in curve.items() if recall >= 0.95}
        if not reached:
            best = max(recall for recall, _ in curve.values())
            parts.append((-1, f"{engine} does not reach 0.95 (best recall@10 {best:.3f})"))
            continue
        ef = max(reached, key=reached.get)
        where = " (exact)" if engine == "duckdb_exact" else f" at ef {ef}"
        parts.append((reached[ef], f"{engine} {reached[ef]:.0f} QPS{where}"))
    assert len(parts) == len(ENGINES)
    expected = "tiny d32, highest QPS at recall@10 >= 0.95: " + "; ".join(
        text for _, text in sorted(parts, reverse=True)
    )
    assert expected + "." in findings(_summary(runs_store))


def _config(engine: str, ef, recall, qps, **columns) -> dict:
    """A summary row as attach_curves makes it, with only what the findings read."""
    row = {"scale": "10k", "dim": 128, "engine": engine, "search": "vector", "filter": "none"}
    row |= {"M": "16", "ef_construction": "128", "metric": "cosine", "k": "10"}
    curve = pd.DataFrame({"ef": ef, "recall": recall, "qps": qps}, dtype=float)
    return row | columns | {"curve": curve}


def test_engine_findings_on_hand_made_curves():
    big = {"scale": "100k"}
    summary = pd.DataFrame(
        [
            _config("duckdb_vss", [16, 64, 128], [0.9, 0.96, 0.99], [2000, 1000, 500]),
            _config("duckdb_vss", [], [], []),  # every run disturbed: no points
            _config("usearch", [10, 16, 64, 128], [0.8, 0.85, 0.9, 0.94], [2e4, 16e3, 1e4, 6e3]),
            _config("usearch", [64], [0.99], [5e4], filter="region"),  # filtered: not compared
            _config("faiss_flat", [64], [1.0], [300]),
            _config("duckdb_vss", [32], [0.97], [400], **big),
            _config("usearch", [32], [0.96], [2000], **big),
            _config("duckdb_vss", [64], [0.99], [500], dim=256),
            _config("usearch", [64], [0.99], [1000], dim=256),
            _config("duckdb_vss", [64], [0.99], [250], dim=256, M="32"),
            _config("usearch", [64], [0.99], [1000], dim=256, M="32"),
        ]
    )
    assert overhead_findings(summary) == [
        "10k d128: usearch answers 10.0x the queries per second of duckdb_vss at ef 64 "
        "(0.90 ms more per query in DuckDB; ef 16-128: 8.0-12.0x).",
        "10k d256 M16 efc128 cosine k10: usearch answers 2.0x the queries per second of "
        "duckdb_vss at ef 64 (1.00 ms more per query in DuckDB).",
        "10k d256 M32 efc128 cosine k10: usearch answers 4.0x the queries per second of "
        "duckdb_vss at ef 64 (3.00 ms more per query in DuckDB).",
        "100k d128: usearch answers 5.0x the queries per second of duckdb_vss at ef 32 "
        "(2.00 ms more per query in DuckDB).",
    ]
    assert qps_at_recall_findings(summary) == [
        "10k d128, highest QPS at recall@10 >= 0.95: duckdb_vss 1000 QPS at ef 64; "
        "faiss_flat 300 QPS (exact); usearch does not reach 0.95 (best recall@10 0.940).",
        "10k d256, highest QPS at recall@10 >= 0.95: usearch 1000 QPS at ef 64; "
        "duckdb_vss 500 QPS at ef 64.",
        "100k d128, highest QPS at recall@10 >= 0.95: usearch 2000 QPS at ef 32; "
        "duckdb_vss 400 QPS at ef 32.",
    ]


def test_empty_experiment_gives_a_clear_message(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("vssbench")
    with pytest.raises(SystemExit, match="has no finished benchmark runs yet"):
        main(["--tracking-uri", uri, "--out", str(tmp_path / "r")])
    with pytest.raises(SystemExit, match="no experiment named 'nope'"):
        main(["--tracking-uri", uri, "--experiment", "nope"])


def test_pareto_front():
    recall = [0.9, 0.95, 0.99, 0.93, 0.99]
    qps = [1000, 800, 300, 500, 200]
    assert list(pareto_front(np.array(recall), np.array(qps))) == [0, 1, 2]


def test_selectivity_figure_draws_the_logged_rows_and_recall(runs_store):
    from vssbench.report.figures import selectivity

    fig = selectivity(_summary(runs_store))
    rows_ax, recall_ax = fig.axes[:2]
    (rows_line,) = [line for line in rows_ax.lines if line.get_label() == "duckdb_vss post"]
    (recall_line,) = [line for line in recall_ax.lines if line.get_label() == "duckdb_vss post"]
    assert list(rows_line.get_xdata()) == [5.0, 50.0]
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string="params.`filter.name` = 'attribute'"
    )
    runs = runs.sort_values("params.filter.selectivity", key=lambda s: s.astype(float))
    assert list(rows_line.get_ydata()) == list(runs["metrics.rows_returned_mean"])
    assert list(recall_line.get_ydata()) == list(runs["metrics.recall_at_10"])
    # Post-filtering keeps about s x 10 of the index's top 10: fewer rows at 5% than at 50%.
    assert rows_line.get_ydata()[0] < rows_line.get_ydata()[1]


def test_report_on_a_store_whose_every_timing_is_disturbed(make_cfg, tmp_path, monkeypatch):
    """Every DuckDB vector and hybrid run disturbed (a busy laptop): every page is written, the
    timing figures say why they are empty, and an earlier report's figure does not stay."""
    monkeypatch.setattr("vssbench.track.store.USER_TRACKING_URI", None)
    client = mlflow.MlflowClient
    for search in ("vector", "hybrid"):
        outcome = runner.run(read_plan(make_cfg("dim=16", f"search={search}", "bench.batch=false")))
        # As the run would have tagged itself had other processes taken the CPU.
        client().set_tag(outcome.run_id, "timing_disturbed", "true")
    out = tmp_path / "report"
    out.mkdir()
    (out / "recall_vs_qps.png").write_bytes(b"an earlier report's figure")
    main(["--tracking-uri", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", "--out", str(out)])
    page = (out / "report.html").read_text()
    assert "disturbed timings are left out" in page
    assert not (out / "recall_vs_qps.png").exists()
    assert (out / "vector_vs_hybrid.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "summary.md").read_text()
    assert "2 runs were timed while other processes took more CPU" in markdown
    assert "latency not compared: a timing was disturbed" in markdown
