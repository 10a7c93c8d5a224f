"""The cross-run report on a tiny real sweep: figures, embedded HTML, numbers equal to MLflow's;
and on stores written as the runs write them (intervals, disturbed timings and builds)."""

import base64
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from matplotlib.collections import LineCollection
from mlflow.entities import Metric, Param, RunTag
from peers import installed, needs

from vssbench.config import identity
from vssbench.config.plan import read_plan
from vssbench.measure.definitions import METRICS, QPS, RECALL, curve_name
from vssbench.report.__main__ import main
from vssbench.report.figures import ENGINE_COLORS, FIGURES, pareto_front, recall_vs_qps
from vssbench.report.findings import findings, overhead_findings
from vssbench.report.frontier import BUSY
from vssbench.report.load import ReportError, load_curves, load_runs
from vssbench.report.style import tick_label
from vssbench.report.summary import attach_curves, number, summarize, table
from vssbench.report.tables import engines_at_recall, recall_targets
from vssbench.run import runner

CONF = Path(__file__).resolve().parents[1] / "conf"
EF_LIST = "hnsw.ef_search=[10,16,32,64]"
# The engines at tiny x d32; usearch is an optional extra (its tests skip without it).
WITH_USEARCH = installed("usearch")
ENGINES = {"duckdb_vss", "duckdb_exact"} | ({"usearch"} if WITH_USEARCH else set())


def log_run(
    client: mlflow.MlflowClient,
    experiment_id: str,
    qps: float,
    recall: float = 0.97,
    spread: float | None = 0.05,
    curve: dict[int, tuple[float, float]] | None = None,
    tags: dict[str, str] | None = None,
    **config: object,
) -> str:
    """One finished benchmark run written as a run logs it: its configuration as params, the
    headline metrics, each interval metric with its ends at +-`spread` (none when `spread` is
    None: a run from before intervals), and the ef curve {ef: (recall, qps)} with its ends;
    `config` overrides the configuration, `tags` the tags (timing_disturbed, build_disturbed).
    Returns the run's name."""
    cfg = {"scale": "tiny", "n_docs": 2000, "dim": 16, "engine": "duckdb_vss", "search": "vector"}
    cfg |= {"filter": "none", "M": 16, "efc": 128, "ef": 64, "build_s": 1.0, "index_mb": 8.0}
    cfg |= config
    name = "{engine}-{scale}-d{dim}-{search}-{filter}-cosine-M{M}-efc{efc}-ef{ef}".format(**cfg)
    params = {"scale.name": cfg["scale"], "scale.n_docs": cfg["n_docs"], "dim": cfg["dim"], "k": 10}
    params |= {"engine.name": cfg["engine"], "search.name": cfg["search"], "hnsw.metric": "cosine"}
    params |= {"filter.name": cfg["filter"], "filter.strategy": "post", "hnsw.M": cfg["M"]}
    params |= {"hnsw.ef_construction": cfg["efc"], "hnsw.ef_search": cfg["ef"]}
    params |= {"dataset.name": "synthetic_ko", "dataset.noise": 0.5}
    values = {"recall_at_10": recall, "qps": qps, "latency_p50_ms": 800 / qps, "ndcg_at_10": 0.5}
    values |= {"latency_p99_ms": 2000 / qps, "index_build_s": cfg["build_s"], "mrr_at_10": 0.5}
    values |= {"index_memory_mb": cfg["index_mb"]}
    steps = {}
    for ef, (point_recall, point_qps) in (curve or {}).items():
        steps[(curve_name(RECALL, 10), ef)] = point_recall
        steps[(curve_name(QPS, 10), ef)] = point_qps
    if spread is not None:
        for d in (d for d in METRICS if d.interval and d.name(10) in values):
            low, high = d.bounds(10)
            values |= {
                low: values[d.name(10)] * (1 - spread),
                high: values[d.name(10)] * (1 + spread),
            }
        for (metric, ef), value in list(steps.items()):
            steps[(f"{metric}_ci_low", ef)] = value * (1 - spread)
            steps[(f"{metric}_ci_high", ef)] = value * (1 + spread)
    now = int(time.time() * 1000)
    run_tags = {"fingerprint": name, "bench_version": identity.BENCH_VERSION} | (tags or {})
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(m, v, now, 0) for m, v in values.items()]
        + [Metric(m, v, now, ef) for (m, ef), v in steps.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in run_tags.items()],
    )
    client.set_terminated(run_id, "FINISHED")
    return name


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory, cache_dir):
    """A runs_store with vector and hybrid runs, a filtered run, two scales' worth of dims, and at
    tiny x d32 duckdb_vss and usearch over the same ef list beside the exact scan."""
    root = tmp_path_factory.mktemp("report-runs_store")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
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
                    # As conftest's make_cfg: only the ef points a run asks for (EF_LIST).
                    "hnsw.ef_curve=[]",
                    # Figures and findings need timings, so no run may be left out as disturbed
                    # by the other test worker's load: only a share of the whole machine
                    # (which no other process can pass) disturbs a run or a build here.
                    "bench.max_other_cpu_share=1.0",
                    "bench.trials=2",
                    "bench.max_trials=2",
                ],
            )
            runner.run(read_plan(cfg))
    return root


@pytest.mark.slow
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
        assert number(run["metrics.qps"]) in line and number(run["metrics.ndcg_at_10"]) in line
    assert "hybrid search changes nDCG@10 by" in markdown
    reports = runs[runs["tags.kind"] == "report"]
    assert len(reports) == 1
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(reports.run_id.iat[0])}
    assert {"report.html", "summary.md", "recall_vs_qps.png"} <= logged


@pytest.mark.slow
def test_tick_labels_read_as_a_reader_writes_sizes():
    labels = [tick_label(v) for v in (0.5, 20, 1500, 10_000, 250_000, 1_000_000, 2_500_000)]
    assert labels == ["0.5", "20", "1500", "10k", "250k", "1M", "2.5M"]


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


def _logged_curves(runs_store: Path, dim: int) -> dict[str, dict[int, tuple]]:
    """Per engine, its one vector run at tiny x `dim`: {ef: (recall@10, QPS, QPS interval's low,
    high)} as MLflow logged them (NaN ends where none was logged)."""
    mlflow.set_tracking_uri(f"sqlite:///{runs_store / 'mlflow.db'}")
    runs = mlflow.search_runs(
        experiment_names=["vssbench"],
        filter_string=f"params.dim = '{dim}' and params.`search.name` = 'vector'",
    )
    client = mlflow.MlflowClient()

    def history(run_id: str, name: str) -> dict[int, float]:
        return {m.step: m.value for m in client.get_metric_history(run_id, name)}

    curves = {}
    for engine, run_id in zip(runs["params.engine.name"], runs["run_id"], strict=True):
        recall, qps = history(run_id, "ef_curve.recall_at_10"), history(run_id, "ef_curve.qps")
        low, high = history(run_id, "ef_curve.qps_ci_low"), history(run_id, "ef_curve.qps_ci_high")
        curves[engine] = {
            ef: (recall[ef], qps[ef], low.get(ef, np.nan), high.get(ef, np.nan)) for ef in recall
        }
    return curves


def _interval(point: tuple) -> str:
    """A logged point's QPS interval as the findings write it, empty when none was logged."""
    return "" if np.isnan(point[2]) else f"{point[2]:.0f}-{point[3]:.0f}"


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
@needs("usearch")
def test_overhead_finding_equals_the_logged_curves(runs_store):
    curves = _logged_curves(runs_store, 32)
    duckdb, usearch = curves["duckdb_vss"], curves["usearch"]
    shared = sorted(set(duckdb) & set(usearch))
    assert {10, 16, 32, 64} <= set(shared)
    ratios = [usearch[ef][1] / duckdb[ef][1] for ef in shared]
    u64, d64 = usearch[64], duckdb[64]
    intervals = f"95% intervals {_interval(u64)} and {_interval(d64)} QPS" if _interval(d64) else ""
    ef_range = f"ef {min(shared)}-{max(shared)}: {min(ratios):.1f}-{max(ratios):.1f}x"
    # usearch is several times faster at tiny, but a busy machine (CI's other test worker) can
    # widen the intervals until they meet; then no ratio may be claimed.
    if _interval(d64) and u64[2] <= d64[3] and d64[2] <= u64[3]:
        expected = (
            f"tiny d32: at ef 64, usearch ({u64[1]:.0f} QPS) and duckdb_vss ({d64[1]:.0f} QPS) "
            f"do not differ beyond their 95% intervals ({intervals}; {ef_range})."
        )
        marker = " do not differ "
    else:
        extra_ms = 1000 / d64[1] - 1000 / u64[1]
        more = "more" if extra_ms >= 0 else "less"
        details = "; ".join(
            [f"{abs(extra_ms):.2f} ms {more} per query in DuckDB", *[intervals] * bool(intervals)]
        )
        expected = (
            f"tiny d32: usearch answers {u64[1] / d64[1]:.1f}x the queries per second "
            f"of duckdb_vss at ef 64 ({details}; {ef_range})."
        )
        marker = " answers "
    facts = findings(_summary(runs_store))
    assert [f for f in facts if marker in f and "usearch" in f] == [expected]


@pytest.mark.slow
@needs("usearch")
def test_engines_table_equals_the_logged_curves(runs_store):
    """Per engine at tiny x d32: the fastest logged point that reaches recall 0.95, its QPS with
    the logged interval, and whether its interval reaches the fastest engine's."""
    expected = {}
    for engine, curve in _logged_curves(runs_store, 32).items():
        reached = {ef: point for ef, point in curve.items() if point[0] >= 0.95}
        best = f"{max(point[0] for point in curve.values()):.3f}"
        if not reached:
            expected[engine] = ("not reached", "", best, np.nan, (np.nan, np.nan))
            continue
        ef = max(reached, key=lambda e: reached[e][1])
        _, qps, low, high = reached[ef]
        where = "exact" if engine == "duckdb_exact" else str(ef)
        cell = number(qps) + (f" [{_interval(reached[ef])}]" if _interval(reached[ef]) else "")
        expected[engine] = (where, cell, best, qps, (low, high))
    fastest = max(expected, key=lambda e: np.nan_to_num(expected[e][3], nan=-1))
    frame = engines_at_recall(_summary(runs_store))
    rows = frame[frame["dim"] == 32].set_index("engine")
    assert set(rows.index) == ENGINES
    for engine, (where, cell, best, qps, (low, high)) in expected.items():
        row = rows.loc[engine]
        assert (row.iloc[2], row["QPS [95%]"], row.iloc[5]) == (where, cell, best), engine
        if engine == fastest:
            assert row["against the fastest"] == "fastest"
        elif np.isfinite(qps):
            top_low = expected[fastest][4][0]
            tied = np.isfinite(low) and high >= top_low
            assert row["against the fastest"] == (
                "not slower beyond the intervals" if tied else "slower"
            ), engine


def _config(engine: str, ef, recall, qps, interval=None, **columns) -> dict:
    """A summary row as attach_curves makes it, with only what the findings read; `interval`
    gives each point's QPS interval as (lows, highs)."""
    row = {"scale": "10k", "dim": 128, "engine": engine, "search": "vector", "filter": "none"}
    row |= {"M": "16", "ef_construction": "128", "metric": "cosine", "k": "10"}
    row |= {"busy": False, "build_busy": False, "configuration": f"{engine}-{len(ef)}"}
    curve = pd.DataFrame({"ef": ef, "recall": recall, "qps": qps}, dtype=float)
    if interval is not None:
        curve["qps_ci_low"], curve["qps_ci_high"] = interval
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
            # Intervals that overlap: no ratio is claimed, and no engine beats the other.
            _config("duckdb_vss", [64], [0.99], [1000], ([950], [1050]), scale="250k"),
            _config("usearch", [64], [0.99], [1020], ([960], [1080]), scale="250k"),
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
        "250k d128: at ef 64, usearch (1020 QPS) and duckdb_vss (1000 QPS) do not differ beyond "
        "their 95% intervals (95% intervals 960-1080 and 950-1050 QPS).",
    ]
    rows = engines_at_recall(summary).drop(columns="timed").to_numpy().tolist()
    tied = "not slower beyond the intervals"
    assert rows == [
        ["10k", 128, "duckdb_vss", "64", "1000", "fastest", "0.990"],
        ["10k", 128, "faiss_flat", "exact", "300", "slower", "1.000"],
        ["10k", 128, "usearch", "not reached", "", "", "0.940"],
        ["10k", 256, "usearch", "64", "1000", "fastest", "0.990"],
        ["10k", 256, "duckdb_vss", "64", "500", "slower", "0.990"],
        ["100k", 128, "usearch", "32", "2000", "fastest", "0.960"],
        ["100k", 128, "duckdb_vss", "32", "400", "slower", "0.970"],
        ["250k", 128, "usearch", "64", "1020 [960-1080]", "fastest", "0.990"],
        ["250k", 128, "duckdb_vss", "64", "1000 [950-1050]", tied, "0.990"],
    ]
    # The ef each configuration needs: only curves of two points or more.
    needed = recall_targets(summary).set_index("configuration")
    assert list(needed.index) == ["duckdb_vss-3", "usearch-4"]
    assert needed.loc["duckdb_vss-3"].tolist() == [
        *("10k", 128, "64", "1000", "128", "500", "0.990 at ef 128", "")
    ]
    assert needed.loc["usearch-4"].tolist() == [
        *("10k", 128, "not reached", "", "not reached", "", "0.940 at ef 128", "")
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_report_on_a_store_whose_every_timing_is_disturbed(make_cfg, tmp_path, monkeypatch):
    """Every DuckDB vector and hybrid run disturbed (a busy laptop): every page and figure is
    written, with the timings shown and marked busy; an earlier report's figure does not stay."""
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
    for name in ("recall_vs_qps", "latency_percentiles", "vector_vs_hybrid", "heatmaps"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    markdown = (out / "summary.md").read_text()
    assert "The timings of 2 configurations were measured only while other processes" in markdown
    assert "(busy: timed while other processes took the CPU)." in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| duckdb_vss-tiny-d16")]
    # (Their builds may be marked too: "busy, busy build".)
    assert len(rows) == 2 and all("| 1 | 1 | busy" in row for row in rows)


# A store written as the runs write it: per scale, configurations whose QPS intervals overlap
# or separate, disturbed timings and a disturbed build, and at 250k runs from before intervals.
A = dict(scale="10k", n_docs=10_000, dim=128, qps=1000.0, recall=0.97, build_s=2.0)
STORE = {
    "A": A,  # the fastest at 10k
    "B": A | dict(M=32, qps=980.0, recall=0.98, build_s=3.0),  # its interval overlaps A's
    "C": A | dict(M=8, qps=500.0, recall=0.96, build_s=1.0),  # slower beyond the intervals
    # A's configuration timed again on a busy machine: left out, as A is undisturbed.
    "A busy": A | dict(qps=400.0, tags={"timing_disturbed": "true"}),
    # D's and usearch's only runs were disturbed: shown, marked busy.
    "D": A | dict(dim=256, qps=2000.0, tags={"timing_disturbed": "true"}),
    "usearch": A | dict(engine="usearch", qps=9000.0, tags={"timing_disturbed": "true"}),
    "E": dict(scale="100k", n_docs=100_000, dim=128, qps=800.0, spread=0.01, build_s=20.0),
    "F": dict(scale="100k", n_docs=100_000, dim=128, M=32, qps=700.0, spread=0.01, build_s=30.0),
    # A build timed only while the machine was busy: 25x the 100k build, shown, marked busy.
    "G": dict(scale="250k", n_docs=250_000, dim=128, qps=300.0, spread=None, build_s=500.0)
    | dict(tags={"build_disturbed": "true"}),
    "H": dict(scale="250k", n_docs=250_000, dim=128, M=32, qps=290.0, spread=None, build_s=75.0),
    # H's configuration built again on a busy machine: left out, as H's build is undisturbed.
    "H busy": dict(scale="250k", n_docs=250_000, dim=128, M=32, qps=290.0, spread=None)
    | dict(build_s=900.0, tags={"build_disturbed": "true"}),
}


@pytest.fixture(scope="module")
def interval_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The STORE's runs in a fresh MLflow store, each with an ef curve ending at its headline;
    returns the store's dir and the runs' names by key."""
    root = tmp_path_factory.mktemp("interval-store")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("vssbench")
    names = {}
    for key, run in STORE.items():
        qps, recall = run["qps"], run.get("recall", 0.97)
        curve = {32: (recall - 0.04, qps * 1.6), 64: (recall, qps)}
        names[key] = log_run(client, experiment, curve=curve, **run)
    return root, names


def _store_summary(root: Path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs, _ = load_runs("vssbench", {}, all_versions=False)
    return attach_curves(summarize(runs), runs, load_curves(runs))


def test_fastest_names_every_configuration_whose_interval_overlaps_the_best(interval_store):
    root, names = interval_store
    facts = findings(_store_summary(root))
    (at_10k,) = [f for f in facts if f.startswith("At 10k,")]
    assert f"{names['A']}: 1000 QPS (95% 950-1050)" in at_10k
    assert f"{names['B']}: 980 QPS (95% 931-1029)" in at_10k
    assert names["C"] not in at_10k.split(";")[1] and "1 other is slower" in at_10k
    # D and usearch would be the fastest, but were timed only on a busy machine: named, not
    # compared with the undisturbed.
    busy = f"(2 timed only on a busy machine not compared: {names['usearch']}, {names['D']})."
    assert at_10k.endswith(busy)
    (at_100k,) = [f for f in facts if f.startswith("At 100k,")]
    assert at_100k.startswith(
        f"At 100k, the fastest vector configuration with recall@10 >= 0.95 is {names['E']}: 800 QPS"
    )
    assert names["F"] not in at_100k and "1 other is slower" in at_100k
    # Runs from before intervals: compared as points, and said once.
    (at_250k,) = [f for f in facts if f.startswith("At 250k,")]
    assert names["G"] in at_250k and names["H"] not in at_250k
    assert "2 of 9 timed configurations have no 95% interval" in " ".join(facts)


def test_a_disturbed_build_is_left_out_beside_an_undisturbed_one_and_else_marked(interval_store):
    root, names = interval_store
    facts = " ".join(findings(_store_summary(root)))
    assert "The build times of 1 run were measured while other processes" in facts
    assert (
        "The build times of 1 configuration were measured only while other processes took more "
        "CPU than bench.max_other_cpu_share (a busy machine): shown, marked busy, and likely "
        f"slower than on a quiet machine; run them again on a quiet one to compare them: "
        f"{names['G']}."
    ) in facts
    # G's build (500 s), the only one of its configuration: shown, counted.
    assert (
        "duckdb_vss at d128 M16 efc128 cosine: index build time grows 250.0x from 10,000 to "
        "250,000 documents (2.0 s -> 500.0 s; 1 busy build shown)."
    ) in facts
    # H's second build (900 s) is left out beside H's undisturbed 75 s.
    assert (
        "duckdb_vss at d128 M32 efc128 cosine: index build time grows 25.0x from 10,000 to "
        "250,000 documents (3.0 s -> 75.0 s; 1 run with a disturbed build left out)."
    ) in facts


def test_frontier_draws_a_panel_per_pair_with_timed_points_and_their_intervals(interval_store):
    root, _ = interval_store
    fig = FIGURES["recall_vs_qps"](_store_summary(root))
    # 10k x d256 holds only D, timed on a busy machine: drawn, its points hollow.
    titles = ["10k x d128", "10k x d256", "100k x d128", "250k x d128"]
    assert [ax.get_title() for ax in fig.axes] == titles
    assert "not drawn" not in fig._suptitle.get_text()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["duckdb_vss", "usearch", "vector none", BUSY]
    hollow = [c for c in fig.axes[1].collections if len(c.get_offsets())]
    assert all(len(c.get_facecolors()) == 0 for c in hollow if c.get_edgecolors().size)
    lines = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    bars = [segment for c in lines for segment in c.get_segments()]
    assert any(np.allclose(seg, [[0.97, 950], [0.97, 1050]]) for seg in bars)


def _overlapping(boxes: list) -> list[tuple]:
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_latency_figure_has_no_bars_and_labels_that_do_not_collide(interval_store):
    root, _ = interval_store
    fig = FIGURES["latency_percentiles"](_store_summary(root))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        assert len(ax.patches) == 0  # points with intervals: no bar on a log axis
        assert ax.get_xscale() == "log"
        labels = [t for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
        assert len(labels) >= 3
        assert _overlapping([t.get_window_extent(renderer) for t in labels]) == []
        assert all(not t.get_text() for t in ax.xaxis.get_minorticklabels())


def test_heatmap_labels_do_not_run_into_each_other(interval_store):
    root, _ = interval_store
    summary = _store_summary(root)
    # Scales as long as a multi-host store names them.
    fig = FIGURES["heatmaps"](summary.assign(scale=summary["scale"] + " @build-node-a"))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    heat = [ax for ax in fig.axes if ax.images]
    assert len(heat) == 3
    for ax in heat:
        cells = [t.get_window_extent(renderer) for t in ax.texts]
        ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
        assert _overlapping(cells) == [] and _overlapping(ticks) == []
    assert "2000 busy\n1900-2100" in {t.get_text() for t in heat[0].texts}  # 10k x d256: D
    # 250k x d128: G's busy 500 s and H's 75 s (its second, disturbed build left out).
    assert "287.5 busy" in {t.get_text() for t in heat[2].texts}
    assert "(busy: timed while other processes took the CPU)" in heat[2].get_title()


def test_build_and_memory_draw_a_line_per_index_family(interval_store):
    root, _ = interval_store
    fig = FIGURES["build_and_memory"](_store_summary(root))
    build, memory = fig.axes[:2]
    families = {"duckdb_vss d128 M16", "duckdb_vss d128 M32", "duckdb_vss d128 M8"}
    families |= {"duckdb_vss d256 M16", "usearch d128 M16"}
    assert {line.get_label() for line in build.lines} == families
    for ax in (build, memory):
        for line in ax.lines:
            assert list(line.get_xdata()) == sorted(set(line.get_xdata()))  # no zig-zag
    (m16,) = [line for line in build.lines if line.get_label() == "duckdb_vss d128 M16"]
    assert list(m16.get_xdata()) == [10_000, 100_000, 250_000]  # G's busy build shown
    (m32,) = [line for line in build.lines if line.get_label() == "duckdb_vss d128 M32"]
    assert list(m32.get_ydata()) == [3.0, 30.0, 75.0]  # H's disturbed second build left out
    assert (
        "(1 disturbed build left out; 1 configuration built on a busy machine, shown)"
        in fig._suptitle.get_text()
    )


def test_report_shows_intervals_and_which_setting_matters(interval_store, tmp_path):
    root, names = interval_store
    out = tmp_path / "report"
    main(["--tracking-uri", f"sqlite:///{root / 'mlflow.db'}", "--out", str(out)])
    markdown = (out / "summary.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in markdown.splitlines()}
    assert "| 1000 [950, 1050] |" in rows[names["A"]]
    assert "## Which setting matters" in markdown
    # A's disturbed run is left out of QPS beside A's undisturbed one; D's and usearch's count.
    assert "log QPS: over 10 runs" in markdown and "recall: over 11 runs" in markdown
    assert "Which setting matters" in (out / "report.html").read_text()
    # Per-configuration facts are tables, not findings.
    findings_part = markdown.split("## Findings")[1].split("\n## ")[0]
    bullets = [line for line in findings_part.splitlines() if line.startswith("- ")]
    assert not [b for b in bullets if any(b.startswith(f"- {n}") for n in names.values())]
    needed = markdown.split("## The ef each configuration needs for recall@10")[1].split("## ")[0]
    (a_row,) = [line for line in needed.splitlines() if f"| {names['A']} |" in line]
    # A's curve: recall 0.93 at ef 32, 0.97 at ef 64 (1000 QPS); 0.99 never.
    assert a_row == (
        f"| 10k | 128 | {names['A']} | 64 | 1000 [950-1050] | not reached |  | 0.970 at ef 64 |  |"
    )
    (d_row,) = [line for line in needed.splitlines() if f"| {names['D']} |" in line]
    assert d_row.endswith("| busy |")
