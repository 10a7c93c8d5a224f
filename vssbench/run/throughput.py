"""Beyond one client's single queries, at the headline ef: all queries in one batch statement,
and N concurrent clients."""

import logging

import numpy as np

from vssbench.data.load import Dataset
from vssbench.engines.seam import Engine, Unsupported
from vssbench.measure import definitions, timing
from vssbench.measure.timing import Step, Timing
from vssbench.run.plan import TimingSettings
from vssbench.run.points import Point, query_step
from vssbench.run.scoring import exact_recall
from vssbench.run.timings import BATCH, clients_series

log = logging.getLogger(__name__)


def batch(
    eng: Engine,
    data: Dataset,
    head: Point,
    k: int,
    metric: str,
    settings: TimingSettings,
    params: dict,
) -> tuple[dict[str, float], list[Timing]]:
    """All queries in one statement at the headline ef: its timing, recall and agreement with
    the single queries. Records in `params` whether (and with which statement) it was
    measured."""
    try:
        with eng.batch(data.query_vectors) as plan:
            settings.between()
            timed = timing.repeated(
                lambda: timing.batch_pass(eng.batch_query),
                eng.batch_query,
                settings.repeats,
                settings.guard,
                "batch",
            )
    except Unsupported as refused:
        log.info("batch: not measured: %s", refused)
        params["batch"] = f"not measured: {refused}"
        return {}, []
    params["batch"] = "measured"
    params["batch_sql"] = eng.batch_sql
    timed.series = BATCH
    timed.keep_ids(lambda found: np.asarray(found[:k]))
    ids = timed.typical.ids
    same = np.mean([set(a.tolist()) == set(b.tolist()) for a, b in zip(ids, head.ids, strict=True)])
    recall = float(exact_recall(data, ids, k, metric).mean())
    if eng.checks_plan:
        params["batch_plan_uses_hnsw"] = str("HNSW_INDEX_JOIN" in plan)
    return {
        f"batch_{definitions.RECALL.name(k)}": recall,
        "batch_same_ids_share": float(same),
    }, [timed]


def clients(
    eng: Engine, data: Dataset, values: np.ndarray, head: Point, settings: TimingSettings
) -> list[Timing]:
    """QPS and latency with N clients at once, each with its own cursor, at the headline ef;
    one client is the headline point itself."""
    n = len(data.queries)
    warm = query_step(eng, data, values)
    out = []
    for count in settings.clients:
        if count == 1:
            continue
        t = _concurrent(eng, data, values, warm, n, count, settings)
        t.series = clients_series(count)
        t.keep_ids(eng.ids)
        out.append(t)
    return out


def _concurrent(
    eng: Engine,
    data: Dataset,
    values: np.ndarray,
    warm: Step,
    n: int,
    count: int,
    settings: TimingSettings,
) -> Timing:
    cursors = [eng.client() for _ in range(count)]
    try:
        steps = [query_step(c, data, values) for c in cursors]
        settings.between()
        return timing.repeated(
            lambda: timing.concurrent_pass(steps, n),
            lambda: timing.warm_up(warm, settings.warmup),
            settings.repeats,
            settings.guard,
            f"{count} clients",
        )
    finally:
        for c in cursors:
            if c is not eng:  # a library's clients are the engine itself
                c.close()
