"""Every failure a user's input, machine or store can cause, as one line naming what failed and
what to do; anything else is a bug in vssbench, reported as such with its traceback in a file.
The one place the rule is kept: every entry point (a run, a sweep's callbacks, the report,
compare and sync) ends its failures through `one_line`."""

import errno
import re
import shutil
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from vssbench.stop import Interrupted

_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _space_hint(places: dict[str, Path]) -> str:
    """Which of the run's places is short of space."""
    notes = []
    for setting, path in places.items():
        try:
            free = shutil.disk_usage(_existing(path)).free / 2**20
        except OSError:
            continue
        notes.append(f"{setting}={path} has {free:.0f} MB free")
    return "; ".join(notes)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def explain(error: BaseException, places: dict[str, Path]) -> str | None:
    """The one line for a failure the user can fix, or None for a bug in vssbench."""
    if isinstance(error, Interrupted | KeyboardInterrupt):
        return "interrupted"
    if getattr(error, "saved", False):  # results kept on disk: the message says where, first
        return f"{error.kind}: {error}"
    for cause in _chain(error):
        if (why := _machine(cause, places)) is not None:
            return why
    for cause in _chain(error):
        if getattr(cause, "kind", None):  # vssbench's own errors: config, data, memory, store
            return f"{cause.kind}: {cause}"
    return None


def _machine(cause: BaseException, places: dict[str, Path]) -> str | None:
    """What the machine, a file or the store did, and what to do about it."""
    text = str(cause)
    # numpy reports a short write to a full disk without an errno.
    short_write = isinstance(cause, OSError) and re.search(r"\d+ requested and \d+ written", text)
    if (
        (isinstance(cause, OSError) and cause.errno in _FULL)
        or "No space left" in text
        or short_write
    ):
        return f"no space left on a device ({_space_hint(places)}): free space there"
    if "database or disk is full" in text:
        return f"the MLflow store's disk is full ({_space_hint(places)}): free space there"
    if isinstance(cause, OSError) and cause.errno in _DENIED:
        return f"cannot write {cause.filename}: {cause.strerror}; choose a writable path"
    if "file is not a database" in text:
        return (
            "the MLflow store is not a database (tracking.dir or tracking.uri points at another "
            "file): move that file away or choose another tracking.dir"
        )
    if "database is locked" in text:
        return (
            "the MLflow store is locked by another process (sqlite waited 5 s): let that "
            "process finish, or give this run its own tracking.dir"
        )
    # By name: the configuration's library is the entry points' business (test_structure).
    if any(c.__name__ == "InterpolationResolutionError" for c in type(cause).__mro__):
        found = re.search(r"Environment variable '([^']+)' not found", text)
        if found:
            return (
                f"the configuration reads the environment variable {found[1]}, which is not "
                f"set: set it, or give a default as ${{oc.env:{found[1]},DEFAULT}}"
            )
        return f"bad configuration: {text.splitlines()[0]}"
    return None


def one_line(error: BaseException, places: dict[str, Path], traceback_dir: Path) -> str:
    """`vssbench: ...` for the console; a bug's traceback written under traceback_dir."""
    known = explain(error, places)
    if known is not None:
        return f"vssbench: {known}"
    path = _existing(traceback_dir) / f"vssbench-traceback-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    path.write_text("".join(traceback.format_exception(error)))
    first = str(error).strip().splitlines()
    return (
        f"vssbench: internal error, a bug in vssbench ({type(error).__name__}: "
        f"{first[0][:200] if first else ''}); the full traceback is in {path}"
    )
