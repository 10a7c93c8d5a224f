"""A run's data settings read from the configuration: the dataset's files, what names them in
fingerprints and cache keys, and, for a file dataset, the sizes its files set."""

import copy
import logging
import re
from dataclasses import fields
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vssbench.config.checks import validate
from vssbench.config.schema import DatasetKind, EmbedKind, FilterKind
from vssbench.data import e5, embedding, filters, sources
from vssbench.data.embedding import ModelSpec
from vssbench.data.load import DataSpec
from vssbench.data.sources import SOURCES
from vssbench.data.sources.files import DataFileError, FileSource
from vssbench.data.synthetic.corpus import QueryMix

log = logging.getLogger(__name__)


def file_source(dataset: DictConfig) -> FileSource:
    """A file dataset's files by role (each must be set) and its source's settings."""
    kind = dataset.name.value
    info = SOURCES[kind]
    for role in info.roles:
        if not dataset[role]:
            raise DataFileError(f"dataset.{role}: is not set; dataset={kind} needs it")
    settings = info.settings(**{s.name: _value(dataset[s.name]) for s in fields(info.settings)})
    given = [role for role in info.optional_roles if dataset[role]]
    paths = {role: str(dataset[role]) for role in (*info.roles, *given)}
    return FileSource(kind, paths, settings)


def _value(node: object) -> object:
    """A setting as its type: a structured node (parquet's columns) as its dataclass."""
    return OmegaConf.to_object(node) if isinstance(node, DictConfig) else node


def label(source: FileSource) -> str:
    """The name a file dataset goes by where a synthetic run names its scale: the file's stem."""
    first = next(iter(source.paths.values()))
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(first).stem).lstrip("_.-")[:64] or "data"


def identity(dataset: DictConfig) -> dict:
    """What the data is, for fingerprints and cache keys: the generator's settings, or the
    files' content hashes and the settings that say how they are read."""
    if dataset.name == DatasetKind.synthetic_ko:
        return {"name": dataset.name.value, "noise": float(dataset.noise)}
    return file_source(dataset).identity


def embed_identity(cfg: DictConfig) -> dict | None:
    """What embed=model's vectors are made with (the model's content and prompts), not where
    the model lies; None for the synthetic embedder."""
    model = embedder(cfg)
    return None if model is None else {"name": cfg.embed.name.value, **model.identity}


def _filter_column(cfg: DictConfig) -> str | None:
    return None if cfg.filter.name == FilterKind.none else cfg.filter.name.value


def embedder(cfg: DictConfig) -> ModelSpec | None:
    """embed=model's model, read from its files (a one-line DataFileError if it is none), or
    embed=e5's (a one-line DataFileError naming the extra if it is not installed)."""
    if cfg.embed.name == EmbedKind.e5:
        return e5.describe(cfg.embed.threads, cfg.embed.batch_size, str(cfg.cache_dir))
    if cfg.embed.name != EmbedKind.model:
        return None
    return embedding.describe(str(cfg.embed.model), cfg.embed.batch_size)


def _same_dim(where: str, dim: int, cfg: DictConfig) -> None:
    if dim != cfg.dim:
        raise DataFileError(
            f"{where}: vectors have dim {dim}, not dim={cfg.dim}; run with dim={dim}"
        )


def resolve(cfg: DictConfig) -> DictConfig:
    """cfg for a synthetic dataset; for a file dataset, a copy whose scale is the files' (name,
    documents, queries), once the files' headers agree with dim, the metric, the search and
    the filter (a one-line DataFileError naming the file if not). With embed=model the dim is
    the model's."""
    model = embedder(cfg)
    if model is not None:
        _same_dim(model.setting, model.dim, cfg)
    if cfg.dataset.name == DatasetKind.synthetic_ko:
        return cfg
    source = file_source(cfg.dataset)
    found = sources.check(source, cfg.search.name.value, _filter_column(cfg))
    first = next(iter(source.paths.values()))
    if found.left_out:
        log.info("%s", found.left_out)
    if model is None and found.dim is None:
        raise DataFileError(
            f"{first}: has no vectors: give dataset.vectors=DIR (corpus.parquet and "
            "queries.parquet, columns id and vector), put them in its vectors/ dir, or run with "
            "embed=model embed.model=PATH"
        )
    if model is None:
        _same_dim(first, found.dim, cfg)
    if found.metric is not None and found.metric != cfg.hnsw.metric.value:
        raise DataFileError(
            f"{first}: its ground truth is for metric {found.metric}, not hnsw.metric="
            f"{cfg.hnsw.metric.value}; run with hnsw.metric={found.metric}"
        )
    out = copy.deepcopy(cfg)
    out.scale.name = label(source)
    out.scale.n_docs = found.n_docs
    out.scale.n_queries = found.n_queries
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
    column = _filter_column(cfg)
    synthetic = cfg.dataset.name == DatasetKind.synthetic_ko
    model = embedder(cfg)
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
        noise=cfg.dataset.noise if synthetic and model is None else 0.0,
        source=None if synthetic else file_source(cfg.dataset),
        embedder=model,
        shipped_neighbors=cfg.dataset.shipped_neighbors.value,
    )
