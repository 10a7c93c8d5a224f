"""A run's data settings read from the configuration: the dataset's files, what names them in
fingerprints and cache keys, and, for a file dataset, the sizes its files set."""

import copy
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vssbench.config.checks import validate
from vssbench.config.schema import DatasetKind, FilterKind, SearchKind
from vssbench.data import filters
from vssbench.data.load import DataSpec
from vssbench.data.sources import hdf5, parquet
from vssbench.data.sources.files import DataFileError, content_sha256
from vssbench.data.synthetic.corpus import QueryMix


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


def data_spec(cfg: DictConfig) -> DataSpec:
    """The data a (checked) configuration runs on."""
    column = None if cfg.filter.name == FilterKind.none else cfg.filter.name.value
    return DataSpec(
        n_docs=cfg.scale.n_docs,
        n_queries=cfg.scale.n_queries,
        dim=cfg.dim,
        metric=cfg.hnsw.metric.value,
        k=cfg.k,
        seed=cfg.seed,
        mix=QueryMix(cfg.queries.paraphrase, cfg.queries.entity, cfg.queries.keyword),
        filter_column=column,
        filter_selectivity=cfg.filter.selectivity if column == filters.ATTRIBUTE else None,
        noise=cfg.dataset.noise if cfg.dataset.name == DatasetKind.synthetic_ko else 0.0,
        files=plain(cfg.dataset),
        source=identity(cfg.dataset),
        verify_queries=cfg.dataset.verify_queries,
    )
