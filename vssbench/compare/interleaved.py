"""compare --run: vssbench measures the two sides itself, every trial in a fresh process on the
cached index (built by a side's first trial if missing), the sides' trials alternating in time
(A B, B A, A B, ...) so that the machine's drift over minutes falls on both alike."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vssbench.compare.evidence import Evidence, headline_units
from vssbench.data.load import load_dataset
from vssbench.run import timings, trials
from vssbench.run.plan import RunPlan
from vssbench.run.scoring import exact_recall


@dataclass(frozen=True)
class Measured:
    evidence: Evidence
    passes: pd.DataFrame  # every trial's passes, saved with the comparison


def measure(plans: list[RunPlan], count: int) -> list[Measured]:
    """`count` interleaved trials of each plan, as each side's evidence."""
    return [
        _evidence(plan, side)
        for plan, side in zip(plans, trials.interleaved(plans, count), strict=True)
    ]


def _evidence(plan: RunPlan, side: list[trials.Trial]) -> Measured:
    passes = timings.passes_frame([t.timings for t in side])
    first = side[0]
    k = plan.search.k
    # Recall per query of the headline's ef point (for hybrid, its vector half): the trials
    # search one index, so the first trial's typical pass stands for all of them.
    point = next(t for t in first.timings if t.series == first.head_ef_series)
    data = load_dataset(plan.data, plan.cache_dir)
    recall = exact_recall(data, point.typical.ids, k, plan.build.metric)
    fields: dict = {"no_timings": "timing disturbed (its retries ran out)"}
    if not timings.disturbed(passes, plan.timing.guard.max_share):
        fields = headline_units(passes, first.head_series)
    return Measured(Evidence(k=k, recall=recall, **fields), passes)


def save(measured: list[Measured], into: Path) -> list[Path]:
    """Each side's passes as a parquet file, so every number of the table can be recomputed."""
    paths = []
    for name, side in zip(("baseline", "candidate"), measured, strict=True):
        path = into / f"{name}_passes.parquet"
        side.passes.to_parquet(path, index=False)
        paths.append(path)
    return paths
