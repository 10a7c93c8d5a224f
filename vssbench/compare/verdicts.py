"""Per pair and measure: both sides' estimates, the change with its 95% interval, the test's
p-value and a verdict in benchstat's words; and which changes a --fail-above gate trips on.
Pure: evidence in, rows out (the statistics are measure/intervals.py's)."""

from dataclasses import dataclass, replace

import numpy as np
from statsmodels.stats.multitest import multipletests

from vssbench.compare.evidence import TIMINGS, Evidence, Timed
from vssbench.measure import definitions, intervals

SAME = "no significant difference"
# Short names for a row; the output's legend names each test in full.
SHORT_TEST = {intervals.WELCH: "Welch", intervals.WILCOXON: "Wilcoxon"}


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
    n: str = ""  # what the test is over, e.g. "3+3 trials"
    verdict: str = ""  # faster, slower, higher/lower recall, SAME, or why it was not compared
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
    change = intervals.ratio(units_b, units_c)
    # How much worse the candidate is, in percent: fewer queries per second, or more latency.
    worse = 1 - change.value if metric.higher_is_better else change.value - 1
    unit = b.unit if b.unit == c.unit else f"{b.unit}/{c.unit}"
    return Row(
        pair,
        measure,
        True,
        metric.higher_is_better,
        intervals.log_mean(units_b),
        intervals.log_mean(units_c),
        change,
        n=f"{len(units_b)}+{len(units_c)} {unit}",
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


def _verdict(row: Row) -> str:
    if row.change is None:
        return row.verdict
    if not row.significant:
        return SAME
    up = row.change.value > (1 if row.ratio else 0)
    if not row.ratio:
        return "higher recall" if up else "lower recall"
    return "faster" if up == row.higher_is_better else "slower"


def rows(pairs: list[tuple[str, Evidence, Evidence]]) -> list[Row]:
    """Every pair's rows (its timings, then recall), the p-values adjusted over all of them."""
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
    return [replace(row, verdict=_verdict(row)) for row in out]


def regressions(table: list[Row], fail_above: float | None) -> list[Row]:
    """The significant changes for the worse by more than `fail_above` (percent for timings,
    percentage points for recall); none without a gate."""
    if fail_above is None:
        return []
    return [row for row in table if row.significant and row.worse_by > fail_above]
