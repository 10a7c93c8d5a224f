"""The one place a run's configuration is read: the Hydra config, checked, becomes a RunPlan of
typed, frozen values (run/plan.py) that every stage below takes."""

from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from vssbench.config import dataset, identity
from vssbench.config.engine import engine_options
from vssbench.config.schema import FilterKind, SearchKind
from vssbench.engines.params import HnswBuild
from vssbench.engines.registry import ENGINES
from vssbench.measure.timing import Guard
from vssbench.run.plan import (
    ChurnSettings,
    EnginePlan,
    HybridSettings,
    RunIdentity,
    RunPlan,
    SearchPlan,
    TimingSettings,
    TrackingSettings,
    WorkloadPlan,
)
from vssbench.sweep.objective import HpoSettings
from vssbench.track.claim import ClaimSettings
from vssbench.track.store import StoreLocation


def read_plan(cfg: DictConfig) -> RunPlan:
    """The plan of a composed configuration: validated (ConfigError naming the first bad key),
    a file dataset's sizes read from its files, then every value read once."""
    cfg = dataset.checked(cfg)
    return RunPlan(
        identity=RunIdentity(
            fingerprint=identity.fingerprint(cfg),
            name=identity.run_name(cfg),
            params=identity.flat_params(cfg),
            config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        ),
        data=dataset.data_spec(cfg),
        build=HnswBuild(
            cfg.hnsw.metric.value, cfg.hnsw.M, cfg.hnsw.ef_construction, cfg.engine.threads
        ),
        engine=EnginePlan(
            name=cfg.engine.name.value,
            threads=cfg.engine.threads,
            options=engine_options(cfg.engine),
            exact=ENGINES[cfg.engine.name.value].exact,
        ),
        search=search_plan(cfg),
        timing=timing_settings(cfg),
        tracking=tracking_settings(cfg.tracking),
        cache_dir=Path(cfg.cache_dir),
        force=cfg.force or cfg.retime_build,  # a re-timed build makes a new run
        force_memory=cfg.force_memory,
        retime_build=cfg.retime_build,
        workload=workload_plan(cfg),
    )


def workload_plan(cfg: DictConfig) -> WorkloadPlan:
    w = cfg.workload
    churn = None
    if w.name.value == "churn":
        churn = ChurnSettings(w.initial, w.rounds, w.insert, w.delete, w["update"], w.kills)
    return WorkloadPlan(w.name.value, churn, w.restarts)


def search_plan(cfg: DictConfig) -> SearchPlan:
    ef = cfg.hnsw.ef_search
    search = cfg.search
    hybrid = None
    if search.name == SearchKind.hybrid:
        hybrid = HybridSettings(
            tokenizer=search.tokenizer.value,
            bm25=search.bm25.value,
            fusion=search.fusion.value,
            rrf_k=search.rrf_k,
            alpha=search.alpha,
            candidates=search.candidates,
            min_bm25_hit_rate=search.min_bm25_hit_rate,
        )
    return SearchPlan(
        k=cfg.k,
        ef_search=tuple(ef) if isinstance(ef, ListConfig) else ef,
        ef_curve=tuple(cfg.hnsw.ef_curve),
        column=None if cfg.filter.name == FilterKind.none else cfg.filter.name.value,
        strategy=cfg.filter.strategy.value,
        overfetch_factor=cfg.filter.overfetch_factor,
        hybrid=hybrid,
    )


def timing_settings(cfg: DictConfig) -> TimingSettings:
    return TimingSettings(
        warmup=cfg.queries.warmup,
        repeats=cfg.bench.repeats,
        trials=cfg.bench.trials,
        precision=cfg.bench.precision,
        max_trials=cfg.bench.max_trials,
        max_timing_s=cfg.bench.max_timing_s,
        clients=tuple(cfg.bench.clients),
        batch=cfg.bench.batch,
        guard=Guard(cfg.bench.max_other_cpu_share, cfg.bench.retries, cfg.bench.retry_pause_s),
    )


def store_location(tracking: DictConfig) -> StoreLocation:
    return StoreLocation(
        experiment=tracking.experiment,
        dir=tracking.dir,
        uri=tracking.uri,
        retries=tracking.retries,
        timeout_s=tracking.request_timeout_s,
    )


def claim_settings(tracking: DictConfig) -> ClaimSettings:
    return ClaimSettings(tracking.heartbeat_s, tracking.stale_s, tracking.settle_s)


def tracking_settings(tracking: DictConfig) -> TrackingSettings:
    return TrackingSettings(
        location=store_location(tracking),
        claims=claim_settings(tracking),
        system_metrics_interval_s=tracking.system_metrics_interval_s,
    )


def hpo_settings(hpo: DictConfig) -> HpoSettings:
    return HpoSettings(objective=hpo.objective.value, min_recall=hpo.min_recall)
