"""compare --run: vssbench measures the two sides itself, in pairs of trials until the QPS ratio
is known to ±precision. Every trial runs in a fresh process on the cached index (built by a
side's first trial if missing); trial i of each side form pair i, the two run next to each other
in time (A B, B A, A B, ...), so that the machine's drift over minutes falls on both alike and
drops out of the pair's ratio. Pairs are added on the interval's width alone, never on the
test's p-value (which would stop on the first chance "difference"); even so, pairs whose spread
looks small by chance stop early, which raised the paired t-test's 5% rate of false differences
to 4.6-7.5% in simulation (scripts/compare_check.py --simulate, docs/report.md)."""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vssbench.compare import verdicts
from vssbench.compare.evidence import Evidence, headline_units
from vssbench.data.load import load_dataset
from vssbench.measure import definitions, intervals
from vssbench.run import timings, trials
from vssbench.run.plan import RunPlan
from vssbench.run.scoring import exact_recall

log = logging.getLogger(__name__)

QPS = definitions.QPS.pattern


@dataclass(frozen=True)
class Until:
    """When compare --run stops adding pairs: the QPS ratio's 95% interval within ±precision
    percent of it, or `most` pairs, or `budget_s` seconds spent; never before `least` pairs."""

    precision: float
    least: int
    most: int
    budget_s: float


@dataclass(frozen=True)
class Measured:
    evidence: Evidence
    passes: pd.DataFrame  # every trial's passes, saved with the comparison


@dataclass(frozen=True)
class Outcome:
    sides: list[Measured]  # baseline, candidate
    pairs: int
    seconds: float
    stopped: str  # why no more pairs were added


def next_batch(until: Until, pairs: int, width: float, needed: int, spent_s: float) -> int | str:
    """How many pairs to add next, or why to stop. `width` is the QPS ratio's interval's larger
    side in percent, `needed` the pairs its current spread asks for (intervals.pairs_needed)."""
    if width <= until.precision:
        return f"the QPS ratio's 95% interval is within ±{until.precision:g}%"
    if pairs >= until.most:
        return f"--max-pairs {until.most} reached"
    # No batch that would run past the budget, at the pace of the pairs so far.
    fit = (until.budget_s - spent_s) / (spent_s / pairs)
    if fit < 1:
        return f"--budget-s {until.budget_s:g} spent"
    # At most as many again as there are: the spread of a few pairs is a rough guide.
    return int(min(max(needed - pairs, 1), pairs, until.most - pairs, fit))


def measure(plans: list[RunPlan], until: Until) -> Outcome:
    """Pairs of trials of the two plans (baseline, candidate) until `until` says stop."""
    started = time.perf_counter()
    done: list[list[trials.Trial]] = [[], []]
    step: int | str = until.least
    while isinstance(step, int):
        batch = trials.interleaved(plans, step, first=len(done[0]) + 1)
        for side, new in zip(done, batch, strict=True):
            side.extend(new)
        b, c = (_units(side)[QPS] for side in done)
        qps = intervals.paired_ratio(b, c)
        width = verdicts.half_width(qps, ratio=True)
        needed = intervals.pairs_needed(b, c, until.precision, until.most)
        spent = time.perf_counter() - started
        log.info(
            "%d pairs in %.0fs: QPS ratio %.3f ±%.1f%% (until ±%g%%; at this spread %d pairs)",
            len(b),
            spent,
            qps.value,
            width,
            until.precision,
            needed,
        )
        step = next_batch(until, len(b), width, needed, spent)
    sides = [_measured(plan, side) for plan, side in zip(plans, done, strict=True)]
    return Outcome(sides, len(done[0]), time.perf_counter() - started, step)


def _passes(side: list[trials.Trial]) -> pd.DataFrame:
    return timings.passes_frame([t.timings for t in side])


def _units(side: list[trials.Trial]) -> dict[str, np.ndarray]:
    """Per compared timing its value per trial, in trial order (so pair order)."""
    return headline_units(_passes(side), side[0].head_series)["timings"]


def _measured(plan: RunPlan, side: list[trials.Trial]) -> Measured:
    """A side's evidence: its timings per trial, paired with the other side's, and its recall.
    A pass that other processes disturbed is kept: it is the pair's, whose ratio it makes an
    outlier, so it widens the interval rather than tilting the verdict (machine_load says)."""
    passes = _passes(side)
    first = side[0]
    k = plan.search.k
    # Recall per query of the headline's ef point (for hybrid, its vector half): the trials
    # search one index, so the first trial's typical pass stands for all of them.
    point = next(t for t in first.timings if t.series == first.head_ef_series)
    data = load_dataset(plan.data, plan.cache_dir)
    recall = exact_recall(data, point.typical.ids, k, plan.build.metric)
    fields = headline_units(passes, first.head_series)
    return Measured(Evidence(k=k, recall=recall, paired=True, **fields), passes)


def machine_load(outcome: Outcome, busy_above: float) -> str:
    """What other processes took of the CPU during the timed passes of both sides, and whether
    that made the machine busy (a pass above `busy_above`, bench.max_other_cpu_share)."""
    shares = pd.concat([side.passes["other_cpu_share"] for side in outcome.sides])
    most, median = 100 * shares.max(), 100 * shares.median()
    seen = (
        f"other processes took up to {most:.0f}% of the CPU during a timed pass "
        f"(median {median:.0f}%)"
    )
    if shares.max() <= busy_above:
        return f"{seen}, within bench.max_other_cpu_share={busy_above:g}"
    return (
        f"the machine was busy during the comparison: {seen}, above "
        f"bench.max_other_cpu_share={busy_above:g}; the verdicts stand, with wider intervals"
    )


def save(outcome: Outcome, into: Path) -> list[Path]:
    """Each side's passes as a parquet file, so every number of the table can be recomputed."""
    paths = []
    for name, side in zip(("baseline", "candidate"), outcome.sides, strict=True):
        path = into / f"{name}_passes.parquet"
        side.passes.to_parquet(path, index=False)
        paths.append(path)
    return paths
