"""What one run does, as typed, frozen values read once from the configuration (config/plan.py):
every stage of the run takes these, never the Hydra config."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vssbench.data.load import DataSpec
from vssbench.engines.params import HnswBuild
from vssbench.measure.timing import Guard

if TYPE_CHECKING:  # the measurement, and a trial's process, need no MLflow
    from vssbench.track.claim import ClaimSettings
    from vssbench.track.store import StoreLocation


def no_pause() -> None:
    """Between two timed series where no other process waits for its turn: nothing to do."""


@dataclass(frozen=True)
class RunIdentity:
    """How the run is found again and named: its fingerprint, its name, its flat params and the
    resolved configuration it logs."""

    fingerprint: str
    name: str
    params: dict[str, str]
    config_yaml: str


@dataclass(frozen=True)
class EnginePlan:
    name: str
    threads: int
    options: object  # the engine's own options dataclass (engines/registry.py)
    exact: bool  # no approximate index: every row is scanned, filtered or not


@dataclass(frozen=True)
class HybridSettings:
    """search=hybrid: the BM25 half, the fusion and the check that Korean text reached BM25."""

    tokenizer: str
    bm25: str
    fusion: str
    rrf_k: int
    alpha: float
    candidates: int
    min_bm25_hit_rate: float


@dataclass(frozen=True)
class SearchPlan:
    """What every query asks: k results at the listed ef values, filtered how, hybrid or not."""

    k: int
    ef_search: int | tuple[int, ...]
    ef_curve: tuple[int, ...]  # measured beside ef_search
    column: str | None  # the filter's metadata column, None without a filter
    strategy: str
    overfetch_factor: int
    hybrid: HybridSettings | None


@dataclass(frozen=True)
class TimingSettings:
    """How queries are timed (measure/timing.py)."""

    warmup: int
    repeats: int
    trials: int  # at least this many
    precision: float  # then more until the headline QPS half-width is within this share
    max_trials: int
    max_timing_s: float
    clients: tuple[int, ...]
    batch: bool
    guard: Guard  # when a disturbed pass is timed again
    # Set in a timing worker only (run/trial_worker.py): how far its trial rotates the ef
    # points' order, and what it calls before each timed series (the run's process lets its own
    # threads act then, never while a pass runs).
    rotation: int = 0
    between: Callable[[], None] = no_pause


@dataclass(frozen=True)
class ChurnSettings:
    """workload=churn: the runbook's shape (workload/runbook.py) and the crash test."""

    initial: float
    rounds: int
    insert: float
    delete: float
    update: float
    kills: int


@dataclass(frozen=True)
class WorkloadPlan:
    name: str  # static, churn or restart
    churn: ChurnSettings | None = None
    restarts: int = 0  # restart: fresh processes, each timed cold and then warm


STATIC = WorkloadPlan("static")


@dataclass(frozen=True)
class TrackingSettings:
    location: "StoreLocation"
    claims: "ClaimSettings"
    system_metrics_interval_s: float


@dataclass(frozen=True)
class RunPlan:
    identity: RunIdentity
    data: DataSpec
    build: HnswBuild
    engine: EnginePlan
    search: SearchPlan
    timing: TimingSettings
    tracking: TrackingSettings | None  # None in a trial's process, which tracks nothing
    cache_dir: Path
    force: bool  # run even when a finished run has the fingerprint
    force_memory: bool  # run even when the memory estimate exceeds what is available
    retime_build: bool  # build a cached index again to time its build
    workload: WorkloadPlan = STATIC
