"""Ctrl-C and SIGTERM: the first stops the run under way (Interrupted) and, in a sweep, every
job after it; a second, more than a second later, exits at once."""

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

STOP_FILE = "vssbench_stop.json"  # in a sweep dir: why the sweep stops; later jobs do not run
_DEBOUNCE_S = 1.0  # one Ctrl-C reaches a job both from the terminal and from the sweep's process


class Interrupted(BaseException):
    """A signal stopped the run. Not an Exception: code that handles errors must let it pass."""


_received: dict[str, float] = {}
_in_job: list[bool] = [False]


def install(sweep_dir: Path | None) -> None:
    """Handle SIGINT and SIGTERM in this process: inside `job()`, raise Interrupted where the
    run is; outside (between jobs, or a sweep's process waiting for jobs in worker processes)
    pass the signal on to the workers. Either way the sweep in `sweep_dir` stops."""

    def handler(signum: int, frame: object) -> None:
        if _received and time.monotonic() - _received["at"] > _DEBOUNCE_S:
            os._exit(128 + signum)
        if _received:
            return
        _received.update(signal=signum, at=time.monotonic())
        name = signal.Signals(signum).name
        if sweep_dir is not None:
            request(sweep_dir, f"interrupted ({name})")
        if _in_job[0]:
            raise Interrupted(name)
        for child in psutil.Process().children(recursive=True):
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


@contextmanager
def job() -> Iterator[None]:
    """While a run is under way: a signal raises Interrupted in it."""
    _in_job[0] = True
    try:
        yield
    finally:
        _in_job[0] = False


def received() -> str | None:
    """The signal this process received, if any (SIGINT, SIGTERM)."""
    return signal.Signals(int(_received["signal"])).name if _received else None


def request(sweep_dir: Path, reason: str) -> None:
    """The sweep stops: jobs that start after this do not run."""
    path = sweep_dir / STOP_FILE
    if not path.exists():
        path.write_text(json.dumps({"reason": reason, "pid": os.getpid()}))


def requested(sweep_dir: Path) -> str | None:
    path = sweep_dir / STOP_FILE
    return json.loads(path.read_text())["reason"] if path.exists() else None


def clear(sweep_dir: Path) -> None:
    (sweep_dir / STOP_FILE).unlink(missing_ok=True)
