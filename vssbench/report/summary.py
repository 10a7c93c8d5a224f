"""Runs summarised per configuration (medians, spreads, intervals, ef curves), the selections
findings and figures read, and the per-configuration table.

A configuration's interval of a metric spans its runs' intervals (from the lowest low to the
highest high), so a difference its interval does not cover holds for every one of its runs; it
is NaN when one of its timed runs logged no interval (runs from before intervals)."""

import numpy as np
import pandas as pd

from vssbench.measure.definitions import QPS, RECALL
from vssbench.report.columns import (
    CONFIG,
    ENGINE_RANK,
    INTERVALS,
    METRIC_COLUMNS,
    TABLE_COLUMNS,
    scale_rank,
)
from vssbench.report.load import CURVE_COLUMNS


def order_key(frame: pd.DataFrame) -> pd.Series:
    """Numeric order of configurations: scale by size, dim as a number, engine in the
    registry's order, then the rest."""
    return (
        frame["scale"].map(scale_rank).astype(str).str.zfill(2)
        + frame["dim"].astype(int).astype(str).str.zfill(5)
        + frame["engine"].map(ENGINE_RANK).astype(str).str.zfill(2)
        + frame["configuration"]
    )


def envelope(frame: pd.DataFrame, keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per group of `keys`: for each metric with an interval among `metrics`, the lowest low and
    highest high of the rows that measured it; NaN where one of those rows has no interval."""
    out = {}
    grouped = frame.groupby(keys, dropna=False, sort=True)
    for metric in metrics:
        for end, pick in zip(INTERVALS.get(metric, ()), ("min", "max"), strict=False):
            missing = (frame[metric].notna() & frame[end].isna()).groupby(
                [frame[k] for k in keys], dropna=False, sort=True
            )
            # Positional: both group the same keys in the same order (NaN keys included).
            out[end] = grouped[end].agg(pick).where(~missing.any().to_numpy())
    return pd.DataFrame(out, index=grouped.size().index)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (fingerprint): medians, intervals, and the spread where there
    are repeats."""
    keys = ["fingerprint", "bench_version", "configuration", "host", *CONFIG]
    grouped = runs.groupby(keys, dropna=False)
    summary = grouped[list(METRIC_COLUMNS)].median().reset_index()
    bounds = envelope(runs, keys, list(METRIC_COLUMNS))
    summary = summary.join(bounds.reset_index(drop=True))
    summary["runs"] = grouped.size().to_numpy()
    # What the intervals are over ("trials" or "passes"); None before intervals.
    summary["interval_over"] = grouped["interval_over"].agg(_joined).to_numpy()
    spread = grouped[list(TABLE_COLUMNS)].agg(lambda s: s.max() - s.min()).reset_index(drop=True)
    for metric in TABLE_COLUMNS:
        summary[f"{metric}_spread"] = spread[metric].to_numpy()
    # Within a scale x dim panel, a variant: search, filter and how it is applied.
    # A hybrid run's ef curve is its vector half (LIMIT search.candidates), not the fused query.
    summary["variant"] = summary["search"].replace({"hybrid": "hybrid's vector half"})
    summary["variant"] += " " + summary["filter"]
    filtered = summary["filter"] != "none"
    summary.loc[filtered, "variant"] += "/" + summary.loc[filtered, "strategy"]
    summary["disturbed_runs"] = grouped["disturbed"].sum().to_numpy()
    summary["build_disturbed_runs"] = grouped["build_disturbed"].sum().to_numpy()
    # Timed only while other processes took the CPU: its timings are shown, marked.
    summary["busy"] = grouped["busy"].any().to_numpy()
    summary["build_busy"] = grouped["build_busy"].any().to_numpy()
    order = order_key(summary).to_numpy().argsort(kind="stable")
    return summary.iloc[order].reset_index(drop=True)


def _joined(values: pd.Series) -> str | None:
    """The distinct values of a column, joined ("passes, trials" when runs differ)."""
    distinct = sorted(values.dropna().unique())
    return ", ".join(distinct) if distinct else None


def _points(by_run: pd.DataFrame) -> pd.DataFrame:
    """One configuration's ef points over its runs: median recall and QPS per ef, each with the
    envelope of its runs' intervals."""
    metrics = [RECALL.column, QPS.column]
    if by_run.empty:
        return pd.DataFrame(columns=["ef", *CURVE_COLUMNS])
    medians = by_run.groupby("ef", dropna=False, sort=True)[metrics].median()
    bounds = envelope(by_run, ["ef"], metrics)
    return medians.join(bounds).reset_index()[["ef", *CURVE_COLUMNS]]


def attach_curves(summary: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Each configuration's ef points as a frame in column `curve`: per effective ef, the median
    recall and QPS over its runs with their intervals (load_curves says which runs give them)."""
    by_run = curves.merge(runs[["run_id", "fingerprint", "host"]], on="run_id")
    out = summary.copy()
    curves = [
        _points(by_run[(by_run["fingerprint"] == fp) & (by_run["host"] == host)])
        for fp, host in zip(summary["fingerprint"], summary["host"], strict=True)
    ]
    # A Series of objects: a plain list of frames would be unpacked by pandas.
    out["curve"] = pd.Series(curves, index=out.index, dtype=object)
    return out


def plain_vector(summary: pd.DataFrame) -> pd.DataFrame:
    """The configurations of vector search without a filter."""
    return summary[(summary["search"] == "vector") & (summary["filter"] == "none")]


def curve_points(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Every configuration's ef points (ef, recall, qps and their intervals' ends, NaN where not
    logged) in one frame, each with `columns` of its configuration; configurations without
    points give none."""
    parts = [
        curve.assign(**summary.loc[i, columns])
        for i, curve in summary["curve"].items()
        if not curve.empty
    ]
    shown = [*columns, "ef", *CURVE_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=shown)
    points = pd.concat(parts, ignore_index=True)
    return points.reindex(columns=[*points.columns, *(c for c in shown if c not in points)])


def by_panel(frame: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    """`frame` grouped per scale x dim, scales by size and dims as numbers."""
    groups = list(frame.groupby(["scale", "dim"]))
    return sorted(groups, key=lambda item: (scale_rank(item[0][0]), item[0][1]))


def number(value: float) -> str:
    """A number in the report's tables: whole from 1000 up (32230, not 3.223e+04), else 4
    significant digits."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def count(n: int, noun: str) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def busy_mark(row: pd.Series) -> str:
    """What of a configuration was timed only while other processes took the CPU: "busy" (its
    queries), "busy build", both, or nothing."""
    return ", ".join(
        mark for mark, busy in (("busy", row["busy"]), ("busy build", row["build_busy"])) if busy
    )


def _cells(summary: pd.DataFrame, metric: str) -> pd.Series:
    """A metric's column of the table: the median, with its 95% interval in brackets where its
    runs logged one; plain numbers when none did."""
    low, high = INTERVALS.get(metric, (None, None))
    if low is None or summary[low].isna().all():
        return summary[metric]

    def cell(value: float, lo: float, hi: float) -> str:
        if not np.isfinite(value):
            return "n/a"
        interval = f" [{number(lo)}, {number(hi)}]" if np.isfinite([lo, hi]).all() else ""
        return number(value) + interval

    return pd.Series(
        [cell(*v) for v in zip(summary[metric], summary[low], summary[high], strict=True)],
        index=summary.index,
    )


def table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-configuration table: medians of TABLE_COLUMNS (with their 95% intervals), their
    spread when a configuration ran more than once, and the host when the runs came from
    several."""
    columns = ["configuration", "engine", "runs", "disturbed_runs"]
    if summary["host"].nunique() > 1:
        columns.insert(1, "host")
    shown = summary[columns].copy()
    shown["timed"] = [busy_mark(row) for _, row in summary.iterrows()]
    for metric in TABLE_COLUMNS:
        shown[metric] = _cells(summary, metric)
        if (summary["runs"] > 1).any():
            shown[f"{metric}_spread"] = summary[f"{metric}_spread"]
    return shown
