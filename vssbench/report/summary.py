"""Runs summarised per configuration (medians, spreads, ef curves), the selections findings and
figures read, and the per-configuration table."""

import pandas as pd

from vssbench.measure.definitions import QPS, RECALL
from vssbench.report.columns import (
    CONFIG,
    ENGINE_RANK,
    METRIC_COLUMNS,
    TABLE_COLUMNS,
    scale_rank,
)


def order_key(frame: pd.DataFrame) -> pd.Series:
    """Numeric order of configurations: scale by size, dim as a number, engine in the
    registry's order, then the rest."""
    return (
        frame["scale"].map(scale_rank).astype(str).str.zfill(2)
        + frame["dim"].astype(int).astype(str).str.zfill(5)
        + frame["engine"].map(ENGINE_RANK).astype(str).str.zfill(2)
        + frame["configuration"]
    )


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration (fingerprint): medians, and the spread where there are repeats."""
    keys = ["fingerprint", "bench_version", "configuration", "host", *CONFIG]
    grouped = runs.groupby(keys, dropna=False)
    summary = grouped[list(METRIC_COLUMNS)].median().reset_index()
    summary["runs"] = grouped.size().to_numpy()
    spread = grouped[list(TABLE_COLUMNS)].agg(lambda s: s.max() - s.min()).reset_index(drop=True)
    for metric in TABLE_COLUMNS:
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
        .groupby("ef", dropna=False)[[RECALL.column, QPS.column]]
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
        return pd.DataFrame(columns=[*columns, "ef", RECALL.column, QPS.column])
    return pd.concat(parts, ignore_index=True)


def by_panel(frame: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    """`frame` grouped per scale x dim, scales by size and dims as numbers."""
    groups = list(frame.groupby(["scale", "dim"]))
    return sorted(groups, key=lambda item: (scale_rank(item[0][0]), item[0][1]))


def table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-configuration table: medians of TABLE_COLUMNS, with their spread when a
    configuration ran more than once, and the host when the runs came from several."""
    columns = ["configuration", "engine", "runs", "disturbed_runs"]
    if summary["host"].nunique() > 1:
        columns.insert(1, "host")
    for metric in TABLE_COLUMNS:
        columns.append(metric)
        if (summary["runs"] > 1).any():
            columns.append(f"{metric}_spread")
    return summary[columns]
