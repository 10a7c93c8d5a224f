"""HPO you can trust: trials are distinct configurations, a disturbed run's QPS is never an
objective, and optimization_results.yaml names its values. The sweep itself, end to end:
tests/test_sweeps.py."""

import logging
import math
from pathlib import Path

import optuna
import pytest
import yaml
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

from vssbench.sweep.distinct import DistinctNSGAIISampler, DistinctTPESampler
from vssbench.sweep.objective import HpoSettings, labelled, objective
from vssbench.sweep.results import Job, relabelled

CONF = Path(__file__).resolve().parents[1] / "conf"
RECALL_QPS = HpoSettings("recall_qps", 0.95)
QPS_AT_RECALL = HpoSettings("qps_at_recall", 0.95)


def _space(*overrides: str) -> dict:
    """hparams_search=hnsw_optuna's search space, as the sweeper parses it."""
    config = yaml.safe_load((CONF / "hparams_search" / "hnsw_optuna.yaml").read_text())
    params = [f"{name}={value}" for name, value in config["hydra"]["sweeper"]["params"].items()]
    space, fixed = create_params_from_overrides([*params, *overrides])
    return {name: dist for name, dist in space.items() if name not in fixed}


def _study(sampler: optuna.samplers.BaseSampler, space: dict, n_trials: int) -> list[tuple]:
    """The sweeper's loop (ask, suggest each param, tell); the configurations tried."""
    objectives = 1 if isinstance(sampler, optuna.samplers.TPESampler) else 2
    study = optuna.create_study(directions=["maximize"] * objectives, sampler=sampler)
    tried = []
    for _ in range(n_trials):
        trial = study.ask()
        for name, distribution in space.items():
            trial._suggest(name, distribution)
        recall, qps = _values(trial.params)
        study.tell(trial, [recall, qps] if objectives == 2 else [qps if recall > 0.9 else recall])
        tried.append(tuple(sorted(trial.params.items())))
    return tried


def _values(params: dict) -> tuple[float, float]:
    """Recall and QPS that depend on the configuration only, as a skipped run's stored
    metrics do."""
    ef, m, efc = (params.get(n, 64) for n in ("hnsw.ef_search", "hnsw.M", "hnsw.ef_construction"))
    return 1 - math.exp(-ef * m / 500), 1e5 / (ef + efc)


@pytest.mark.parametrize(
    ("plain", "distinct", "options", "n_trials"),
    [
        (optuna.samplers.NSGAIISampler, DistinctNSGAIISampler, {"population_size": 8}, 24),
        (optuna.samplers.TPESampler, DistinctTPESampler, {"n_startup_trials": 8}, 20),
    ],
    ids=["nsgaii", "tpe"],
)
def test_samplers_repeat_configurations_and_their_distinct_kind_does_not(
    plain, distinct, options, n_trials
):
    space = _space()  # hparams_search=hnsw_optuna's 3 x 4 x 6 = 72 configurations
    repeated = _study(plain(seed=42, **options), space, n_trials)
    assert len(set(repeated)) < n_trials  # trials the sweeper counted as new
    assert len(set(_study(distinct(seed=42, **options), space, n_trials))) == n_trials


def test_a_spent_search_space_runs_a_configuration_again_and_says_so(caplog):
    space = _space("hnsw.M=choice(8,16)", "hnsw.ef_construction=64", "hnsw.ef_search=10")
    sampler = DistinctNSGAIISampler(seed=1, population_size=2)
    with caplog.at_level(logging.INFO, logger="vssbench"):
        tried = _study(sampler, space, 3)
    assert len(set(tried[:2])) == 2 and tried[2] in tried[:2]
    assert "the search space has no other: one runs again" in caplog.text


def test_a_disturbed_run_gives_no_qps_objective():
    metrics = {"recall_at_10": 0.97, "qps": 1234.0}
    assert objective(metrics, 10, RECALL_QPS) == [0.97, 1234.0]
    assert objective(metrics, 10, RECALL_QPS, disturbed=True) is None
    assert objective(metrics, 10, QPS_AT_RECALL) == 1234.0
    assert objective(metrics, 10, QPS_AT_RECALL, disturbed=True) is None
    # Below min_recall the value is recall's shortfall, which a disturbed timing leaves alone.
    low = {"recall_at_10": 0.9, "qps": 5000.0}
    assert objective(low, 10, QPS_AT_RECALL, disturbed=True) == pytest.approx(-0.05)
    assert objective(metrics, 10, HpoSettings("recall", 0.95), disturbed=True) == 0.97


def test_values_are_named_by_what_they_measure():
    assert labelled([0.97, 1234.0], 10, RECALL_QPS) == {"recall_at_10": 0.97, "qps": 1234.0}
    assert labelled([1234.0], 20, QPS_AT_RECALL) == {"qps": 1234.0}
    assert labelled([-0.05], 10, QPS_AT_RECALL) == {"recall_at_10_minus_min_recall": -0.05}


def test_results_list_each_configuration_once_with_its_run():
    # Two Pareto entries of one configuration (what the sweeper wrote before, with repeats).
    raw = {
        "name": "optuna",
        "solutions": [
            {"params": {"hnsw.M": 8}, "values": [0.97, 1234.0]},
            {"params": {"hnsw.M": 8}, "values": [0.97, 1234.0]},
            {"params": {"hnsw.M": 16}, "values": [0.99, 900.0]},
        ],
    }
    jobs = [
        Job(["hnsw.M=8", "scale=tiny"], {"status": "finished", "run_id": "a", "run": "m8"}),
        Job(["hnsw.M=16", "scale=tiny"], {"status": "finished", "run_id": "b", "run": "m16"}),
        Job(
            ["hnsw.M=32", "scale=tiny"],
            {"status": "finished", "run_id": "c", "run": "m32", "timing_disturbed": True},
        ),
    ]
    assert relabelled(raw, jobs, 10, RECALL_QPS) == {
        "name": "optuna",
        "objective": "recall_qps",
        "trials": 3,
        "configurations": 3,
        "solutions": [
            {
                "params": {"hnsw.M": 8},
                "values": {"recall_at_10": 0.97, "qps": 1234.0},
                "run_id": "a",
            },
            {
                "params": {"hnsw.M": 16},
                "values": {"recall_at_10": 0.99, "qps": 900.0},
                "run_id": "b",
            },
        ],
        "timing_disturbed": ["m32"],
    }
    best = relabelled(
        {"name": "optuna", "best_params": {"hnsw.M": 16}, "best_value": 900.0},
        jobs,
        10,
        QPS_AT_RECALL,
    )
    assert best["best"] == {"params": {"hnsw.M": 16}, "values": {"qps": 900.0}, "run_id": "b"}
