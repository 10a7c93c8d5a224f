"""The data a run needs (documents, queries, vectors, exact neighbours), built once and cached:
generated (synthetic_ko) or read from the user's files (data/sources)."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import faker
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import sparse

from vssbench import cache, mapped
from vssbench.data import difficulty, embedding, filters, sources
from vssbench.data.embedding import ModelSpec
from vssbench.data.groundtruth import check_shipped, exact_topk
from vssbench.data.sources import SOURCES
from vssbench.data.sources.files import DataFileError, FileSource, Tables
from vssbench.data.synthetic.corpus import QueryMix, generate_corpus, generate_queries
from vssbench.data.synthetic.embed import add_noise, embed, feature_matrix
from vssbench.data.tokens import TOKENIZER_VERSION, kiwi_version, tokenize

log = logging.getLogger(__name__)

# Bump when the generator, the embedder or the ground truth change what they produce.
DATA_VERSION = 1
# The corpus columns a run keeps in memory (those a dataset has); the text is read only to
# derive something new.
METADATA = ["id", "source_id", "category", "region", "published", "price"]


@dataclass(frozen=True)
class DataSpec:
    n_docs: int
    n_queries: int
    dim: int
    metric: str
    k: int
    seed: int
    mix: QueryMix
    # Metadata column a query is restricted to (data/filters.py), or None.
    filter_column: str | None
    filter_selectivity: float | None = None  # the share `attribute` keeps
    noise: float = 0.0  # synthetic_ko's difficulty knob (data/synthetic/embed.py add_noise)
    source: FileSource | None = None  # a file dataset; None for synthetic_ko
    embedder: ModelSpec | None = None  # embed=model: the model that makes the vectors
    # dataset.shipped_neighbors: "replace" a file's rows that disagree with exact search, or
    # refuse the run ("strict").
    shipped_neighbors: str = "replace"


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
    difficulty: dict[str, np.ndarray]  # per query: rc_10, lid (data/difficulty.py)
    filter_values: np.ndarray  # per query, the value its filter compares with (None: no filter)
    # How the exact neighbours were obtained: groundtruth.shipped_* facts for a verified file.
    groundtruth: dict[str, float] = field(default_factory=dict)

    @property
    def has_labels(self) -> bool:
        """Relevance labels (MRR, nDCG): the synthetic corpus has them, a file may not."""
        return "relevant" in self.queries

    def own_ids(self, positions: np.ndarray) -> list:
        """The documents' own ids at these row positions: a file's id column, else positions."""
        return own_ids(self.corpus, positions)


def own_ids(corpus: pd.DataFrame, positions: np.ndarray) -> list:
    if "source_id" not in corpus:
        return np.asarray(positions).tolist()
    return corpus["source_id"].to_numpy()[np.asarray(positions, np.int64)].tolist()


def document_texts(corpus_path: Path) -> list[str]:
    """The documents' text from a cached corpus: synthetic title and body, or a file's text."""
    if "text" in pq.read_schema(corpus_path).names:
        return pd.read_parquet(corpus_path, columns=["text"])["text"].tolist()
    return _texts(pd.read_parquet(corpus_path, columns=["title", "body"]))


def _texts(corpus: pd.DataFrame) -> list[str]:
    return (corpus["title"] + " " + corpus["body"]).tolist()


def _vectors(
    root: Path, key: dict, texts: Callable[[], list[str]], dim: int, noise: list | None
) -> tuple[np.ndarray, bool]:
    """Vectors for `dim`, cached and memory-mapped; the sparse features behind them are
    independent of dim and cached once, and only read when a new dim must be projected.
    `noise` is (amount, seed) for embed.add_noise, or None."""

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
        vectors = embed(matrix, feats["names"], dim)
        return add_noise(vectors, *noise) if noise else vectors

    vector_key = {**key, "dim": dim, **({"noise": noise[0]} if noise else {})}
    path = cache.entry(root, "vectors", vector_key, ".npy")
    vectors, hit = cache.cached(path, project, cache.save_array, mapped.open_npy)
    # A new projection is let go once written: every run reads the same mapped file.
    return (vectors if hit else mapped.open_npy(path)), hit


def _corpus_key(spec: DataSpec) -> dict:
    """What determines the documents and their text."""
    if spec.source is not None:
        return {"version": DATA_VERSION, **spec.source.identity}
    return {
        "version": DATA_VERSION,
        "faker": faker.VERSION,
        "n_docs": spec.n_docs,
        "seed": spec.seed,
    }


def _noise_key(spec: DataSpec) -> dict:
    """The synthetic embedder's noise, or the user's model: what made the vectors."""
    if spec.embedder is not None:
        return {"embed": spec.embedder.identity}
    return {"noise": spec.noise} if spec.noise else {}


def data_key(spec: DataSpec) -> dict:
    """What determines the document vectors: the corpus, the embedder, its noise and dim."""
    return {**_corpus_key(spec), "part": "docs", "dim": spec.dim, **_noise_key(spec)}


def _encoded(
    root: Path, key: dict, texts: Callable[[], list[str]], model: ModelSpec, role: str
) -> tuple[np.ndarray, bool]:
    """The texts encoded by the user's model, cached by the texts' source, the model's content
    and prompts: a second run encodes nothing."""
    path = cache.entry(root, "vectors", {**key, "embed": model.identity, "role": role}, ".npy")
    vectors, hit = cache.cached(
        path, lambda: embedding.encode(model, texts(), role), cache.save_array, mapped.open_npy
    )
    return (vectors if hit else mapped.open_npy(path)), hit


def _query_key(spec: DataSpec) -> dict:
    if spec.source is not None:
        return _corpus_key(spec)  # the source names the queries file's content too
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
        "doc_tokens", _corpus_key(spec), lambda: document_texts(data.corpus_path)
    )
    queries, _ = cached_tokens(
        "query_tokens", _query_key(spec), lambda: data.queries["text"].tolist()
    )
    return docs["tokens"].tolist(), queries["tokens"].tolist(), hit


@dataclass
class _Loaded:
    corpus: pd.DataFrame
    corpus_path: Path
    queries: pd.DataFrame
    doc_vectors: np.ndarray
    query_vectors: np.ndarray
    shipped: np.ndarray | None = None  # a file's own neighbours


def _synthetic(spec: DataSpec, root: Path, timings: dict, hits: dict) -> _Loaded:
    corpus_key, query_key = _corpus_key(spec), _query_key(spec)
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
        lambda path: pd.read_parquet(path, columns=[c for c in METADATA if c != "source_id"]),
    )
    corpus = corpus[[c for c in METADATA if c in corpus]].copy()
    queries, hits["queries"] = cache.cached(
        cache.entry(root, "queries", query_key, ".parquet"),
        lambda: generate_queries(whole_corpus(), spec.n_queries, spec.seed, spec.mix),
        cache.save_frame,
        pd.read_parquet,
    )
    timings["data_gen_s"] = time.perf_counter() - t

    t = time.perf_counter()
    doc_texts, query_texts = (lambda: _texts(whole_corpus())), (lambda: queries["text"].tolist())
    if spec.embedder is not None:
        vectors = _model_vectors(
            spec, root, (corpus_key, query_key), (doc_texts, query_texts), hits, timings
        )
    else:
        log.info("vectors: dim %d%s", spec.dim, f", noise {spec.noise:g}" if spec.noise else "")

        def noise(part: int) -> list | None:
            return [spec.noise, [spec.seed, part, spec.dim]] if spec.noise else None

        docs, hits["doc_vectors"] = _vectors(
            root, {**corpus_key, "part": "docs"}, doc_texts, spec.dim, noise(0)
        )
        text.clear()
        found, hits["query_vectors"] = _vectors(
            root, {**query_key, "part": "queries"}, query_texts, spec.dim, noise(1)
        )
        vectors = (docs, found)
    text.clear()
    timings["embed_s"] = time.perf_counter() - t
    return _Loaded(corpus, corpus_path, queries, *vectors)


def _model_vectors(
    spec: DataSpec,
    root: Path,
    keys: tuple[dict, dict],
    texts: tuple[Callable[[], list[str]], Callable[[], list[str]]],
    hits: dict,
    timings: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Documents and queries encoded by embed=model's or embed=e5's model (each cached)."""
    model = spec.embedder
    log.info(
        "vectors: %s (%s, dim %d, sha256 %s)",
        model.name,
        model.backend,
        model.dim,
        model.sha256[:12],
    )
    out = []
    for (key, part), text_of, role in zip(
        ((keys[0], "docs"), (keys[1], "queries")), texts, ("document", "query"), strict=True
    ):
        t = time.perf_counter()
        name = f"{'doc' if part == 'docs' else 'query'}_vectors"
        vectors, hits[name] = _encoded(root, {**key, "part": part}, text_of, model, role)
        if part == "docs" and not hits[name]:  # the model's speed, in this run's own process
            timings["encode_docs_per_s"] = len(vectors) / (time.perf_counter() - t)
        out.append(vectors)
    return out[0], out[1]


def _from_files(spec: DataSpec, root: Path, timings: dict, hits: dict) -> _Loaded:
    """A file dataset, read and checked once (data/sources), then served from the cache."""
    key = _corpus_key(spec)
    t = time.perf_counter()
    read: dict[str, Tables] = {}

    def tables() -> Tables:
        if "tables" not in read:
            log.info("reading %s", ", ".join(spec.source.paths.values()))
            read["tables"] = sources.read(spec.source)
        return read["tables"]

    def entry(kind: str, part: str, suffix: str) -> Path:
        return cache.entry(root, kind, {**key, "part": part}, suffix)

    corpus_path = entry("corpus", "docs", ".parquet")
    corpus, hits["corpus"] = cache.cached(
        corpus_path,
        lambda: tables().corpus,
        cache.save_frame,
        lambda path: pd.read_parquet(
            path, columns=[c for c in METADATA if c in pq.read_schema(path).names]
        ),
    )
    corpus = corpus[[c for c in METADATA if c in corpus]].copy()
    queries, hits["queries"] = cache.cached(
        entry("queries", "queries", ".parquet"),
        lambda: tables().queries,
        cache.save_frame,
        pd.read_parquet,
    )
    timings["data_read_s"] = time.perf_counter() - t
    if spec.embedder is not None:
        t = time.perf_counter()
        texts = (lambda: document_texts(corpus_path), lambda: queries["text"].tolist())
        docs, found = _model_vectors(spec, root, (key, key), texts, hits, timings)
        vectors = {"docs": docs, "queries": found}
        timings["embed_s"] = time.perf_counter() - t
    else:
        vectors = _file_vectors(tables, entry, hits)
    shipped = None
    if SOURCES[spec.source.kind].neighbors is not None:
        arrays, _ = cache.cached(
            entry("shipped", "neighbors", ".npz"),
            lambda: {"ids": n} if (n := tables().neighbors) is not None else {},
            cache.save_arrays,
            cache.load_arrays,
        )
        shipped = arrays.get("ids")
    return _Loaded(corpus, corpus_path, queries, vectors["docs"], vectors["queries"], shipped)


def _file_vectors(
    tables: Callable[[], Tables], entry: Callable[[str, str, str], Path], hits: dict
) -> dict[str, np.ndarray]:
    """The files' own vectors, read once and then memory-mapped from the cache."""
    vectors = {}
    for part in ("docs", "queries"):
        path = entry("vectors", part, ".npy")
        name = "doc_vectors" if part == "docs" else "query_vectors"
        found, hits[name] = cache.cached(
            path, lambda name=name: getattr(tables(), name), cache.save_array, mapped.open_npy
        )
        vectors[part] = found if hits[name] else mapped.open_npy(path)
    return vectors


def load_dataset(spec: DataSpec, root: Path) -> Dataset:
    """The run's data, built where no earlier run has cached it; timings and cache_hits say
    what each stage took and whether it came from the cache."""
    timings: dict[str, float] = {}
    hits: dict[str, bool] = {}
    load = _synthetic if spec.source is None else _from_files
    loaded = load(spec, root, timings, hits)
    corpus, queries, doc_vectors = loaded.corpus, loaded.queries, loaded.doc_vectors
    query_vectors = np.array(loaded.query_vectors)  # small, and bound in every timed query
    _refuse_zero_vectors(spec, loaded)
    corpus[filters.ATTRIBUTE] = filters.attribute_values(len(corpus), spec.seed)

    t = time.perf_counter()
    values = filters.query_values(corpus, queries, spec.filter_column, spec.filter_selectivity)
    gt, hits["groundtruth"] = _groundtruth(spec, root, loaded, query_vectors, values)
    timings["groundtruth_s"] = time.perf_counter() - t

    t = time.perf_counter()
    hardness, hits["difficulty"] = cache.cached(
        cache.entry(
            root, "difficulty", {**_pairs_key(spec), "difficulty": difficulty.VERSION}, ".npz"
        ),
        lambda: difficulty.measure(query_vectors, doc_vectors, spec.metric, spec.seed),
        cache.save_arrays,
        cache.load_arrays,
    )
    timings["difficulty_s"] = time.perf_counter() - t
    checks = {name: float(gt[name][0]) for name in gt if name.startswith("shipped_")}
    return Dataset(
        corpus,
        loaded.corpus_path,
        queries,
        doc_vectors,
        query_vectors,
        gt["ids"],
        gt["dist"],
        timings,
        hits,
        hardness,
        values,
        checks,
    )


# Under cosine a zero vector has no direction, so every distance to it is the same; under ip a
# zero query scores every document alike. Any answer would then count as exact.
_ZERO_MEANINGLESS = {"cosine": ("docs", "queries"), "ip": ("queries",)}


def _refuse_zero_vectors(spec: DataSpec, loaded: _Loaded) -> None:
    """A DataFileError with the count and the first ids where zero vectors make scores
    meaningless under the run's metric."""
    for part in _ZERO_MEANINGLESS.get(spec.metric, ()):
        vectors = loaded.doc_vectors if part == "docs" else loaded.query_vectors
        zero = _zero_rows(vectors)
        if not len(zero):
            continue
        ids = own_ids(loaded.corpus, zero[:5]) if part == "docs" else zero[:5].tolist()
        where = "synthetic_ko"
        if spec.source is not None:
            roles = SOURCES[spec.source.kind].roles
            where = spec.source.paths[roles[0] if part == "docs" else roles[-1]]
        raise DataFileError(
            f"{where}: {len(zero)} of {len(vectors)} {'document' if part == 'docs' else 'query'} "
            f"vectors are all zeros ({'ids' if part == 'docs' else 'rows'} "
            f"{', '.join(map(str, ids))}{', ...' if len(zero) > 5 else ''}): under "
            f"hnsw.metric={spec.metric} every distance to a zero vector is the same, so any "
            "answer would score as exact; remove them, or use hnsw.metric=l2sq"
        )


def _zero_rows(vectors: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Positions of all-zero rows, read in chunks; mapped pages are given back (they had stayed
    resident: 1 GB of a 250k x 1024 run's process through its index build)."""
    found = [
        start + np.flatnonzero(~vectors[start : start + chunk].any(axis=1))
        for start in range(0, len(vectors), chunk)
    ]
    mapped.release(vectors)
    return np.concatenate(found)


def _pairs_key(spec: DataSpec) -> dict:
    """What determines the distances between the queries and the documents."""
    return {**_query_key(spec), "dim": spec.dim, "metric": spec.metric, **_noise_key(spec)}


def _groundtruth_key(spec: DataSpec, shipped: bool) -> dict:
    key = {**_pairs_key(spec), "k": spec.k, "filter": spec.filter_column}
    if spec.filter_column == filters.ATTRIBUTE:
        key["selectivity"] = spec.filter_selectivity
    if shipped:
        key["groundtruth"] = "shipped, every row checked"
    return key


def _groundtruth(
    spec: DataSpec, root: Path, loaded: _Loaded, query_vectors: np.ndarray, values: np.ndarray
) -> tuple[dict[str, np.ndarray], bool]:
    """Each query's top-k and whether it was cached: a file's own neighbours, once checked,
    serve an unfiltered run that asks for no more than they hold; else exact search."""
    shipped = loaded.shipped
    use_shipped = shipped is not None and spec.filter_column is None and spec.k <= shipped.shape[1]
    log.info(
        "ground truth: %s top-%d under %s, filter %s",
        "the file's own, checked against exact search," if use_shipped else "exact",
        spec.k,
        spec.metric,
        spec.filter_column,
    )

    def build() -> dict[str, np.ndarray]:
        if use_shipped:
            return _verified_shipped(spec, query_vectors, loaded.doc_vectors, shipped)
        return _exact(spec, loaded.corpus, values, query_vectors, loaded.doc_vectors)

    gt, hit = cache.cached(
        cache.entry(root, "groundtruth", _groundtruth_key(spec, use_shipped), ".npz"),
        build,
        cache.save_arrays,
        cache.load_arrays,
    )
    if use_shipped:
        _judge_shipped(spec, gt)
    return gt, hit


def _exact(
    spec: DataSpec, corpus: pd.DataFrame, values: np.ndarray, queries: np.ndarray, docs: np.ndarray
) -> dict[str, np.ndarray]:
    """Exact search; with a filter, among the documents it keeps for each query's value."""
    groups = {}
    if spec.filter_column:
        # Every query of this run compares with one value per group: a document is in the
        # query's group when the filter keeps it.
        doc_values = filters.doc_values(corpus, spec.filter_column)
        keys, query_groups = np.unique(values, return_inverse=True)
        doc_groups = np.full(len(doc_values), -1)
        for group, value in enumerate(keys):
            doc_groups[filters.matches(spec.filter_column, doc_values, value)] = group
        groups = {"doc_groups": doc_groups, "query_groups": query_groups}
    ids, dist = exact_topk(queries, docs, spec.k, spec.metric, **groups)
    mapped.release(docs)
    return {"ids": ids, "dist": dist}


def _verified_shipped(
    spec: DataSpec, queries: np.ndarray, docs: np.ndarray, shipped: np.ndarray
) -> dict[str, np.ndarray]:
    """The file's neighbours checked against exact search for every query; rows that disagree
    or repeat an id are replaced by exact search's, and counted."""
    check = check_shipped(queries, docs, shipped, spec.k, spec.metric)
    mapped.release(docs)
    return {
        "ids": check.ids,
        "dist": check.dist,
        "shipped_verified_queries": np.array([len(queries)]),
        "shipped_agreement": np.array([check.agreement.mean()]),
        "shipped_rows_replaced": np.array([int(check.wrong.sum())]),
        "shipped_rows_duplicate_ids": np.array([int(check.duplicates.sum())]),
    }


def _shipped_finding(spec: DataSpec, gt: dict[str, np.ndarray]) -> tuple[int, str]:
    """How many of the file's rows disagree with exact search, and what its check found, in
    words that name the file where any disagree."""
    n, replaced = int(gt["shipped_verified_queries"][0]), int(gt["shipped_rows_replaced"][0])
    said = f"the file's neighbours agree with exact search on {n - replaced} of {n} queries"
    if not replaced:
        return 0, said
    path = spec.source.paths[SOURCES[spec.source.kind].neighbors]
    held = (
        f"the file's rows hold {float(gt['shipped_agreement'][0]):.3f} of the exact "
        f"top-{spec.k} on average"
    )
    if replaced < n:
        twice = int(gt["shipped_rows_duplicate_ids"][0])
        return replaced, (
            f"{path}: dataset 'neighbors': {said}; {replaced} rows disagree ({twice} of them "
            f"name a document twice; {held})"
        )
    # Not one row right is no approximate ground truth: the rows answer another question.
    return replaced, (
        f"{path}: dataset 'neighbors': {said} checked ({held}); likely causes: neighbours "
        f"computed under another metric than hnsw.metric={spec.metric}, ids counted from 1 "
        "instead of 0, or the neighbours of another file"
    )


def _judge_shipped(spec: DataSpec, gt: dict[str, np.ndarray]) -> None:
    """What the check of the file's neighbours found, said on every run that uses them; rows
    that disagree are replaced by exact search's, or refuse the run (a DataFileError) under
    dataset.shipped_neighbors=strict."""
    replaced, found = _shipped_finding(spec, gt)
    if not replaced:
        log.info("ground truth: %s", found)
        return
    if spec.shipped_neighbors == "strict":
        raise DataFileError(
            f"{found}; dataset.shipped_neighbors=strict refuses neighbours that disagree with "
            "exact search (replace, the default, scores those queries against exact search's)"
        )
    if replaced < int(gt["shipped_verified_queries"][0]):
        log.warning("ground truth: %s and are replaced by exact search's", found)
        return
    log.warning(
        "ground truth: %s; every row is replaced by exact search's, so recall is scored against "
        "exact search alone (dataset.shipped_neighbors=strict refuses such a file)",
        found,
    )
