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

log = logging.getLogger(__name__)

# What a client level logs, as steps (step = clients).
CLIENT_METRICS = ("qps", "latency_p50_ms", "latency_p99_ms", "other_cpu_share")


def batch(
    eng: Engine, data: Dataset, head: Point, k: int, metric: str, repeats: int, params: dict
) -> dict[str, float]:
    """All queries in one statement at the headline ef: QPS, recall, agreement with the single
    queries, and the share of a single query's latency that is per-statement client overhead.
    Records in `params` whether (and with which statement) it was measured."""
    single = head.timing
    try:
        with eng.batch(data.query_vectors) as plan:
            timed = timing.repeated(
                lambda: timing.batch_pass(eng.batch_query), eng.batch_query, repeats
            )
    except Unsupported as refused:
        log.info("batch: not measured: %s", refused)
        params["batch"] = f"not measured: {refused}"
        return {}
    params["batch"] = "measured"
    params["batch_sql"] = eng.batch_sql
    ids = [found[:k] for found in timed.best.results]
    same = np.mean([set(a.tolist()) == set(b.tolist()) for a, b in zip(ids, head.ids, strict=True)])
    recall = float(exact_recall(data, ids, k, metric).mean())
    per_query_s = 1 / timed.best.qps
    single_mean_s = single.best.latencies_ns.mean() / 1e9
    log.info(
        "batch at ef %d: %.0f QPS (single %.0f), recall@%d %.3f, same ids as single queries %.0f%%",
        head.ef,
        timed.best.qps,
        single.best.qps,
        k,
        recall,
        100 * same,
    )
    if eng.checks_plan:
        params["batch_plan_uses_hnsw"] = str("HNSW_INDEX_JOIN" in plan)
    return {
        "batch_qps": timed.best.qps,
        "batch_qps_median": float(np.median([p.qps for p in timed.passes])),
        f"batch_{definitions.RECALL.name(k)}": recall,
        "batch_same_ids_share": float(same),
        "client_overhead_share": max(0.0, 1 - per_query_s / single_mean_s),
    }


def clients(
    eng: Engine, data: Dataset, values: np.ndarray, head: Point, settings: TimingSettings
) -> dict[int, Timing]:
    """QPS and latency with N clients at once, each with its own cursor, at the headline ef;
    one client is the headline point itself."""
    n = len(data.queries)
    warm = query_step(eng, data, values)
    out = {}
    for count in settings.clients:
        if count == 1:
            out[1] = head.timing
            continue
        out[count] = _concurrent(eng, data, values, warm, n, count, settings)
        t = out[count]
        log.info(
            "%d clients: %.0f QPS, p50 %.2f ms, p99 %.2f ms",
            count,
            t.best.qps,
            t.summary()["latency_p50_ms"],
            t.summary()["latency_p99_ms"],
        )
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
        return timing.repeated(
            lambda: timing.concurrent_pass(steps, n),
            lambda: timing.warm_up(warm, settings.warmup),
            settings.repeats,
        )
    finally:
        for c in cursors:
            if c is not eng:  # a library's clients are the engine itself
                c.close()


def client_steps(timings: dict[int, Timing]) -> dict[str, list[tuple[int, float]]]:
    """The client levels as MLflow steps: clients.<metric> -> (clients, value)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for count, client_timing in timings.items():
        summary = client_timing.summary()
        for name in CLIENT_METRICS:
            out.setdefault(f"clients.{name}", []).append((count, summary[name]))
    return out
