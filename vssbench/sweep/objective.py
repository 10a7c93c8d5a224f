"""What a run returns to Hydra's sweepers: one float, or a list of floats for several objectives,
and the same values under their names for optimization_results.yaml."""

import logging
from dataclasses import dataclass

from vssbench.measure.definitions import QPS, RECALL

log = logging.getLogger("vssbench")


@dataclass(frozen=True)
class HpoSettings:
    """hpo.*: what a run returns to a sweeper; does not change what is measured."""

    objective: str  # recall | recall_qps | qps_at_recall
    min_recall: float


def objective(
    metrics: dict[str, float], k: int, hpo: HpoSettings, disturbed: bool = False
) -> float | list[float] | None:
    """recall: recall@k. recall_qps: [recall@k, QPS] (maximize both; NSGA-II).
    qps_at_recall: QPS when recall@k >= hpo.min_recall, else recall@k - min_recall (negative,
    so every feasible trial beats every infeasible one, and nearer misses rank higher).

    None when the value would need a `disturbed` run's QPS: the Optuna sweeper records a failed
    trial, which no sampler learns from and no Pareto list or best trial holds. A number in its
    place would be a guess that steers the sampler, and none cannot win: a disturbed run with
    the best recall stays on the Pareto list whatever QPS it is given. (NaN is no way out: the
    sweeper then tells Optuna a failed trial with values, which raises and ends the sweep.)
    """
    if hpo.objective not in ("recall", "recall_qps", "qps_at_recall"):
        raise ValueError(f"unknown hpo.objective {hpo.objective!r}")
    recall, qps = metrics[RECALL.name(k)], metrics[QPS.name(k)]
    if hpo.objective == "recall":
        return recall
    if hpo.objective == "qps_at_recall" and recall < hpo.min_recall:
        return recall - hpo.min_recall  # no QPS in it: a disturbed run's is as good as any
    if disturbed:
        log.warning(
            "timing disturbed: no value for the sweeper, which records a failed trial "
            "(force=true on a quiet machine measures it again)"
        )
        return None
    return [recall, qps] if hpo.objective == "recall_qps" else qps


def labelled(values: list[float], k: int, hpo: HpoSettings) -> dict[str, float]:
    """`values` as objective() returned them, each under its metric's name; qps_at_recall's one
    value is QPS when feasible, else recall@k - min_recall (negative)."""
    recall, qps = RECALL.name(k), QPS.name(k)
    names = {
        "recall": [recall],
        "recall_qps": [recall, qps],
        "qps_at_recall": [qps if values[0] >= 0 else f"{recall}_minus_min_recall"],
    }[hpo.objective]
    return dict(zip(names, values, strict=True))
