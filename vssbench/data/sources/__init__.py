"""Where a run's data comes from: the built-in synthetic Korean corpus, or the user's files
(`parquet`, `hdf5`). A file dataset sets the run's sizes from its files and is named by their
content hash, not their path, in fingerprints and cache keys."""

import copy
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vssbench.config.schema import DatasetKind, FilterKind, SearchKind, validate
from vssbench.data.sources import hdf5, parquet
from vssbench.data.sources.files import DataFileError, Tables, content_sha256


def columns(dataset: DictConfig) -> parquet.Columns:
    return parquet.Columns(**OmegaConf.to_container(dataset.columns))


def files(dataset: DictConfig) -> dict[str, str]:
    """The dataset's files by role; checks each is set."""
    kind = dataset.name
    roles = (
        ("docs", "queries")
        if kind == DatasetKind.parquet
        else ("path",)
        if kind == DatasetKind.hdf5
        else ()
    )
    for role in roles:
        if not dataset[role]:
            raise DataFileError(f"dataset.{role}: is not set; dataset={kind.value} needs it")
    return {role: str(dataset[role]) for role in roles}


def plain(dataset: DictConfig) -> dict | None:
    """What load_dataset reads a file dataset from (None: synthetic): its kind, files, columns."""
    if dataset.name == DatasetKind.synthetic_ko:
        return None
    out = {"name": dataset.name.value, **files(dataset)}
    if dataset.name == DatasetKind.parquet:
        out["columns"] = OmegaConf.to_container(dataset.columns)
    return out


def read(spec_files: dict) -> Tables:
    if spec_files["name"] == DatasetKind.parquet:
        return parquet.read(
            spec_files["docs"], spec_files["queries"], parquet.Columns(**spec_files["columns"])
        )
    return hdf5.read(spec_files["path"])


def label(dataset: DictConfig) -> str:
    """The name a file dataset goes by where a synthetic run names its scale: the file's stem."""
    first = next(iter(files(dataset).values()))
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(first).stem).lstrip("_.-")[:64] or "data"


def identity(dataset: DictConfig) -> dict:
    """What the data is, for fingerprints and cache keys: the generator's settings, or the
    files' content hashes and the columns read from them."""
    kind = dataset.name
    if kind == DatasetKind.synthetic_ko:
        return {"name": kind.value, "noise": float(dataset.noise)}
    out = {
        "name": kind.value,
        **{f"{role}_sha256": content_sha256(p) for role, p in files(dataset).items()},
    }
    if kind == DatasetKind.parquet:
        out["columns"] = OmegaConf.to_container(dataset.columns)
    return out


def resolve(cfg: DictConfig) -> DictConfig:
    """cfg for a synthetic dataset; for a file dataset, a copy whose scale is the files' (name,
    documents, queries), once the files' headers agree with dim, the metric, the search and
    the filter (a one-line DataFileError naming the file if not)."""
    dataset = cfg.dataset
    if dataset.name == DatasetKind.synthetic_ko:
        return cfg
    paths = files(dataset)
    search, filter_name = cfg.search.name, cfg.filter.name
    if dataset.name == DatasetKind.parquet:
        cols = columns(dataset)
        head = parquet.header(paths["docs"], paths["queries"], cols)
        first, metric = paths["docs"], None
        if search == SearchKind.hybrid and not (cols.text and cols.query_text and cols.relevant):
            raise DataFileError(
                "search=hybrid: needs dataset.columns.text, query_text and relevant (the BM25 "
                "half reads the texts; its check that Korean text reached the index reads the labels)"
            )
        if filter_name in (FilterKind.category, FilterKind.region):
            for path, have in (
                (paths["docs"], head.doc_columns),
                (paths["queries"], head.query_columns),
            ):
                if filter_name.value not in have:
                    raise DataFileError(
                        f"{path}: column {filter_name.value!r}: is missing (filter={filter_name.value} "
                        "reads each document's value and each query's)"
                    )
    else:
        head = hdf5.header(paths["path"])
        first, metric = paths["path"], head.metric
        if search == SearchKind.hybrid:
            raise DataFileError(f"{first}: an hdf5 dataset has no text; search=hybrid needs text")
        if filter_name in (FilterKind.category, FilterKind.region):
            raise DataFileError(
                f"{first}: an hdf5 dataset has no metadata; filter={filter_name.value} needs it "
                "(filter=attribute works on any dataset)"
            )
    if head.dim != cfg.dim:
        raise DataFileError(
            f"{first}: vectors have dim {head.dim}, not dim={cfg.dim}; run with dim={head.dim}"
        )
    if metric is not None and metric != cfg.hnsw.metric.value:
        raise DataFileError(
            f"{first}: its ground truth is for metric {metric}, not hnsw.metric="
            f"{cfg.hnsw.metric.value}; run with hnsw.metric={metric}"
        )
    out = copy.deepcopy(cfg)
    out.scale.name = label(dataset)
    out.scale.n_docs = head.n_docs
    out.scale.n_queries = head.n_queries
    return out


def checked(cfg: DictConfig) -> DictConfig:
    """validate(cfg); for a file dataset, its files' sizes put in scale and checked again."""
    validate(cfg)
    resolved = resolve(cfg)
    if resolved is not cfg:
        validate(resolved)
    return resolved
