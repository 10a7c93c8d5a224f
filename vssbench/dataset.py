"""The data a run needs (documents, queries, vectors, exact neighbours), built once and cached."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faker
import numpy as np
import pandas as pd
from scipy import sparse

from vssbench import cache, difficulty, filters, mapped
from vssbench.corpus import QueryMix, generate_corpus, generate_queries
from vssbench.embed import embed, feature_matrix
from vssbench.groundtruth import exact_topk
from vssbench.tokenize import TOKENIZER_VERSION, kiwi_version, tokenize

log = logging.getLogger(__name__)

# Bump when the generator, the embedder or the ground truth change what they produce.
DATA_VERSION = 1
# The corpus columns a run keeps in memory; the text is read only to derive something new.
METADATA = ["id", "category", "region", "published", "price"]


@dataclass(frozen=True)
class DataSpec:
    n_docs: int
    n_queries: int
    dim: int
    metric: str
    k: int
    seed: int
    mix: QueryMix
    # Metadata column a query is restricted to (vssbench/filters.py), or None.
    filter_column: str | None
    filter_selectivity: float | None = None  # the share `attribute` keeps


@dataclass
class Dataset:
    corpus: pd.DataFrame  # METADATA columns; the text stays in corpus_path
    corpus_path: Path
    queries: pd.DataFrame
    doc_vectors: np.ndarray
    query_vectors: np.ndarray
    exact_ids: np.ndarray
    exact_dist: np.ndarray
    timings: dict[str, float]
    cache_hits: dict[str, bool]
    difficulty: dict[str, np.ndarray]  # per query: rc_10, lid (vssbench/difficulty.py)
    filter_values: np.ndarray  # per query, the value its filter compares with (None: no filter)


def _texts(corpus: pd.DataFrame) -> list[str]:
    return (corpus["title"] + " " + corpus["body"]).tolist()


def _vectors(
    root: Path, key: dict, texts: Callable[[], list[str]], dim: int
) -> tuple[np.ndarray, bool]:
    """Vectors for `dim`, cached and memory-mapped; the sparse features behind them are
    independent of dim and cached once, and only read when a new dim must be projected."""

    def build_features() -> dict[str, np.ndarray]:
        matrix, names = feature_matrix(texts())
        return {
            "data": matrix.data,
            "indices": matrix.indices,
            "indptr": matrix.indptr,
            "shape": np.asarray(matrix.shape),
            "names": names,
        }

    def project() -> np.ndarray:
        feats, _ = cache.cached(
            cache.entry(root, "features", key, ".npz"),
            build_features,
            cache.save_arrays,
            cache.load_arrays,
        )
        shape = tuple(feats["shape"])
        matrix = sparse.csr_matrix((feats["data"], feats["indices"], feats["indptr"]), shape=shape)
        return embed(matrix, feats["names"], dim)

    path = cache.entry(root, "vectors", {**key, "dim": dim}, ".npy")
    vectors, hit = cache.cached(path, project, cache.save_array, mapped.open_npy)
    # A new projection is let go once written: every run reads the same mapped file.
    return (vectors if hit else mapped.open_npy(path)), hit


def _corpus_key(spec: DataSpec) -> dict:
    return {
        "version": DATA_VERSION,
        "faker": faker.VERSION,
        "n_docs": spec.n_docs,
        "seed": spec.seed,
    }


def data_key(spec: DataSpec) -> dict:
    """What determines the document vectors: the corpus, the embedder and dim."""
    return {**_corpus_key(spec), "part": "docs", "dim": spec.dim}


def _query_key(spec: DataSpec) -> dict:
    return {**_corpus_key(spec), "n_queries": spec.n_queries, "mix": vars(spec.mix)}


def load_tokens(
    spec: DataSpec, data: "Dataset", tokenizer: str, root: Path
) -> tuple[list[str], list[str], bool]:
    """Documents and queries tokenized for BM25, cached with the corpus: tokenized once per corpus."""
    version = {
        "tokenizer": tokenizer,
        "tokenizer_version": TOKENIZER_VERSION,
        "kiwi": kiwi_version(),
    }

    def cached_tokens(kind: str, key: dict, texts: Callable[[], list[str]]):
        return cache.cached(
            cache.entry(root, kind, {**key, **version}, ".parquet"),
            lambda: pd.DataFrame({"tokens": tokenize(texts(), tokenizer)}),
            cache.save_frame,
            pd.read_parquet,
        )

    log.info("tokens: %s", tokenizer)
    docs, hit = cached_tokens(
        "doc_tokens",
        _corpus_key(spec),
        lambda: _texts(pd.read_parquet(data.corpus_path, columns=["title", "body"])),
    )
    queries, _ = cached_tokens(
        "query_tokens", _query_key(spec), lambda: data.queries["text"].tolist()
    )
    return docs["tokens"].tolist(), queries["tokens"].tolist(), hit


def load_dataset(spec: DataSpec, root: Path) -> Dataset:
    timings: dict[str, float] = {}
    hits: dict[str, bool] = {}
    corpus_key = _corpus_key(spec)
    query_key = _query_key(spec)

    t = time.perf_counter()
    log.info("corpus: %d documents, %d queries (seed %d)", spec.n_docs, spec.n_queries, spec.seed)
    corpus_path = cache.entry(root, "corpus", corpus_key, ".parquet")
    text: dict[str, pd.DataFrame] = {}  # the whole corpus, while something is derived from it

    def whole_corpus() -> pd.DataFrame:
        if "corpus" not in text:
            text["corpus"] = pd.read_parquet(corpus_path)
        return text["corpus"]

    def generate() -> pd.DataFrame:
        text["corpus"] = generate_corpus(spec.n_docs, spec.seed)
        return text["corpus"]

    corpus, hits["corpus"] = cache.cached(
        corpus_path,
        generate,
        cache.save_frame,
        lambda path: pd.read_parquet(path, columns=METADATA),
    )
    corpus = corpus[METADATA].copy()
    corpus[filters.ATTRIBUTE] = filters.attribute_values(spec.n_docs, spec.seed)
    queries, hits["queries"] = cache.cached(
        cache.entry(root, "queries", query_key, ".parquet"),
        lambda: generate_queries(whole_corpus(), spec.n_queries, spec.seed, spec.mix),
        cache.save_frame,
        pd.read_parquet,
    )
    timings["data_gen_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log.info("vectors: dim %d", spec.dim)
    doc_vectors, hits["doc_vectors"] = _vectors(
        root, {**corpus_key, "part": "docs"}, lambda: _texts(whole_corpus()), spec.dim
    )
    text.clear()
    query_vectors, hits["query_vectors"] = _vectors(
        root, {**query_key, "part": "queries"}, lambda: queries["text"].tolist(), spec.dim
    )
    query_vectors = np.array(query_vectors)  # small, and bound in every timed query
    timings["embed_s"] = time.perf_counter() - t

    t = time.perf_counter()
    gt_key = {**query_key, "dim": spec.dim, "metric": spec.metric, "k": spec.k}
    gt_key["filter"] = spec.filter_column
    if spec.filter_column == filters.ATTRIBUTE:
        gt_key["selectivity"] = spec.filter_selectivity
    values = filters.query_values(
        corpus, queries["target"].to_numpy(), spec.filter_column, spec.filter_selectivity
    )
    log.info(
        "ground truth: exact top-%d under %s, filter %s", spec.k, spec.metric, spec.filter_column
    )

    def build_groundtruth():
        groups = {}
        if spec.filter_column:
            # Every query of this run compares with one value per group: a document is in the
            # query's group when the filter keeps it.
            docs = filters.doc_values(corpus, spec.filter_column)
            keys, query_groups = np.unique(values, return_inverse=True)
            doc_groups = np.full(len(docs), -1)
            for group, value in enumerate(keys):
                doc_groups[filters.matches(spec.filter_column, docs, value)] = group
            groups = {"doc_groups": doc_groups, "query_groups": query_groups}
        ids, dist = exact_topk(query_vectors, doc_vectors, spec.k, spec.metric, **groups)
        mapped.release(doc_vectors)
        return {"ids": ids, "dist": dist}

    gt, hits["groundtruth"] = cache.cached(
        cache.entry(root, "groundtruth", gt_key, ".npz"),
        build_groundtruth,
        cache.save_arrays,
        cache.load_arrays,
    )
    timings["groundtruth_s"] = time.perf_counter() - t

    t = time.perf_counter()
    hardness, hits["difficulty"] = cache.cached(
        cache.entry(
            root,
            "difficulty",
            {**query_key, "dim": spec.dim, "metric": spec.metric, "difficulty": difficulty.VERSION},
            ".npz",
        ),
        lambda: difficulty.measure(query_vectors, doc_vectors, spec.metric, spec.seed),
        cache.save_arrays,
        cache.load_arrays,
    )
    timings["difficulty_s"] = time.perf_counter() - t
    return Dataset(
        corpus,
        corpus_path,
        queries,
        doc_vectors,
        query_vectors,
        gt["ids"],
        gt["dist"],
        timings,
        hits,
        hardness,
        values,
    )
