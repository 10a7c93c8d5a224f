"""On-disk cache of derived data, keyed by what determines it, written atomically under a file
lock, and checked against the checksum recorded when it was written each time it is read."""

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import psutil
from filelock import FileLock, Timeout

T = TypeVar("T")
log = logging.getLogger(__name__)


def key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached(
    path: Path,
    build: Callable[[], T],
    save: Callable[[T, Path], None],
    load: Callable[[Path], T],
) -> tuple[T, bool]:
    """Load `path` if present, else build, write to a temp file and rename. Returns (value, hit).

    The lock makes a second process needing the same entry wait and then read it instead of
    building it again; the rename means a killed writer never leaves a half-written entry behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if _verified(path):
            return load(path), True
        _remove_leftovers(path)
        value = build()
        tmp = _tmp(path)
        try:
            save(value, tmp)
            _seal(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return value, False


def cached_file(
    path: Path, build_into: Callable[[Path], dict], usable: Callable[[dict], str | None]
) -> tuple[dict, bool]:
    """Like `cached` for a file that a builder writes itself (a database): build_into(tmp) writes
    the file and returns facts about the build, kept beside it. `usable(facts)` says why an
    existing entry must not be used (None: it may), and it is then set aside and built again.
    Returns (facts, hit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    facts_path = _facts_path(path)
    with FileLock(str(path) + ".lock"):
        if facts_path.exists() and _verified(path):
            try:
                facts = _read(facts_path, _json_object)
            except _Damaged as damage:
                why = str(damage)
            else:
                if (why := usable(facts)) is None:
                    return facts, True
            _set_aside(path, why)
        return _build_file(path, build_into), False


def retimed(path: Path, build_into: Callable[[Path], dict], keys: tuple[str, ...]) -> dict:
    """The facts of a cached file with `keys` taken from building it again into a throwaway
    file: the file in the cache stays as it is, unless its facts cannot be read: it is then set
    aside and built again."""
    facts_path = _facts_path(path)
    with FileLock(str(path) + ".lock"):
        try:
            facts = _read(facts_path, _json_object)
        except _Damaged as damage:
            _set_aside(path, str(damage))
            return _build_file(path, build_into)
        try:
            again = build_into(_tmp(path))
        finally:
            _remove_leftovers(path)  # the throwaway file and what its build left beside it
        facts.update({key: again[key] for key in keys if key in again})
        _replace_text(facts_path, json.dumps(facts))
    return facts


def _facts_path(path: Path) -> Path:
    return path.with_name(path.name + ".build.json")


def _build_file(path: Path, build_into: Callable[[Path], dict]) -> dict:
    """Build the entry into a temp file, record its facts beside it and seal it into place
    (the caller holds the entry's lock)."""
    _remove_leftovers(path)
    tmp = _tmp(path)
    try:
        facts = build_into(tmp)
        _replace_text(_facts_path(path), json.dumps(facts))
        _seal(tmp, path)
    finally:
        _remove_leftovers(path)  # the database's .wal and spill dir, or a failed build
    return facts


def _tmp(path: Path) -> Path:
    """A writer's temp file beside `path`: named by host and pid, as a shared cache dir has
    writers on several hosts."""
    return path.with_name(f".{path.name}.{platform.node()}.{os.getpid()}.tmp")


def _replace_text(path: Path, text: str) -> None:
    """Write `path` through a temp file, so that a reader never sees half of it."""
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _digest(path: Path) -> str:
    """CRC-32 of the file, or of a directory's files and their names (an index some engines
    write as a directory): it catches changed and missing bytes (what a crash or a bad disk
    does) at 0.4 s per GB here, against 2.6 s for SHA-256."""
    crc = 0
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            crc = zlib.crc32(str(file.relative_to(path)).encode(), crc)
        with open(file, "rb") as f:
            while block := f.read(1 << 24):
                crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def _seal(tmp: Path, path: Path) -> None:
    """Record the checksum of the finished temp file, then move it into place."""
    _replace_text(path.with_name(path.name + ".crc32"), _digest(tmp))
    os.replace(tmp, path)


def _verified(path: Path) -> bool:
    """True when the entry exists and matches its recorded checksum. A changed or truncated
    entry, or one whose checksum file cannot be read, is moved aside (kept for a look, never
    used) and built again; one written before entries carried checksums is removed and built
    again."""
    if not path.exists():
        return False
    sums = path.with_name(path.name + ".crc32")
    if not sums.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        log.warning("cache entry %s has no checksum (an older vssbench): building it again", path)
        return False
    try:
        if _read(sums, _crc32) == _digest(path):
            return True
        why = "it does not match its checksum"
    except _Damaged as damage:
        why = str(damage)
    _set_aside(path, why)
    return False


class _Damaged(Exception):
    """A sidecar of an entry (its checksum, build facts or key file) that cannot be read."""


def _read(sidecar: Path, parse: Callable[[str], T]) -> T:
    """The sidecar's text parsed; _Damaged, saying which sidecar and why, if either fails."""
    try:
        return parse(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError included
        why = f"{type(error).__name__}: {error}"
        raise _Damaged(f"its {sidecar.name} cannot be read ({why})") from error


def _crc32(text: str) -> str:
    """A checksum as _seal writes it."""
    if not re.fullmatch(r"[0-9a-f]{8}", value := text.strip()):
        raise ValueError(f"not a CRC-32: {value[:20]!r}")
    return value


def _json_object(text: str) -> dict:
    if not isinstance(value := json.loads(text), dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an object")
    return value


def _set_aside(path: Path, why: str) -> None:
    """Move a bad entry aside (kept for a look, never used) so that it is built again."""
    aside = path.with_name(f"{path.name}.bad-{time.time():.0f}")
    os.replace(path, aside)
    log.warning("cache entry %s: %s; moved to %s, building it again", path, why, aside.name)


def _remove_leftovers(path: Path) -> None:
    """Temp files of this entry (a database's .wal and .tmp dir too) that a killed builder left.

    Only the holder of the entry's lock writes them, and a dead process's lock is released:
    whatever is there when the lock is taken is garbage. Removing it also keeps a new builder
    that got a dead one's pid (in a container) from opening its half-built database.
    """
    for leftover in path.parent.glob(f".{path.name}.*"):
        _remove(leftover)


def stored(root: Path, kind: str, key: dict, suffix: str, load: Callable[[Path], T]) -> T | None:
    """The value of the entry `entry(root, kind, key, suffix)` names if one was written and
    matches its checksum, else None. Unlike `entry` and `cached` it creates nothing when there is
    none: a check that may yet refuse its data leaves no dir behind."""
    path = Path(root) / kind / f"{key_hash(key)}{suffix}"
    if not path.exists():
        return None
    with FileLock(str(path) + ".lock"):
        return load(path) if _verified(path) else None


def entry(root: Path, kind: str, key: dict, suffix: str) -> Path:
    """Path of a cache entry; the key is written beside it so a person can tell what it holds."""
    path = Path(root) / kind / f"{key_hash(key)}{suffix}"
    meta = path.with_suffix(".json")
    if not meta.exists():
        meta.parent.mkdir(parents=True, exist_ok=True)
        _write_key(meta, key)
        return path
    try:
        _read(meta, _json_object)
    except _Damaged:
        _renew_key(path, meta, key)
    return path


def _write_key(meta: Path, key: dict) -> None:
    _replace_text(meta, json.dumps(key, sort_keys=True, default=str, ensure_ascii=False))


def _renew_key(path: Path, meta: Path, key: dict) -> None:
    """A key file that cannot be read is written again and its entry set aside, under the
    entry's lock: a process that read the same damage meanwhile finds it renewed."""
    with FileLock(str(path) + ".lock"):
        try:
            _read(meta, _json_object)
            return
        except _Damaged as damage:
            why = str(damage)
        if path.exists():
            _set_aside(path, why)
        else:
            log.warning("cache entry %s: %s; writing it again", path, why)
        _write_key(meta, key)


def remove_dead_leftovers(root: Path) -> list[Path]:
    """Remove the temp files and dirs in the cache `root` that writers on this host left when
    they were killed; returns what was removed. Names and locks only, no checksums: cheap."""
    host = re.escape(platform.node())
    # .<name>.<host>.<pid>.tmp, and a database's .wal file and .tmp dir beside it.
    written = re.compile(rf"\.(?P<name>.+)\.{host}\.(?P<pid>\d+)\.tmp(\.[^.]+)?")
    removed = []
    for leftover in sorted(Path(root).glob("*/.*")):
        if not (found := written.fullmatch(leftover.name)) or psutil.pid_exists(int(found["pid"])):
            continue  # another host's (its writer may live), or its writer may still write it
        if _remove_unlocked(leftover, found["name"]):
            removed.append(leftover)
            log.info("removed %s, left by a cache writer that was killed", leftover)
    return removed


def _remove_unlocked(leftover: Path, name: str) -> bool:
    """Remove a dead writer's temp file of sidecar or entry `name` unless a live process holds
    that entry's lock (a writer with a pid of another namespace): False if it was kept."""
    entry_name = name.removesuffix(".crc32").removesuffix(".build.json")
    lock = leftover.with_name(entry_name + ".lock")
    if not lock.exists():  # a key file's: written without a lock, its writer's pid is the proof
        _remove(leftover)
        return True
    try:
        with FileLock(str(lock), timeout=0):
            _remove(leftover)
    except Timeout:
        return False
    return True


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def save_json(value: dict, path: Path) -> None:
    path.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")


def load_json(path: Path) -> dict:
    return _json_object(path.read_text(encoding="utf-8"))


def save_frame(df: pd.DataFrame, path: Path) -> None:
    df.to_parquet(path, index=False)


def save_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_array(array: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
