"""Cross-run report: the runs of an experiment as figures, tables and computed findings.

    uv run python -m vssbench.report [--experiment vssbench] [--tracking-uri URI] [--out DIR]
                                     [--all-versions] [key=value ...]

key=value filters select runs by a configuration column (scale, dim, engine, search, filter,
strategy, M, ef_construction, ef_search, metric, tokenizer, fusion, k), e.g.
`scale=100k engine=usearch`.
Writes report.html (figures embedded), the PNGs and summary.md into --out, and logs them as
artifacts of a `report-...` run in the same experiment.
"""

import argparse
import base64
import html
import io
import sys
from datetime import datetime
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from vssbench.config import identity
from vssbench.track import store
from vssbench.engines.params import HEADLINE_EF
from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import QPS, RECALL, curve_name
from vssbench.report.figures import DUCKDB, ENGINE_RANK, FIGURES, recall_label
from vssbench.config.schema import DatasetConfig, DatasetKind

# Configuration columns: short name -> MLflow param.
CONFIG = {
    "dataset": "dataset.name",
    "noise": "dataset.noise",
    "scale": "scale.name",
    "n_docs": "scale.n_docs",
    "dim": "dim",
    "engine": "engine.name",
    "search": "search.name",
    "filter": "filter.name",
    "strategy": "filter.strategy",
    "selectivity": "filter.selectivity",
    "metric": "hnsw.metric",
    "M": "hnsw.M",
    "ef_construction": "hnsw.ef_construction",
    "ef_search": "hnsw.ef_search",
    "tokenizer": "search.tokenizer",
    "bm25": "search.bm25",
    "fusion": "search.fusion",
    "k": "k",
}
METRICS = (
    "recall",
    "qps",
    "batch_qps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "mrr_at_10",
    "ndcg_at_10",
    "rows_returned_mean",
    "index_build_s",
    "index_memory_mb",
    "peak_rss_mb",
)
TABLE_METRICS = (
    "recall",
    "ndcg_at_10",
    "mrr_at_10",
    "qps",
    "batch_qps",
    "latency_p50_ms",
    "latency_p99_ms",
    "index_build_s",
)


# Timings a disturbed run (tags.timing_disturbed) must not contribute; accuracy it still does.
TIMING_METRICS = (
    "qps",
    "batch_qps",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
)
SCALE_ORDER = {"tiny": 0, "10k": 1, "100k": 2, "250k": 3}
# Runs logged before there were engines have no engine param: they measured DuckDB's vss index.
# vss is built on usearch: at the same ef, the difference between the two is what DuckDB adds.
USEARCH = "usearch"
# What a build is matched on when two engines are compared at the same ef.
BUILD = ["scale", "dim", "M", "ef_construction", "metric", "k"]


class ReportError(RuntimeError):
    """Nothing to report on; the message says why."""


def load_runs(
    experiment: str, filters: dict[str, str], all_versions: bool
) -> tuple[pd.DataFrame, int]:
    """Finished benchmark runs as one row each with short column names; also how many runs of
    older benchmark versions were left out."""
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        raise ReportError(f"no experiment named {experiment!r} at {mlflow.get_tracking_uri()}")
    raw = mlflow.search_runs(
        experiment_ids=[found.experiment_id], filter_string="attributes.status = 'FINISHED'"
    )
    if "tags.fingerprint" not in raw:
        raise ReportError(f"experiment {experiment!r} has no finished benchmark runs yet")
    raw = raw[raw["tags.fingerprint"].notna()]  # report and hpo runs carry no fingerprint
    runs = pd.DataFrame(
        {
            "configuration": raw["tags.mlflow.runName"],
            "fingerprint": raw["tags.fingerprint"],
            "bench_version": raw["tags.bench_version"],
            "host": raw.get("tags.process.host", pd.Series(None, raw.index)).fillna("unknown"),
            "run_id": raw["run_id"],
            "disturbed": raw.get("tags.timing_disturbed", pd.Series("false", raw.index))
            .fillna("false")
            .eq("true"),
            **{short: raw.get(f"params.{param}") for short, param in CONFIG.items()},
            **{m: raw.get(f"metrics.{m}") for m in METRICS if m != "recall"},
            # recall@k with each run's own k (definitions.RECALL)
            "recall": [
                row.get(f"metrics.{RECALL.name(int(k))}", np.nan)
                for k, (_, row) in zip(raw["params.k"], raw.iterrows(), strict=True)
            ],
        }
    )
    runs["engine"] = runs["engine"].fillna(DUCKDB)  # runs from before engines had a name
    runs["bm25"] = runs["bm25"].fillna("match_bm25")  # runs from before search.bm25
    runs["dataset"] = runs["dataset"].fillna(DatasetKind.synthetic_ko.value)  # before datasets
    # Synthetic data of another difficulty is other data: its scale says so, and every table,
    # figure and finding keeps it apart. Runs from before the knob had no noise.
    runs["noise"] = runs["noise"].fillna("0.0")
    noise = pd.to_numeric(runs["noise"]).where(runs["dataset"] == DatasetKind.synthetic_ko)
    other = noise.notna() & (noise != DatasetConfig().noise)
    runs.loc[other, "scale"] = [
        f"{scale} noise {value:g}"
        for scale, value in zip(runs["scale"][other], noise[other], strict=True)
    ]
    # Timings from different hosts are different measurements: with runs from several hosts,
    # each host's runs are a scale of their own, so no median, figure or finding mixes them.
    if runs["host"].nunique() > 1:
        runs["scale"] = runs["scale"] + " @" + runs["host"]
    # Only filter=attribute reads filter.selectivity.
    runs["selectivity"] = pd.to_numeric(runs["selectivity"]).where(runs["filter"] == "attribute")
    old = runs["bench_version"] != identity.BENCH_VERSION
    left_out = 0 if all_versions else int(old.sum())
    if not all_versions:
        runs = runs[~old]
    for key, value in filters.items():
        if key not in runs:
            raise ReportError(f"unknown filter {key}={value}; filter on one of {sorted(CONFIG)}")
        runs = runs[runs[key].astype(str) == value]
    if runs.empty:
        shown = " ".join(f"{k}={v}" for k, v in filters.items()) or "none"
        raise ReportError(
            f"no finished runs of benchmark version {tracking.BENCH_VERSION} in {experiment!r} "
            f"match the filters ({shown}); {left_out} older-version runs left out"
        )
    runs["n_docs"] = runs["n_docs"].astype(int)
    runs["dim"] = runs["dim"].astype(int)
    # A disturbed run's timings are left out of every figure, table and finding.
    runs.loc[runs["disturbed"], [m for m in TIMING_METRICS if m in runs]] = np.nan
    return runs.reset_index(drop=True), left_out


def load_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The recall/QPS points each run measured over its ef list (`ef_curve.*`, step = effective
    ef); a run without them gives its headline point. Disturbed runs give none."""
    client = mlflow.MlflowClient()
    rows = []
    for run in runs[~runs["disturbed"]].itertuples():
        k = int(run.k)
        recall = {
            m.step: m.value for m in client.get_metric_history(run.run_id, curve_name(RECALL, k))
        }
        qps = {m.step: m.value for m in client.get_metric_history(run.run_id, curve_name(QPS, k))}
        points = [(ef, recall[ef], qps[ef]) for ef in sorted(recall) if ef in qps]
        if not points:
            points = [(None, run.recall, run.qps)]
        rows += [(run.run_id, ef, r, q) for ef, r, q in points]
    return pd.DataFrame(rows, columns=["run_id", "ef", "recall", "qps"])


def order_key(frame: pd.DataFrame) -> pd.Series:
    """Numeric order of configurations: scale by size, dim as a number, engine in the
    registry's order, then the rest."""
    return (
        frame["scale"].map(SCALE_ORDER).fillna(99).astype(int).astype(str).str.zfill(2)
        + frame["dim"].astype(int).astype(str).str.zfill(5)
        + frame["engine"].map(ENGINE_RANK).astype(str).str.zfill(2)
        + frame["configuration"]
    )


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (fingerprint): medians, and the spread where there are repeats."""
    keys = ["fingerprint", "bench_version", "configuration", "host", *CONFIG]
    grouped = runs.groupby(keys, dropna=False)
    summary = grouped[list(METRICS)].median().reset_index()
    summary["runs"] = grouped.size().to_numpy()
    spread = grouped[list(TABLE_METRICS)].agg(lambda s: s.max() - s.min()).reset_index(drop=True)
    for metric in TABLE_METRICS:
        summary[f"{metric}_spread"] = spread[metric].to_numpy()
    summary["family"] = (
        summary["scale"]
        + "-d"
        + summary["dim"].astype(str)
        + "-"
        + summary["search"]
        + "-"
        + summary["filter"]
    )
    # Within a scale x dim panel, a variant: search, filter and how it is applied.
    # A hybrid run's ef curve is its vector half (LIMIT search.candidates), not the fused query.
    summary["variant"] = summary["search"].replace({"hybrid": "hybrid's vector half"})
    summary["variant"] += " " + summary["filter"]
    filtered = summary["filter"] != "none"
    summary.loc[filtered, "variant"] += "/" + summary.loc[filtered, "strategy"]
    summary["disturbed_runs"] = grouped["disturbed"].sum().to_numpy()
    order = order_key(summary).to_numpy().argsort(kind="stable")
    return summary.iloc[order].reset_index(drop=True)


def attach_curves(summary: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Each configuration's ef points as a frame in column `curve`: per effective ef, the median
    recall and QPS over its undisturbed runs (empty when all were disturbed)."""
    by_run = curves.merge(runs[["run_id", "fingerprint", "host"]], on="run_id")
    out = summary.copy()
    curves = [
        by_run[(by_run["fingerprint"] == fp) & (by_run["host"] == host)]
        .groupby("ef", dropna=False)[["recall", "qps"]]
        .median()
        .reset_index()
        for fp, host in zip(summary["fingerprint"], summary["host"], strict=True)
    ]
    # A Series of objects: a plain list of frames would be unpacked by pandas.
    out["curve"] = pd.Series(curves, index=out.index, dtype=object)
    return out


def plain_vector(summary: pd.DataFrame) -> pd.DataFrame:
    """The configurations of vector search without a filter."""
    return summary[(summary["search"] == "vector") & (summary["filter"] == "none")]


def curve_points(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Every configuration's ef points (ef, recall, qps) in one frame, each with `columns` of its
    configuration; configurations without points (all runs disturbed) give none."""
    parts = [
        curve.assign(**summary.loc[i, columns])
        for i, curve in summary["curve"].items()
        if not curve.empty
    ]
    if not parts:
        return pd.DataFrame(columns=[*columns, "ef", "recall", "qps"])
    return pd.concat(parts, ignore_index=True)


def by_panel(frame: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    """`frame` grouped per scale x dim, scales by size and dims as numbers."""
    groups = list(frame.groupby(["scale", "dim"]))
    return sorted(groups, key=lambda item: (SCALE_ORDER.get(item[0][0], 99), item[0][1]))


def ef_findings(summary: pd.DataFrame, targets: tuple[float, ...] = (0.95, 0.99)) -> list[str]:
    """Per vector configuration without a filter that measured an ef curve: the smallest ef
    that reaches each recall target, and the QPS there."""
    out = []
    for row in plain_vector(summary).itertuples():
        curve = row.curve.dropna(subset=["ef"]).sort_values("ef")
        if len(curve) < 2:
            continue
        parts = []
        for target in targets:
            reached = curve[curve["recall"] >= target]
            if reached.empty:
                parts.append(
                    f"does not reach {target} up to ef {curve.ef.max():.0f} "
                    f"({recall_label(summary)} {curve.recall.max():.3f})"
                )
            else:
                first = reached.iloc[0]
                parts.append(f"reaches {target} at ef {first.ef:.0f} ({first.qps:.0f} QPS)")
        out.append(f"{row.configuration}: {recall_label(summary)} " + "; ".join(parts) + ".")
    return out


def best_at_recall(points: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per engine: its best recall, and the ef and QPS of its fastest timed point whose recall
    reaches `target` (NaN when none does); fastest engine first."""
    timed = points.dropna(subset=["qps"])
    reached = timed[timed["recall"] >= target]
    fastest = reached.loc[reached.groupby("engine")["qps"].idxmax()].set_index("engine")
    best = timed.groupby("engine")["recall"].max().to_frame("best_recall")
    return best.join(fastest[["ef", "qps"]]).sort_values("qps", ascending=False)


def _at_ef(engine: str, ef: float) -> str:
    if ENGINES[engine].exact:
        return " (exact)"
    return "" if pd.isna(ef) else f" at ef {ef:.0f}"


def qps_at_recall_findings(summary: pd.DataFrame, target: float = 0.95) -> list[str]:
    """Per scale x dim (vector search, no filter): each engine's highest QPS among its measured
    points that reach `target` recall."""
    recall = recall_label(summary)
    points = curve_points(plain_vector(summary), ["scale", "dim", "engine"])
    out = []
    for (scale, dim), panel in by_panel(points):
        parts = [
            f"{engine} {row.qps:.0f} QPS{_at_ef(engine, row.ef)}"
            if np.isfinite(row.qps)
            else f"{engine} does not reach {target} (best {recall} {row.best_recall:.3f})"
            for engine, row in best_at_recall(panel, target).iterrows()
        ]
        out.append(
            f"{scale} d{dim}, highest QPS at {recall} >= {target}: " + "; ".join(parts) + "."
        )
    return out


def engine_overhead(summary: pd.DataFrame) -> pd.DataFrame:
    """Per build (BUILD) and ef that both duckdb_vss and usearch measured (vector search, no
    filter): their median QPS, the ratio usearch / duckdb_vss and DuckDB's extra ms per query."""
    points = curve_points(plain_vector(summary), [*BUILD, "engine"]).dropna(subset=["ef", "qps"])
    qps = points.groupby([*BUILD, "ef", "engine"])["qps"].median().unstack("engine")
    both = qps.reindex(columns=[DUCKDB, USEARCH]).dropna().reset_index()
    both["ratio"] = both[USEARCH] / both[DUCKDB]
    both["extra_ms"] = 1000 / both[DUCKDB] - 1000 / both[USEARCH]
    return both


def _overhead_sentence(label: str, points: pd.DataFrame) -> str:
    """One build's comparison: at the headline ef (or the shared ef nearest it), and its range."""
    head = points.iloc[(points["ef"] - HEADLINE_EF).abs().argmin()]
    more = "more" if head.extra_ms >= 0 else "less"
    spread = (
        f"; ef {points.ef.min():.0f}-{points.ef.max():.0f}: "
        f"{points.ratio.min():.1f}-{points.ratio.max():.1f}x"
        if len(points) > 1
        else ""
    )
    return (
        f"{label}: {USEARCH} answers {head.ratio:.1f}x the queries per second of {DUCKDB} at "
        f"ef {head.ef:.0f} ({abs(head.extra_ms):.2f} ms {more} per query in DuckDB{spread})."
    )


def overhead_findings(summary: pd.DataFrame) -> list[str]:
    """DuckDB's overhead over usearch at the same ef, per scale x dim (and per build where a
    scale x dim has several)."""
    out = []
    for (scale, dim), panel in by_panel(engine_overhead(summary)):
        builds = list(panel.groupby(BUILD[2:]))
        for (m, efc, metric, k), points in builds:
            label = f"{scale} d{dim}" + (f" M{m} efc{efc} {metric} k{k}" if len(builds) > 1 else "")
            out.append(_overhead_sentence(label, points.sort_values("ef")))
    return out


def findings(summary: pd.DataFrame) -> list[str]:
    """Sentences computed from the medians; a finding is left out when its runs are missing, and
    no timing comes from a run whose timing was disturbed."""
    out = []
    disturbed = int(summary["disturbed_runs"].sum())
    if disturbed:
        out.append(
            f"{disturbed} runs were timed while other processes took more CPU than "
            "bench.max_other_cpu_share: their timings are left out of every figure and finding."
        )
    out += ef_findings(summary)
    out += qps_at_recall_findings(summary)
    out += overhead_findings(summary)
    recall = recall_label(summary)
    plain = summary[summary["filter"] == "none"]
    for (scale, dim, engine), group in plain.groupby(["scale", "dim", "engine"]):
        columns = ["ndcg_at_10", "latency_p50_ms"]
        vector_runs = group[group["search"] == "vector"]
        if vector_runs.empty:
            continue
        v = vector_runs[columns].median()
        # One finding per BM25 implementation: search.bm25 changes the hybrid's latency.
        for bm25, hybrid in group[group["search"] == "hybrid"].groupby("bm25", dropna=False):
            h = hybrid[columns].median()
            label = engine if ENGINES[engine].native_hybrid else f"{engine}, BM25 {bm25}"
            cost = (
                f"at a p50 latency cost of {h.latency_p50_ms - v.latency_p50_ms:+.1f} ms "
                f"({v.latency_p50_ms:.1f} -> {h.latency_p50_ms:.1f} ms)"
                if np.isfinite([v.latency_p50_ms, h.latency_p50_ms]).all()
                else "(latency not compared: a timing was disturbed)"
            )
            out.append(
                f"At {scale}/{dim} ({label}), hybrid search changes nDCG@10 by "
                f"{h.ndcg_at_10 - v.ndcg_at_10:+.3f} ({v.ndcg_at_10:.3f} -> {h.ndcg_at_10:.3f}) "
                f"{cost}."
            )
    vector = summary[summary["search"] == "vector"]
    for scale, group in vector[vector["filter"] == "none"].groupby("scale"):
        good = group[(group["recall"] >= 0.95) & group["qps"].notna()]
        untimed = int(group["qps"].isna().sum())
        if not good.empty:
            best = good.loc[good["qps"].idxmax()]
            out.append(
                f"At {scale}, the fastest vector configuration with {recall} >= 0.95 is "
                f"{best.configuration}: {best.qps:.0f} QPS at {recall} {best.recall:.3f}"
                + (
                    f" ({untimed} configurations without an undisturbed timing not compared)."
                    if untimed
                    else "."
                )
            )
    filtered = vector[vector["filter"] != "none"]
    for (engine, name, strategy), group in filtered.groupby(["engine", "filter", "strategy"]):
        out.append(
            f"{engine}, filter {name} with strategy {strategy}: "
            f"{group.rows_returned_mean.median():.1f} of 10 rows returned, "
            f"{recall} {group.recall.median():.3f}, p50 {group.latency_p50_ms.median():.2f} ms "
            f"(medians over {len(group)} configurations)."
        )
    base = vector[vector["filter"] == "none"]
    for (engine, dim), group in base.groupby(["engine", "dim"]):
        # Exact engines build no index: their build time is missing.
        group = group.groupby("n_docs")["index_build_s"].median().dropna()
        if len(group) >= 2:
            small, large = group.index.min(), group.index.max()
            out.append(
                f"{engine} at d{dim}: index build time grows {group[large] / group[small]:.1f}x "
                f"from {small:,} to {large:,} documents "
                f"({group[small]:.1f} s -> {group[large]:.1f} s)."
            )
    return out


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)

    rows = [" | ".join(map(str, frame.columns))]
    rows.append(" | ".join("---" for _ in frame.columns))
    rows += [" | ".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(f"| {row} |" for row in rows)


def table(summary: pd.DataFrame) -> pd.DataFrame:
    columns = ["configuration", "engine", "runs", "disturbed_runs"]
    if summary["host"].nunique() > 1:
        columns.insert(1, "host")
    for metric in TABLE_METRICS:
        columns.append(metric)
        if (summary["runs"] > 1).any():
            columns.append(f"{metric}_spread")
    return summary[columns]


def write_report(runs: pd.DataFrame, left_out: int, out: Path, title: str) -> dict[str, Path]:
    """PNGs, report.html and summary.md in `out`; returns the written files by name."""
    out.mkdir(parents=True, exist_ok=True)
    summary = attach_curves(summarize(runs), runs, load_curves(runs))
    facts = findings(summary)
    shown = table(summary)
    files: dict[str, Path] = {}
    sections = []
    for name, draw in FIGURES.items():
        fig = draw(summary)
        if fig is None:
            sections.append(f"<h2>{name}</h2><p>Not enough runs for this figure.</p>")
            continue
        data = _png(fig)
        path = out / f"{name}.png"
        path.write_bytes(data)
        files[name] = path
        encoded = base64.b64encode(data).decode()
        sections.append(f'<h2>{name}</h2><img alt="{name}" src="data:image/png;base64,{encoded}">')
    note = (
        f"{left_out} runs of older benchmark versions left out (--all-versions includes them)."
        if left_out
        else ""
    )
    items = (
        "".join(f"<li>{html.escape(f)}</li>" for f in facts)
        or "<li>No findings: too few runs.</li>"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px}</style>"
        f"</head><body><h1>{html.escape(title)}</h1><p>{len(runs)} runs, {len(summary)} configurations. "
        f"{note}</p><h2>Findings</h2><ul>{items}</ul>{''.join(sections)}"
        f"<h2>Per configuration (medians{', spread = max - min' if (summary['runs'] > 1).any() else ''})</h2>"
        f"{shown.to_html(index=False, float_format=lambda v: f'{v:.4g}')}</body></html>"
    )
    files["html"] = out / "report.html"
    files["html"].write_text(page, encoding="utf-8")
    markdown = [
        f"# {title}",
        "",
        f"{len(runs)} runs, {len(summary)} configurations. {note}",
        "",
        "## Findings",
        "",
        *(f"- {f}" for f in facts),
        "",
        "## Per configuration (medians)",
        "",
        _markdown_table(shown),
        "",
    ]
    files["markdown"] = out / "summary.md"
    files["markdown"].write_text("\n".join(markdown), encoding="utf-8")
    return files


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vssbench.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--experiment", default="vssbench")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db",
    )
    parser.add_argument("--out", type=Path, default=Path("report"))
    parser.add_argument(
        "--all-versions", action="store_true", help="include older benchmark versions"
    )
    parser.add_argument("filters", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    bad = [f for f in args.filters if "=" not in f]
    if bad:
        parser.error(f"filters are key=value, got {bad}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    settings = OmegaConf.create(
        {"experiment": args.experiment, "dir": "mlruns", "uri": args.tracking_uri}
    )
    mlflow.set_tracking_uri(store.tracking_uri(settings))
    filters = dict(f.split("=", 1) for f in args.filters)
    try:
        runs, left_out = load_runs(args.experiment, filters, args.all_versions)
    except ReportError as error:
        raise SystemExit(f"vssbench.report: {error}") from None
    title = f"vssbench report: {args.experiment}" + (
        f" ({' '.join(args.filters)})" if filters else ""
    )
    files = write_report(runs, left_out, args.out, title)
    experiment_id = mlflow.get_experiment_by_name(args.experiment).experiment_id
    name = f"report-{datetime.now():%Y%m%d-%H%M%S}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags={"kind": "report"}):
        mlflow.log_params({"filters": " ".join(args.filters) or "none", "runs": len(runs)})
        for path in files.values():
            mlflow.log_artifact(str(path))
    print(f"report of {len(runs)} runs written to {args.out}/ and logged as MLflow run {name}")

