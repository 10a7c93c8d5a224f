"""Arrays memory-mapped from cache files: a run reads document vectors without a private copy,
and gives back the pages of a full pass (a load into DuckDB, exact search) when it is done."""

import mmap
from pathlib import Path

import numpy as np


def open_npy(path: Path) -> np.ndarray:
    """A read-only array backed by the .npy file: pages are read as they are touched."""
    return np.load(path, mmap_mode="r")


def release(array: np.ndarray) -> None:
    """Drop the resident pages of the file behind `array` (a no-op for an in-memory array).

    The pages are clean copies of the file: the next access reads them again.
    """
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is not None:
        base.madvise(mmap.MADV_DONTNEED)
