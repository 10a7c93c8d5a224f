"""Every failure a user's input, machine or store can cause, as one line naming what failed and
what to do; anything else is a bug in vssbench, reported as such with its traceback in a file.
The one place the rule is kept: every entry point (a run, a sweep's callbacks, the report,
compare and sync) ends its failures through `one_line`.

A child process (an index build step, the memory probe, a restart or crash child, a trial
worker) runs its main through `child_main`: a full disk ends it with the exit status
NO_SPACE_EXIT and one line naming the file, and its parent raises the full disk again
(`child_no_space`) for the one line here. The status carries it where the line cannot: a trial
worker's stderr is a file on the disk that filled."""

import errno
import os
import re
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from vssbench.stop import Interrupted

_FULL = (errno.ENOSPC, errno.EDQUOT)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
NO_SPACE_EXIT = 28  # a child's exit status when a full disk stopped it (ENOSPC's number)
NO_SPACE_LINE = "no space left on a device writing "  # then its last line, before the file


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _space_hint(places: dict[str, Path], written: str = "") -> str:
    """Which of the run's places is short of space; first the dir of the file `written` when
    it is in none of them (a file the places do not name filled another disk)."""
    named: dict[str, Path] = dict(places)
    if written:
        filled = Path(os.path.abspath(written)).parent
        if not any(filled.is_relative_to(os.path.abspath(p)) for p in places.values()):
            named = {"": filled, **places}
    notes = []
    for setting, path in named.items():
        try:
            free = shutil.disk_usage(_existing(path)).free / 2**20
        except OSError:
            continue
        notes.append(f"{setting + '=' if setting else ''}{path} has {free:.0f} MB free")
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


def _full(cause: BaseException) -> bool:
    """A full disk (or quota) stopped this: by errno, or by the words DuckDB and numpy use."""
    text = str(cause)
    # numpy reports a short write to a full disk without an errno.
    short_write = isinstance(cause, OSError) and re.search(r"\d+ requested and \d+ written", text)
    return bool(
        (isinstance(cause, OSError) and cause.errno in _FULL)
        or "No space left" in text
        or short_write
    )


def _written(cause: BaseException) -> str:
    """The file a full disk kept from being written, '' when the error does not say."""
    if isinstance(cause, OSError) and cause.filename:
        return str(cause.filename)
    # DuckDB names it in its message: Could not write file "PATH": No space left on device
    found = re.search(r'"(/[^"]+)"', str(cause))
    return found[1] if found else ""


def no_space(error: BaseException) -> str | None:
    """The file a full disk kept `error`'s code from writing ('' when no file is named), or
    None when no full disk is among its causes."""
    for cause in _chain(error):
        if _full(cause):
            return _written(cause)
    return None


def _machine(cause: BaseException, places: dict[str, Path]) -> str | None:
    """What the machine, a file or the store did, and what to do about it."""
    text = str(cause)
    if _full(cause):
        hint = _space_hint(places, _written(cause))
        return f"no space left on a device ({hint}): free space there"
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


# -- child processes --------------------------------------------------------------------------


def child_main(main: Callable[[], object], report: TextIO | None = None) -> None:
    """A child process's main. A full disk ends it in `exit_if_no_space`; anything else goes on
    up as before."""
    try:
        main()
    except BaseException as error:
        exit_if_no_space(error, report)
        raise


def exit_if_no_space(error: BaseException, report: TextIO | None = None) -> None:
    """In a child process: when a full disk is among `error`'s causes, exit with NO_SPACE_EXIT
    after one line naming the file on `report` (stderr unless the parent reads another stream),
    no traceback; its parent raises the full disk again (`child_no_space`). Else return."""
    written = no_space(error)
    if written is None:
        return
    stream = report or sys.stderr
    try:
        named = os.path.abspath(written) if written else "(a file it does not name)"
        stream.write(f"{NO_SPACE_LINE}{named}\n")
        stream.flush()
    except OSError:
        pass  # the stream may be a file on the disk that filled: the exit status says it
    # Not SystemExit: flushing a stream on the full disk at exit would make the status 120.
    os._exit(NO_SPACE_EXIT)


def child_no_space(child: str, returncode: int, output: str | None) -> OSError | None:
    """The full disk that stopped `child` (it exited NO_SPACE_EXIT), as the OSError whose one
    line names the place, with the file from its last line of `output` (the stream it reported
    on, None when the parent could not read it); None for any other ending."""
    if returncode != NO_SPACE_EXIT:
        return None
    last = last_line(output)
    written = last.removeprefix(NO_SPACE_LINE) if last.startswith(NO_SPACE_LINE) else ""
    if not written.startswith("/"):
        written = ""
    return OSError(errno.ENOSPC, f"No space left on device (in {child})", written or None)


class ChildFailed(RuntimeError):
    """A child process ended without its result: which one, how it ended and its last line."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # the one line's head, as vssbench's own errors have


def child_failed(kind: str, child: str, returncode: int, output: str | None) -> Exception:
    """What a parent raises for `child`, which ended with `returncode` after writing `output`:
    its full disk (`child_no_space`), else a ChildFailed naming it, how it ended and its last
    line."""
    full = child_no_space(child, returncode, output)
    if full is not None:
        return full
    return ChildFailed(kind, f"{child} {ended(returncode)}; its last line: {last_line(output)}")


def ended(returncode: int) -> str:
    """How a process ended, from its return code (negative: the signal that killed it)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


def last_line(output: str | None) -> str:
    """The last line a process wrote that is not blank, or '(no output)'."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
