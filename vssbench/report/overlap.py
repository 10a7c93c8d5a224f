"""Which differences the report may claim: two estimates differ only when their 95% intervals
(vssbench.measure.intervals, logged by the runs) do not overlap, and "the best" is every
estimate whose interval overlaps the best one's.

An estimate logged without an interval (runs from before intervals) stands as its point, so
only equal points tie; findings.interval_findings says once that such timings are untested."""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from vssbench.measure.intervals import Estimate
from vssbench.report.columns import INTERVALS


def estimate(row: Mapping, metric: str) -> Estimate:
    """A row's estimate of `metric` with its interval (its point where none was logged); n is
    the number of runs behind it."""
    value = float(row[metric])
    low, high = (float(row.get(end, np.nan)) for end in INTERVALS[metric])
    if not np.isfinite([low, high]).all():
        low = high = value
    return Estimate(value, low, high, int(row.get("runs", 1)))


def known(row: Mapping, metric: str) -> bool:
    """Whether the row logged an interval of `metric`."""
    return bool(np.isfinite([float(row.get(end, np.nan)) for end in INTERVALS[metric]]).all())


def overlaps(a: Estimate, b: Estimate) -> bool:
    """Whether two intervals share a value: then neither estimate is claimed to beat the other."""
    return a.low <= b.high and b.low <= a.high


def pooled(frame: pd.DataFrame, metric: str) -> dict[str, float]:
    """Several configurations as one row: the median of `metric` and the span of their
    intervals (NaN when one of them has none), as summary.envelope spans a configuration's runs."""
    low, high = INTERVALS[metric]
    measured = frame[frame[metric].notna()]
    complete = measured.get(low, pd.Series(np.nan, measured.index)).notna().all()
    return {
        metric: float(measured[metric].median()) if len(measured) else np.nan,
        low: float(measured[low].min()) if complete and len(measured) else np.nan,
        high: float(measured[high].max()) if complete and len(measured) else np.nan,
    }


def tied_with_best(frame: pd.DataFrame, metric: str, higher_is_better: bool = True) -> pd.DataFrame:
    """The rows whose interval of `metric` overlaps the best row's: the best first, then the
    others by their estimates."""
    ordered = frame.sort_values(metric, ascending=not higher_is_better, kind="stable")
    best = estimate(ordered.iloc[0], metric)
    keep = [overlaps(best, estimate(row, metric)) for _, row in ordered.iterrows()]
    return ordered[keep]


def span(row: Mapping, metric: str, fmt: str = "{:.0f}") -> str:
    """The interval as text ("950-1050"), empty when none was logged."""
    if not known(row, metric):
        return ""
    e = estimate(row, metric)
    return f"{fmt.format(e.low)}-{fmt.format(e.high)}"
