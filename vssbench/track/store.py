"""MLflow: where the store is and how long a request to it may take, creating it and the
experiment, a run's system metrics, the host's tags."""

import logging
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow
import psutil
from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

log = logging.getLogger(__name__)


# Read once: mlflow.set_tracking_uri() writes MLFLOW_TRACKING_URI into the environment itself,
# and a value we set must not pass for the user's choice in later runs of the same process.
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


# A request to a tracking server is tried 1 + REQUEST_RETRIES times, each waiting at most
# REQUEST_TIMEOUT_S for the server, with 0, 2, 4 s between tries: by that schedule (computed,
# not timed) a server that is down costs about 6 s (refused connections) to 46 s (a host that
# does not answer) per call, not MLflow's default of 7 retries with a 120 s timeout (4 min
# 19 s seen on a closed port).
REQUEST_RETRIES = 3
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True)
class StoreLocation:
    """Where runs go: tracking.experiment in tracking.uri, else MLFLOW_TRACKING_URI, else a
    sqlite store under tracking.dir; and how long a request to a server may take."""

    experiment: str
    dir: str
    uri: str | None
    retries: int = REQUEST_RETRIES
    timeout_s: int = REQUEST_TIMEOUT_S


class TrackingError(RuntimeError):
    """The tracking store could not be reached or failed: the message says what to do."""

    kind = "tracking store failed"

    def __init__(self, message: str, saved: bool = False) -> None:
        super().__init__(message)
        self.saved = saved  # the run's results are kept on disk, the message says where


def _default_uri(tracking: StoreLocation) -> str | None:
    """None when the user chose a store (tracking.uri or MLFLOW_TRACKING_URI)."""
    if tracking.uri or USER_TRACKING_URI:
        return None
    return f"sqlite:///{Path(tracking.dir).resolve() / 'mlflow.db'}"


def short(error: BaseException) -> str:
    """The first line of the deepest cause: what failed, without MLflow's wrapping."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def tracking_uri(tracking: StoreLocation) -> str:
    """Explicit tracking.uri, else MLFLOW_TRACKING_URI, else a sqlite store under tracking.dir."""
    return tracking.uri or USER_TRACKING_URI or _default_uri(tracking)


def store_key(tracking: StoreLocation) -> str:
    """The setting that chose the store, for messages."""
    if tracking.uri:
        return "tracking.uri"
    return "MLFLOW_TRACKING_URI" if USER_TRACKING_URI else "tracking.dir"


def sqlite_path(tracking: StoreLocation) -> Path | None:
    """The database file of a local sqlite store; None for any other store."""
    uri = tracking_uri(tracking)
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def lock_dir(tracking: StoreLocation) -> Path | None:
    """Where per-fingerprint locks of a local sqlite store live (its host is the only one that
    writes it); None for a server, where runs claim their fingerprint through the server."""
    db = sqlite_path(tracking)
    return None if db is None else db.parent / "locks"


def prepare(tracking: StoreLocation) -> str:
    """Create the store and the experiment if needed; returns the experiment id.

    A new sqlite store is made in a temp file and renamed into place, under a lock that also
    covers the experiment's creation: a kill leaves no half-made store (MLflow's migrations,
    killed midway, left one that failed every later run) and concurrent first starts are safe.
    """
    uri = tracking_uri(tracking)
    db = sqlite_path(tracking)
    bound_requests(tracking)
    if db is None:
        mlflow.set_tracking_uri(uri)
        return _experiment_id(tracking)
    db.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db) + ".lock"):
        if not db.exists():
            _create_sqlite_store(db)
        mlflow.set_tracking_uri(uri)
        return _experiment_id(tracking)


def existing_uri(uri_option: str | None, default_dir: str) -> str:
    """The tracking URI a reading command uses (`uri_option`, else MLFLOW_TRACKING_URI, else the
    sqlite store under `default_dir`); a local store that does not exist is a TrackingError,
    not a new empty store."""
    location = StoreLocation(experiment="", dir=default_dir, uri=uri_option)
    bound_requests(location)
    uri, db = tracking_uri(location), sqlite_path(location)
    if db is not None and not db.exists():
        raise TrackingError(f"no MLflow store at {uri} (no file {db})")
    return uri


def bound_requests(tracking: StoreLocation) -> None:
    """MLflow reads its retry settings from the environment on every request."""
    # A warning per retry, each a long line, would bury the one line a failure ends in.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(tracking.retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0.5"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(tracking.timeout_s)


def _create_sqlite_store(db: Path) -> None:
    for leftover in db.parent.glob(f".{db.name}.*.tmp*"):  # killed creators' files
        leftover.unlink()
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    log.info("creating the MLflow store %s", db)
    store = SqlAlchemyStore(f"sqlite:///{tmp}", default_artifact_root=str(db.parent / "artifacts"))
    store.engine.dispose()
    os.replace(tmp, db)


def _experiment_id(tracking: StoreLocation) -> str:
    experiment = mlflow.get_experiment_by_name(tracking.experiment)
    if experiment is not None:
        return experiment.experiment_id
    # In the default store, artifacts sit beside the database; a chosen store keeps its own rule.
    local = _default_uri(tracking) is not None
    artifacts = (Path(tracking.dir).resolve() / "artifacts").as_uri() if local else None
    # MLflow 3's UI opens an experiment as a GenAI overview unless told it holds model runs.
    tags = {"mlflow.experimentKind": "custom_model_development"}
    try:
        return mlflow.create_experiment(tracking.experiment, artifact_location=artifacts, tags=tags)
    except MlflowException as error:
        # Another process created it since the lookup (two runs starting against a new
        # tracking server; a local store's lock rules this out).
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return mlflow.get_experiment_by_name(tracking.experiment).experiment_id


class SystemMetrics:
    """MLflow's own CPU and memory curves (system/*) sent to the run every `interval_s` (0: off)
    by MLflow's thread, which logs and drops what a store that is down refuses: nothing of the
    run's own results depends on it."""

    def __init__(self, run_id: str, interval_s: float) -> None:
        self._run_id, self._interval_s = run_id, interval_s
        self._monitor: SystemMetricsMonitor | None = None

    def start(self, resume: bool = False) -> None:
        if self._interval_s <= 0:
            return
        # Their start and stop messages, and a down store's refusals, are not worth lines.
        logging.getLogger("mlflow.system_metrics").setLevel(logging.ERROR)
        self._monitor = SystemMetricsMonitor(
            self._run_id,
            sampling_interval=self._interval_s,
            samples_before_logging=1,
            resume_logging=resume,
        )
        self._monitor.start()

    def finish(self) -> None:
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No sampling while the block runs (timing workers): the curves go on after it."""
        self.finish()
        try:
            yield
        finally:
            self.start(resume=True)


@contextmanager
def system_metrics(run_id: str, interval_s: float) -> Iterator[SystemMetrics]:
    """MLflow's system metrics of the run while the block runs; pausable (SystemMetrics)."""
    monitor = SystemMetrics(run_id, interval_s)
    monitor.start()
    try:
        yield monitor
    finally:
        monitor.finish()


def hardware_tags() -> dict[str, str]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "hw.cpu_count": str(psutil.cpu_count(logical=True)),
        "hw.ram_gb": f"{psutil.virtual_memory().total / 2**30:.1f}",
        "hw.cpu_model": cpu,
        "hw.python": platform.python_version(),
    }
