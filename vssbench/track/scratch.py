"""A run's temporary files (DuckDB spills, MLflow's and our own temp files) in one directory that
is removed when the run ends; what killed runs left is removed by the next run that starts.

The base dir the runs' dirs are made in (<cache>/scratch/<host>) stays, empty, like the cache's
other dirs: removing it when the last run ends would race with a run making its dir in it."""

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


def _owner_alive(name: str) -> bool:
    """A dir is named <pid>-<process start time>: alive only if that very process still runs
    (a pid reused by another process, as in a restarted container, does not count)."""
    pid, _, started = name.partition("-")
    try:
        return f"{psutil.Process(int(pid)).create_time():.3f}" == started
    except (ValueError, psutil.NoSuchProcess):
        return False


def remove_dead(base: Path) -> list[Path]:
    """Remove the scratch dirs of processes that are gone; returns what was removed."""
    dead = [path for path in base.iterdir() if path.is_dir() and not _owner_alive(path.name)]
    for path in dead:
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s, left by a run that did not end", path)
    return dead


@contextmanager
def scratch_dir(base: Path) -> Iterator[Path]:
    """This process's scratch dir under `base`, made the default for tempfile while it is open."""
    base.mkdir(parents=True, exist_ok=True)
    remove_dead(base)
    me = psutil.Process()
    path = base / f"{me.pid}-{me.create_time():.3f}"
    path.mkdir(exist_ok=True)
    previous, tempfile.tempdir = tempfile.tempdir, str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(path, ignore_errors=True)
