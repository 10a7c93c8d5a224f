"""What the data-file readers share: the file dataset a run reads, the one-line error naming the
file, content hashes, and the checks every vector array passes before anything is built from it."""

import hashlib
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd


class DataFileError(ValueError):
    """A data file vssbench cannot use; the message names the file and the column or dataset."""

    kind = "bad data file"  # how the one-line message before it calls the problem


@dataclass(frozen=True)
class FileSource:
    """A file dataset: the source that reads it (sources.SOURCES), its files by role, and that
    source's settings (e.g. parquet's columns)."""

    kind: str
    paths: dict[str, str]  # role -> file, in the source's order of roles
    settings: Any  # an instance of the source's settings dataclass

    @cached_property
    def identity(self) -> dict:
        """What the data is, for cache keys and fingerprints: the files' content hashes (not their
        paths) and the settings that say how they are read; hashed once, when first asked."""
        hashes = {f"{role}_sha256": content_sha256(path) for role, path in self.paths.items()}
        return {"name": self.kind, **hashes, **asdict(self.settings)}


@dataclass(frozen=True)
class Checked:
    """What a source's check found in its files' headers: the sizes that set the run's scale."""

    n_docs: int
    n_queries: int
    dim: int | None  # None: the files have no vectors (embed=model makes them)
    metric: str | None = None  # the metric the shipped neighbours are for (None: none shipped)
    left_out: str = ""  # what of the files the run leaves out, said on every run


def fail(path: str | Path, where: str, why: str) -> NoReturn:
    raise DataFileError(f"{path}: {where}: {why}")


_hashes: dict[tuple, str] = {}


def content_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes (a run's data is named by its content, not its path), or of a
    dir's files with their relative paths; remembered per process while each file's size and
    mtime stay the same."""
    p = Path(path).resolve()
    if p.is_dir():
        digest = hashlib.sha256()
        for file in sorted(f for f in p.rglob("*") if f.is_file()):
            digest.update(f"{file.relative_to(p)}\0{content_sha256(file)}\n".encode())
        return digest.hexdigest()
    try:
        stat = p.stat()
    except OSError as error:
        fail(path, "file", f"cannot be read ({error.strerror})")
    key = (str(p), stat.st_size, stat.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(p, "rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def check_vectors(
    path: str | Path, where: str, vectors: np.ndarray, dim: int | None = None
) -> None:
    """Two-dimensional, at least one row, `dim` columns, and every value finite."""
    if vectors.ndim != 2 or len(vectors) == 0:
        fail(path, where, f"needs a non-empty 2-d array of vectors, found shape {vectors.shape}")
    if dim is not None and vectors.shape[1] != dim:
        fail(path, where, f"has dim {vectors.shape[1]}, the documents have dim {dim}")
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        fail(
            path,
            where,
            f"{np.count_nonzero(bad)} vectors hold NaN or infinite values (first: row {np.argmax(bad)})",
        )


@dataclass
class Tables:
    """A dataset's files read and checked; positions replace the documents' own ids everywhere."""

    doc_vectors: np.ndarray | None  # None: the vectors come from embed=model
    query_vectors: np.ndarray | None
    corpus: pd.DataFrame  # id (position), source_id, and text, category, region where given
    queries: pd.DataFrame  # qid, kind, target (-1: none), and text, relevant, grades, filter values
    neighbors: np.ndarray | None = None  # shipped ground truth: positions, nearest first
