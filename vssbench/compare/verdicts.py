"""Per pair and measure: both sides' estimates, the change with its 95% interval, the test's
p-value and a verdict in benchstat's words, or "undecided" where the evidence reaches none; and
what a --fail-above gate trips on or cannot pass. Pure: evidence in, rows out (the statistics
are measure/intervals.py's)."""

from dataclasses import dataclass, replace

import numpy as np
from statsmodels.stats.multitest import multipletests

from vssbench.compare.evidence import TIMINGS, Evidence, Timed
from vssbench.measure import definitions, intervals

SAME = "no significant difference"
# Short names for a row; the output's legend names each test in full.
SHORT_TEST = {
    intervals.WELCH: "Welch",
    intervals.WILCOXON: "Wilcoxon",
    intervals.PAIRED_T: "paired t",
}
PRECISION = 5.0  # default ±: percent of a ratio, percentage points of recall

# What the evidence decided about a row (decide()), or that it was not compared.
CHANGED, NO_CHANGE, UNDECIDED, NOT_COMPARED = "changed", "no change", "undecided", "not compared"


def decide(significant: bool, excludes_none: bool, width: float, precision: float) -> str:
    """The rule every row's verdict follows.

    - CHANGED: the test is significant (Holm-adjusted) and the interval excludes no change. The
      direction is decided at any width: a wide interval leaves how much open, not which way.
    - NO_CHANGE ("no significant difference"): otherwise, when the interval is within
      ±precision: whatever the difference is, it is smaller than that.
    - UNDECIDED: otherwise: a difference beyond ±precision is neither shown nor ruled out, and
      more trials would tell.

    `width` is the interval's larger side in percent of a ratio (percentage points of recall),
    as `precision` is.
    """
    if significant and excludes_none:
        return CHANGED
    return NO_CHANGE if width <= precision else UNDECIDED


def half_width(change: intervals.Difference, ratio: bool) -> float:
    """The interval's larger side: percent of a ratio, percentage points of a difference."""
    if ratio:
        return 100 * max(change.high / change.value - 1, 1 - change.low / change.value)
    return 100 * max(change.high - change.value, change.value - change.low)


@dataclass(frozen=True)
class Row:
    pair: str
    measure: str  # e.g. "qps", "p99 (ms)", "recall@10"
    ratio: bool  # a timing's change is candidate / baseline, recall's candidate - baseline
    higher_is_better: bool
    baseline: intervals.Estimate | None = None
    candidate: intervals.Estimate | None = None
    change: intervals.Difference | None = None
    # p adjusted by Holm's method over every test of the table: with many pairs some raw
    # p-values fall under 0.05 by chance alone, and a CI gate must not trip on those.
    p_holm: float | None = None
    n: str = ""  # what the test is over, e.g. "3+3 trials" or "12 pairs"
    decision: str = NOT_COMPARED  # decide()'s, once tested
    verdict: str = ""  # faster, slower, higher/lower recall, SAME, undecided, or why not compared
    worse_by: float = 0.0  # percent (timings) or percentage points (recall) worse; 0 if better

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < 1 - intervals.LEVEL


def _timing_row(pair: str, timed: Timed, b: Evidence, c: Evidence) -> Row | None:
    """None when neither run timed this series (a hybrid run has no batch)."""
    metric = timed.metric
    measure = metric.label + (f" ({metric.unit})" if metric.unit else "")
    missing = [
        f"{side}: {e.no_timings}" for side, e in (("baseline", b), ("candidate", c)) if e.no_timings
    ]
    if missing:
        why = "not compared: " + "; ".join(missing)
        return Row(pair, measure, True, metric.higher_is_better, verdict=why)
    units_b, units_c = b.timings.get(metric.pattern), c.timings.get(metric.pattern)
    if units_b is None or units_c is None:
        if units_b is None and units_c is None:
            return None
        side = "baseline" if units_b is None else "candidate"
        why = f"not compared: the {side} did not time the {timed.series} series"
        return Row(pair, measure, True, metric.higher_is_better, verdict=why)
    if b.paired and c.paired:
        change, n = intervals.paired_ratio(units_b, units_c), f"{len(units_b)} pairs"
    else:
        unit = b.unit if b.unit == c.unit else f"{b.unit}/{c.unit}"
        change, n = intervals.ratio(units_b, units_c), f"{len(units_b)}+{len(units_c)} {unit}"
    # How much worse the candidate is, in percent: fewer queries per second, or more latency.
    worse = 1 - change.value if metric.higher_is_better else change.value - 1
    return Row(
        pair,
        measure,
        True,
        metric.higher_is_better,
        intervals.log_mean(units_b),
        intervals.log_mean(units_c),
        change,
        n=n,
        worse_by=max(100 * worse, 0.0),
    )


def _recall_row(pair: str, b: Evidence, c: Evidence) -> Row:
    measure = definitions.RECALL.label.format(k=b.k)
    if b.k != c.k:
        return Row(pair, measure, False, True, verdict=f"not compared: k differs ({b.k} vs {c.k})")
    if b.recall is None or c.recall is None:
        return Row(
            pair, measure, False, True, verdict="not compared: a run has no per-query recall"
        )
    same_queries = len(b.recall) == len(c.recall) and (
        b.query_ids is None or c.query_ids is None or np.array_equal(b.query_ids, c.query_ids)
    )
    if not same_queries:
        return Row(
            pair, measure, False, True, verdict="not compared: the runs answered other queries"
        )
    change = intervals.paired_difference(b.recall, c.recall)
    return Row(
        pair,
        measure,
        False,
        True,
        intervals.mean(b.recall),
        intervals.mean(c.recall),
        change,
        n=f"{len(b.recall)} queries",
        worse_by=max(-100 * change.value, 0.0),
    )


def _decided(row: Row, precision: float) -> Row:
    """The row with its decision and its verdict in words."""
    if row.change is None:
        return row
    none = 1 if row.ratio else 0
    excludes_none = not row.change.low <= none <= row.change.high
    width = half_width(row.change, row.ratio)
    decision = decide(row.significant, excludes_none, width, precision)
    if decision == NO_CHANGE:
        verdict = SAME
    elif decision == UNDECIDED:
        shown = f"±{width:.1f}%" if row.ratio else f"±{width:.2f} pp"
        verdict = f"undecided: {shown} after {row.n}"
    elif not row.ratio:
        verdict = "higher recall" if row.change.value > none else "lower recall"
    else:
        up = row.change.value > none
        verdict = "faster" if up == row.higher_is_better else "slower"
    return replace(row, decision=decision, verdict=verdict)


def rows(pairs: list[tuple[str, Evidence, Evidence]], precision: float) -> list[Row]:
    """Every pair's rows (its timings, then recall), the p-values adjusted over all of them, each
    decided at ±`precision` (percent of a ratio, percentage points of recall)."""
    out = [
        row
        for label, b, c in pairs
        for row in (*(_timing_row(label, t, b, c) for t in TIMINGS), _recall_row(label, b, c))
        if row is not None
    ]
    tested = [i for i, row in enumerate(out) if row.change is not None]
    if tested:
        _, adjusted, _, _ = multipletests([out[i].change.p for i in tested], method="holm")
        for i, p in zip(tested, adjusted, strict=True):
            out[i] = replace(out[i], p_holm=float(p))
    return [_decided(row, precision) for row in out]


def regressions(table: list[Row], fail_above: float | None) -> list[Row]:
    """The decided changes for the worse by more than `fail_above` (percent for timings,
    percentage points for recall); none without a gate."""
    if fail_above is None:
        return []
    return [row for row in table if row.decision == CHANGED and row.worse_by > fail_above]


def worst_case(row: Row) -> float:
    """The most the candidate can be worse by within the row's 95% interval: percent for
    timings, percentage points for recall."""
    if not row.ratio:
        return -100 * row.change.low
    return 100 * (1 - row.change.low if row.higher_is_better else row.change.high - 1)


def unsettled(table: list[Row], fail_above: float | None) -> list[Row]:
    """The rows a gate cannot pass on: not compared, or undecided with an interval that reaches
    a change for the worse beyond `fail_above`; none without a gate. Every row is a gated measure
    (qps, p99, batch_qps, recall); a series neither side timed has no row."""
    if fail_above is None:
        return []
    return [
        row
        for row in table
        if row.decision == NOT_COMPARED
        or (row.decision == UNDECIDED and worst_case(row) > fail_above)
    ]
