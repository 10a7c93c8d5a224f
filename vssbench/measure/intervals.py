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
PAIRED_T = "paired t-test on the log ratios of the pairs of trials run side by side"


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


def paired_ratio(baseline: np.ndarray, candidate: np.ndarray) -> Difference:
    """candidate / baseline of timings measured in pairs (value i of each side ran next to value i
    of the other): the geometric mean of the pairs' ratios, with the t interval and paired t-test
    of their logs; p is 1 and the interval has no width when the ratios do not spread at all.

    Why a paired t-test, and not Wilcoxon's signed-rank test or a bootstrap:

    - the drift a pair's two trials share (the machine over minutes) drops out of its ratio, and
      the test is on the ratios: an unpaired test would count that drift as noise;
    - it gives the ratio an interval, which compare --run stops on (±precision) and the gate
      reads (worse by more than PCT); the signed-rank test gives a p-value alone, and its
      smallest two-sided p over n pairs is 2 / 2**n: 0.0625 at 5 pairs, so with Holm over four
      tests (first step 0.0125) it could not call anything before 8 pairs;
    - a bootstrap's percentiles under-cover with 5-10 values (module docstring);
    - the log ratio of two passes' mean speeds over hundreds of queries is near normal, and a
      busy spell that hits one pair makes its ratio an outlier, which widens the interval (and
      raises p) rather than making a verdict.
    """
    a, b = np.log(np.asarray(baseline, float)), np.log(np.asarray(candidate, float))
    d = b - a
    if len(d) < 2:
        raise ValueError(f"a paired ratio needs two pairs at least, got {len(d)}")
    value = float(np.exp(d.mean()))
    if np.ptp(d) == 0:
        return Difference(value, value, value, 1.0, PAIRED_T)
    from scipy import stats

    test = stats.ttest_1samp(d, 0.0)
    low, high = test.confidence_interval(LEVEL)
    return Difference(value, float(np.exp(low)), float(np.exp(high)), float(test.pvalue), PAIRED_T)


def pairs_needed(baseline: np.ndarray, candidate: np.ndarray, precision: float, most: int) -> int:
    """How many pairs would bring a paired ratio's 95% interval within ±`precision` percent, if
    the log ratios went on spreading as they do in these pairs; at most `most`."""
    d = np.log(np.asarray(candidate, float)) - np.log(np.asarray(baseline, float))
    sd = d.std(ddof=1)
    target = np.log1p(precision / 100)  # the interval's upper side on the log scale
    for n in range(len(d), most + 1):
        if stdtrit(n - 1, (1 + LEVEL) / 2) * sd / np.sqrt(n) <= target:
            return n
    return most
