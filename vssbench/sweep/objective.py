"""What a run returns to Hydra's sweepers: one float, or a list of floats for several objectives."""

from dataclasses import dataclass

from vssbench.measure.definitions import QPS, RECALL


@dataclass(frozen=True)
class HpoSettings:
    """hpo.*: what a run returns to a sweeper; does not change what is measured."""

    objective: str  # recall | recall_qps | qps_at_recall
    min_recall: float


def objective(metrics: dict[str, float], k: int, hpo: HpoSettings) -> float | list[float]:
    """recall: recall@k. recall_qps: [recall@k, QPS] (maximize both; NSGA-II).
    qps_at_recall: QPS when recall@k >= hpo.min_recall, else recall@k - min_recall (negative,
    so every feasible trial beats every infeasible one, and nearer misses rank higher)."""
    recall, qps = metrics[RECALL.name(k)], metrics[QPS.name(k)]
    if hpo.objective == "recall":
        return recall
    if hpo.objective == "recall_qps":
        return [recall, qps]
    if hpo.objective == "qps_at_recall":
        return qps if recall >= hpo.min_recall else recall - hpo.min_recall
    raise ValueError(f"unknown hpo.objective {hpo.objective!r}")
