"""The `hdf5` dataset: the ann-benchmarks file format (also VIBE's): `train` (documents), `test`
(queries), `neighbors` and `distances` (the shipped ground truth), and the metric in the
file's `distance` attribute."""

from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from vssbench.data import filters
from vssbench.data.sources.files import (
    Checked,
    DataFileError,
    FileSource,
    Tables,
    check_vectors,
    fail,
)

# The file's `distance` attribute -> the index metric whose order it is.
METRICS = {
    "angular": "cosine",
    "cosine": "cosine",
    "normalized": "cosine",
    "euclidean": "l2sq",
    "l2": "l2sq",
    "ip": "ip",
    "dot": "ip",
}
# The name ann-benchmarks writes for each index metric (scripts/export_dataset.py).
WRITTEN_AS = {"cosine": "angular", "l2sq": "euclidean", "ip": "ip"}
REQUIRED = ("train", "test")


@dataclass
class Header:
    n_docs: int
    n_queries: int
    dim: int
    metric: str
    shipped_k: int  # neighbours per query in the file (0: none shipped)


def _open(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        fail(path, "file", "does not exist")
    except OSError as error:
        fail(path, "file", f"is not a readable HDF5 file ({error})")


def header(path: str) -> Header:
    with _open(path) as f:
        for name in REQUIRED:
            if name not in f:
                fail(
                    path, f"dataset {name!r}", f"is missing; the file has {', '.join(f) or 'none'}"
                )
        train, test = f["train"], f["test"]
        for name, data in (("train", train), ("test", test)):
            if len(data.shape) != 2 or data.shape[0] == 0:
                fail(
                    path,
                    f"dataset {name!r}",
                    f"needs a non-empty 2-d array, found shape {data.shape}",
                )
        if test.shape[1] != train.shape[1]:
            fail(
                path, "dataset 'test'", f"has dim {test.shape[1]}, 'train' has dim {train.shape[1]}"
            )
        distance = f.attrs.get("distance")
        if isinstance(distance, bytes):
            distance = distance.decode()
        if distance not in METRICS:
            fail(
                path,
                "attribute 'distance'",
                f"is {distance!r}; expected one of {', '.join(METRICS)}",
            )
        shipped_k = 0
        if "neighbors" in f:
            neighbors = f["neighbors"]
            if len(neighbors.shape) != 2 or neighbors.shape[0] != test.shape[0]:
                fail(
                    path,
                    "dataset 'neighbors'",
                    f"has shape {neighbors.shape}; expected one row per query ({test.shape[0]})",
                )
            shipped_k = neighbors.shape[1]
        return Header(train.shape[0], test.shape[0], train.shape[1], METRICS[distance], shipped_k)


def check(source: FileSource, search: str, filter_column: str | None) -> Checked:
    """The file's sizes and metric; it has no text for hybrid search, no metadata to filter on."""
    path = source.paths["path"]
    head = header(path)
    if search == "hybrid":
        raise DataFileError(f"{path}: an hdf5 dataset has no text; search=hybrid needs text")
    if filter_column not in (None, filters.ATTRIBUTE):
        raise DataFileError(
            f"{path}: an hdf5 dataset has no metadata; filter={filter_column} needs it "
            "(filter=attribute works on any dataset)"
        )
    return Checked(head.n_docs, head.n_queries, head.dim, head.metric)


def read(source: FileSource) -> Tables:
    path = source.paths["path"]
    head = header(path)
    with _open(path) as f:
        docs = np.asarray(f["train"], np.float32)
        check_vectors(path, "dataset 'train'", docs)
        queries = np.asarray(f["test"], np.float32)
        check_vectors(path, "dataset 'test'", queries, head.dim)
        neighbors = None
        if head.shipped_k:
            neighbors = np.asarray(f["neighbors"], np.int64)
            # ann-benchmarks pads short rows with -1; anything else out of range is a bad file.
            if ((neighbors < -1) | (neighbors >= head.n_docs)).any():
                row = int(np.argmax(((neighbors < -1) | (neighbors >= head.n_docs)).any(axis=1)))
                fail(path, "dataset 'neighbors'", f"row {row} names a document outside 'train'")
    corpus = pd.DataFrame({"id": np.arange(len(docs)), "source_id": np.arange(len(docs))})
    frame = pd.DataFrame({"qid": np.arange(len(queries)), "kind": "query", "target": -1})
    return Tables(docs, queries, corpus, frame, neighbors)
