"""On-disk cache of derived data, keyed by what determines it, written atomically under a file
lock, and checked against the checksum recorded when it was written each time it is read."""

import hashlib
import json
import logging
import os
import platform
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from filelock import FileLock

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
    facts_path = path.with_name(path.name + ".build.json")
    with FileLock(str(path) + ".lock"):
        if facts_path.exists() and _verified(path):
            facts = json.loads(facts_path.read_text())
            if (why := usable(facts)) is None:
                return facts, True
            _set_aside(path, why)
        _remove_leftovers(path)
        tmp = _tmp(path)
        try:
            facts = build_into(tmp)
            facts_tmp = _tmp(facts_path)
            facts_tmp.write_text(json.dumps(facts))
            os.replace(facts_tmp, facts_path)
            _seal(tmp, path)
        finally:
            _remove_leftovers(path)  # the database's .wal and spill dir, or a failed build
        return facts, False


def retimed(path: Path, build_into: Callable[[Path], dict], keys: tuple[str, ...]) -> dict:
    """The facts of a cached file with `keys` taken from building it again into a throwaway
    file: the file in the cache stays as it is."""
    facts_path = path.with_name(path.name + ".build.json")
    with FileLock(str(path) + ".lock"):
        try:
            again = build_into(_tmp(path))
        finally:
            _remove_leftovers(path)  # the throwaway file and what its build left beside it
        facts = json.loads(facts_path.read_text())
        facts.update({key: again[key] for key in keys if key in again})
        facts_tmp = _tmp(facts_path)
        facts_tmp.write_text(json.dumps(facts))
        os.replace(facts_tmp, facts_path)
    return facts


def _tmp(path: Path) -> Path:
    """A writer's temp file beside `path`: named by host and pid, as a shared cache dir has
    writers on several hosts."""
    return path.with_name(f".{path.name}.{platform.node()}.{os.getpid()}.tmp")


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
    sums = path.with_name(path.name + ".crc32")
    sums_tmp = _tmp(sums)
    sums_tmp.write_text(_digest(tmp))
    os.replace(sums_tmp, sums)
    os.replace(tmp, path)


def _verified(path: Path) -> bool:
    """True when the entry exists and matches its recorded checksum. A changed or truncated
    entry is moved aside (kept for a look, never used) and built again; one written before
    entries carried checksums is removed and built again."""
    if not path.exists():
        return False
    sums = path.with_name(path.name + ".crc32")
    if not sums.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        log.warning("cache entry %s has no checksum (an older vssbench): building it again", path)
        return False
    if sums.read_text().strip() == _digest(path):
        return True
    _set_aside(path, "it does not match its checksum")
    return False


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
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def entry(root: Path, kind: str, key: dict, suffix: str) -> Path:
    """Path of a cache entry; the key is written beside it so a person can tell what it holds."""
    path = Path(root) / kind / f"{key_hash(key)}{suffix}"
    meta = path.with_suffix(".json")
    if not meta.exists():
        meta.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(meta)
        tmp.write_text(json.dumps(key, sort_keys=True, default=str, ensure_ascii=False))
        os.replace(tmp, meta)
    return path


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
