"""The report's tables of per-configuration facts, which the findings do not repeat: the ef and
QPS each configuration needs for a recall target, and each engine's highest QPS at a recall
target per scale x dim, set against the fastest by their 95% intervals (overlap.py)."""

import numpy as np
import pandas as pd

from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import QPS, RECALL
from vssbench.report.columns import recall_label
from vssbench.report.overlap import estimate, overlaps, span
from vssbench.report.peers import best_at_recall
from vssbench.report.summary import busy_mark, by_panel, curve_points, number, plain_vector

TARGETS = (0.95, 0.99)
TARGET = 0.95  # the recall target of the engines table


def _qps_cell(row: pd.Series) -> str:
    """QPS with its 95% interval ("812 [790-835]"); the point alone where none was logged."""
    interval = span(row, QPS.column)
    return number(row[QPS.column]) + (f" [{interval}]" if interval else "")


def _reaching(curve: pd.DataFrame, target: float) -> tuple[str, str]:
    """The smallest measured ef whose recall reaches `target`, and the QPS there."""
    reached = curve[curve[RECALL.column] >= target]
    if reached.empty:
        return "not reached", ""
    first = reached.iloc[0]
    return f"{first.ef:.0f}", _qps_cell(first) if np.isfinite(first[QPS.column]) else ""


def recall_targets(summary: pd.DataFrame) -> pd.DataFrame | None:
    """Per vector configuration without a filter that measured an ef curve: the smallest ef that
    reaches each of TARGETS and the QPS there, and the best recall measured (at which ef)."""
    label = recall_label(summary)
    rows = []
    for _, config in plain_vector(summary).iterrows():
        curve = config["curve"].dropna(subset=["ef"]).sort_values("ef")
        if len(curve) < 2:
            continue
        row = {
            "scale": config["scale"],
            "dim": config["dim"],
            "configuration": config.configuration,
        }
        for target in TARGETS:
            row[f"ef for {label} >= {target}"], row[f"QPS there ({target})"] = _reaching(
                curve, target
            )
        best = curve.loc[curve[RECALL.column].idxmax()]
        row[f"best {label}"] = f"{best[RECALL.column]:.3f} at ef {best.ef:.0f}"
        row["timed"] = busy_mark(config)
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def _against(row: pd.Series, fastest: pd.Series) -> str:
    """How an engine's QPS stands against the fastest engine's, by their 95% intervals."""
    if row.name == fastest.name:
        return "fastest"
    if overlaps(estimate(row, QPS.column), estimate(fastest, QPS.column)):
        return "not slower beyond the intervals"
    return "slower"


def engines_at_recall(summary: pd.DataFrame) -> pd.DataFrame | None:
    """Per scale x dim (vector search, no filter) and engine: its highest QPS among its points
    that reach TARGET recall, at which ef, against the fastest engine; its best recall."""
    label = recall_label(summary)
    points = curve_points(plain_vector(summary), ["scale", "dim", "engine", "busy", "build_busy"])
    rows = []
    for (scale, dim), panel in by_panel(points):
        engines = best_at_recall(panel, TARGET)
        marks = panel.groupby("engine")[["busy", "build_busy"]].any()
        for engine, row in engines.iterrows():
            reached = np.isfinite(row[QPS.column])
            ef = "exact" if ENGINES[engine].exact else f"{row.ef:.0f}"
            rows.append(
                {
                    "scale": scale,
                    "dim": dim,
                    "engine": engine,
                    f"ef for {label} >= {TARGET}": ef if reached else "not reached",
                    "QPS [95%]": _qps_cell(row) if reached else "",
                    "against the fastest": _against(row, engines.iloc[0]) if reached else "",
                    f"best {label}": f"{row.best_recall:.3f}",
                    "timed": busy_mark(marks.loc[engine]),
                }
            )
    return pd.DataFrame(rows) if rows else None


def tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables that have rows, by heading."""
    label = recall_label(summary)
    made = {
        f"The ef each configuration needs for {label}": recall_targets(summary),
        f"Each engine's highest QPS at {label} >= {TARGET}, per scale x dim": engines_at_recall(
            summary
        ),
    }
    return {heading: frame for heading, frame in made.items() if frame is not None}
