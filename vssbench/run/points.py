"""The measured query settings of a run: the headline point and the ef curve, each timed by the
harness and scored against exact search."""

import logging
from dataclasses import dataclass

import numpy as np

from vssbench.data.load import Dataset
from vssbench.engines.params import QuerySettings, ef_points, headline_ef_search
from vssbench.engines.seam import Engine
from vssbench.measure import definitions, intervals, timing
from vssbench.measure.timing import Step, Timing
from vssbench.run.plan import SearchPlan, TimingSettings
from vssbench.run.scoring import exact_recall
from vssbench.run.timings import ef_series

log = logging.getLogger(__name__)


@dataclass
class Point:
    """One measured query setting: effective ef, its timing, per-query recall, ids found."""

    ef: int
    timing: Timing
    recall: np.ndarray
    ids: list[np.ndarray]


def settings(search: SearchPlan, exact: bool, ef_search: int, values: np.ndarray) -> QuerySettings:
    """The query settings at one ef: what the index is asked for, the filter and its strategy."""
    return QuerySettings(
        ef_search=ef_search,
        limit=search.hybrid.candidates if search.hybrid else search.k,
        # An exact engine scans every row, filtered or not, unless asked to filter after its
        # top k (sqlite_vec's post).
        strategy="exact" if exact and search.strategy != "post" else search.strategy,
        overfetch_factor=search.overfetch_factor,
        column=search.column,
        values=tuple(sorted(set(values.tolist()))) if search.column else (),
    )


def headline(search: SearchPlan, exact: bool, values: np.ndarray) -> QuerySettings:
    """The settings whose point gives the run's headline metrics; warns when the index is asked
    for more rows than ef_search, which then searches with that many."""
    ef = headline_ef_search(search.ef_search)
    head = settings(search, exact, ef, values)
    if head.rows_asked is not None and ef < head.rows_asked:
        log.warning(
            "hnsw.ef_search=%d is below the %d rows the index is asked for: it searches with "
            "ef %d, so this run measures ef %d",
            ef,
            head.rows_asked,
            head.effective_ef,
            head.effective_ef,
        )
    return head


def query_step(eng: Engine, data: Dataset, values: np.ndarray) -> Step:
    return lambda i: eng.query(data.query_vectors[i], values[i])


def one_client(step: Step, n: int, label: str, timed: TimingSettings) -> Timing:
    timed.between()
    return timing.one_client(step, n, label, timed.warmup, timed.repeats, timed.guard)


def rotated(efs: list[int], rotation: int) -> list[int]:
    """The ef points in the order a trial times them: each trial starts one point further, so
    that the machine's drift over a trial does not bend the curve the same way every time."""
    turn = rotation % len(efs) if efs else 0
    return efs[turn:] + efs[:turn]


def curve(
    eng: Engine,
    data: Dataset,
    search: SearchPlan,
    exact: bool,
    values: np.ndarray,
    timed: TimingSettings,
    metric: str,
    rows_asked: int | None,
) -> list[Point]:
    """Every ef point on the one index, timed in the trial's rotated order and returned
    ascending (`rows_asked`: the headline's); the engine is left at the last point timed."""
    k = search.k
    step = query_step(eng, data, values)
    points = []
    for ef in rotated(ef_points(search.ef_search, rows_asked, search.ef_curve), timed.rotation):
        eng.set_query(settings(search, exact, ef, values))
        point_timing = one_client(step, len(data.queries), f"queries at ef {ef}", timed)
        point_timing.series = ef_series(ef)
        point_timing.keep_ids(lambda found: eng.ids(found)[:k])
        ids = point_timing.typical.ids
        point = Point(ef, point_timing, exact_recall(data, ids, k, metric), ids)
        points.append(point)
    return sorted(points, key=lambda p: p.ef)


def recall_steps(points: list[Point], k: int) -> dict[str, list[tuple[int, float]]]:
    """The curve's recall with its interval over queries as MLflow steps (step = ef)."""
    name = definitions.curve_name(definitions.RECALL, k)
    out: dict[str, list[tuple[int, float]]] = {}
    for point in points:
        est = intervals.mean(point.recall)
        for suffix, value in (("", est.value), ("_ci_low", est.low), ("_ci_high", est.high)):
            out.setdefault(name + suffix, []).append((point.ef, value))
    return out
