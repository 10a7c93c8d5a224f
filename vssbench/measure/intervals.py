"""Point estimates with 95% intervals, and tests of a difference between two sides.

A timing's unit is a trial (a fresh process) when a run has several, else a timed pass: passes
inside one process share its state (memory layout, caches, the machine's drift over seconds), so
with trials the passes of a trial are averaged into one value first. Timings are positive and
compared as ratios, so they are averaged and tested on the log scale: the estimate is a
geometric mean, the interval a Student t interval on the logs (t, not a bootstrap, because five
trials are too few for a bootstrap's percentiles to cover). Recall is a mean over queries."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int  # the units the interval is over


def units(passes: pd.DataFrame, column: str) -> np.ndarray:
    """The independent values of a timing: per trial the geometric mean of its passes when
    there are several trials, else one value per pass. `passes` has columns trial, `column`."""
    if passes["trial"].nunique() > 1:
        return np.exp(np.log(passes[column]).groupby(passes["trial"]).mean().to_numpy())
    return passes[column].to_numpy(float)


def log_mean(values: np.ndarray) -> Estimate:
    """Geometric mean of positive values with a t interval on their logs (one value: no width)."""
    logs = np.log(np.asarray(values, float))
    low, high = _t_interval(logs)
    return Estimate(float(np.exp(logs.mean())), float(np.exp(low)), float(np.exp(high)), len(logs))


def mean(values: np.ndarray) -> Estimate:
    """Mean with a t interval (recall over queries)."""
    values = np.asarray(values, float)
    low, high = _t_interval(values)
    return Estimate(float(values.mean()), float(low), float(high), len(values))


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    centre = values.mean()
    if len(values) < 2 or np.ptp(values) == 0:
        return centre, centre
    # Student's t quantile from scipy.special: scipy.stats takes seconds to import, which every
    # trial's process would pay.
    half = stdtrit(len(values) - 1, (1 + LEVEL) / 2) * values.std(ddof=1) / np.sqrt(len(values))
    return centre - half, centre + half


@dataclass(frozen=True)
class Difference:
    """candidate against baseline: a ratio (timings) or a difference (recall), its interval and
    the p-value of the named test."""

    value: float
    low: float
    high: float
    p: float
    test: str

    @property
    def significant(self) -> bool:
        return self.p < 1 - LEVEL


WELCH = "Welch's t-test on log values"
WILCOXON = "Wilcoxon signed-rank test over the same queries"


def ratio(baseline: np.ndarray, candidate: np.ndarray) -> Difference:
    """candidate / baseline of two timings' units, with Welch's interval of the difference of
    their log means; p is 1 when either side has fewer than two units or no spread at all."""
    a, b = np.log(np.asarray(baseline, float)), np.log(np.asarray(candidate, float))
    diff = b.mean() - a.mean()
    if min(len(a), len(b)) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return Difference(float(np.exp(diff)), float(np.exp(diff)), float(np.exp(diff)), 1.0, WELCH)
    from scipy import stats  # only comparisons test, and they run in the report's process

    test = stats.ttest_ind(b, a, equal_var=False)
    low, high = test.confidence_interval(LEVEL)
    return Difference(
        float(np.exp(diff)), float(np.exp(low)), float(np.exp(high)), float(test.pvalue), WELCH
    )


def paired_difference(baseline: np.ndarray, candidate: np.ndarray) -> Difference:
    """Mean of candidate - baseline over the same queries (recall), its t interval and the
    Wilcoxon signed-rank p-value (1 when no query differs)."""
    d = np.asarray(candidate, float) - np.asarray(baseline, float)
    low, high = _t_interval(d)
    from scipy import stats

    p = 1.0 if not np.any(d) else float(stats.wilcoxon(d).pvalue)
    return Difference(float(d.mean()), float(low), float(high), p, WILCOXON)
