"""LanceDB, the embedded database a DuckDB user would weigh instead: an HNSW vector index (IVF
with one partition and an HNSW graph over raw vectors), its native full-text index, its own
hybrid query and reranker, filters before or after the vector search."""

import logging
import os
import shutil
import tempfile
import time
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

# Read once by its Rust core at import: one warning per query otherwise, and worker pools
# sized to the machine rather than to engine.threads (set in LanceDb.__init__ before import).
os.environ.setdefault("LANCEDB_LOG", "error")

import numpy as np
import pyarrow as pa

from vssbench.data import filters
from vssbench.engines.duckdb import sql
from vssbench.engines.library import LibraryEngine, Result, file_mb
from vssbench.engines.params import HEADLINE_EF, HnswBuild, effective_ef_search, timed_build
from vssbench.engines.registry import LanceDbOptions
from vssbench.measure.memory import rss_mb
from vssbench.stopwatch import Stopwatch

if TYPE_CHECKING:  # data.load imports faker and scipy, which the memory probe must not load
    from vssbench.data.load import Dataset

log = logging.getLogger(__name__)

DISTANCE = {"l2sq": "l2", "cosine": "cosine", "ip": "dot"}
TABLE = "docs"


def _lancedb():
    import lancedb

    return lancedb


def _literal(value: object) -> str:
    """A literal for a filter: LanceDB takes no bound parameters. A number as written, a string
    quoted, with SQL's doubled quotes."""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


class LanceDb(LibraryEngine):
    name = "lancedb"
    suffix = ".lancedb"  # a directory: the database with its one table
    pre_filter = "LanceDB's prefilter: a row-id mask given to the index search"

    def __init__(self, threads: int, options: LanceDbOptions | None = None) -> None:
        super().__init__(threads)
        # Read by its Rust core when lancedb is first imported (a sweep's worker keeps the
        # first run's value: describe() logs the value in effect).
        os.environ.setdefault("LANCE_CPU_THREADS", str(threads))
        self.num_partitions = (LanceDbOptions() if options is None else options).num_partitions
        self._where: dict[str, str] = {}
        self._ef = HEADLINE_EF  # until set_query sets the point's
        self._path: Path | None = None
        self.reranker: object = None

    def index_options(self) -> dict[str, object]:
        # pylance writes the index files; lancedb is the API over it.
        return {"num_partitions": self.num_partitions, "pylance": version("pylance")}

    def prepare(self) -> None:
        _lancedb()

    def _connect(self, path: Path) -> object:
        return _lancedb().connect(str(path))

    def _timed_build(self, vectors: np.ndarray, build: HnswBuild) -> tuple[Path, dict]:
        """The table written (ingest_s), then the index built (index_build_s, RSS growth): the
        index time alone, as DuckDB's CREATE INDEX is timed apart from loading the table."""
        t = time.perf_counter()
        path = self._ingest(np.ascontiguousarray(vectors, np.float32))
        ingest_s = time.perf_counter() - t
        rss_before, t = rss_mb(), time.perf_counter()
        self._create_index(path, build)
        return path, {
            "index_build_s": time.perf_counter() - t,
            "build_rss_growth_mb": rss_mb() - rss_before,
            "ingest_s": ingest_s,
        }

    def _create_index(self, path: Path, build: HnswBuild) -> None:
        from lancedb.index import HnswFlat

        self._connect(path).open_table(TABLE).create_index(
            "vec",
            config=HnswFlat(
                distance_type=DISTANCE[build.metric],
                num_partitions=self.num_partitions,
                m=build.M,
                ef_construction=build.ef_construction,
            ),
        )

    def _rows(self, ids: np.ndarray, vectors: np.ndarray) -> pa.Table:
        """Table rows of the documents `ids` (positions in the corpus) with `vectors`."""
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1))
        return pa.table(
            {
                "id": pa.array(np.asarray(ids, np.int64)),
                **sql.metadata_columns(self._corpus.iloc[ids], sql.FILTER_METADATA),
                "vec": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
            }
        )

    def _ingest(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> Path:
        path = Path(tempfile.mkdtemp(prefix="lancedb-"))  # the run's scratch dir
        ids = np.arange(len(vectors)) if ids is None else ids
        self._connect(path).create_table(TABLE, self._rows(ids, vectors))
        return path

    # -- a changing table (workload=churn) ---------------------------------------------------
    def open_mutable(
        self,
        data: "Dataset",
        build: HnswBuild,
        ids: np.ndarray,
        path: Path | None,
        watch: Stopwatch,
    ) -> dict[str, float]:
        """A table of the documents `ids` in the run's scratch dir with its HNSW index; the
        index build's facts (ingest_s apart)."""
        self._dim, self._metric = data.doc_vectors.shape[1], build.metric
        self._corpus, self.build = data.corpus, build
        t = time.perf_counter()
        self._path = self._ingest(data.doc_vectors[ids], ids)
        ingest_s = time.perf_counter() - t

        def build_index() -> dict[str, float]:
            t = time.perf_counter()
            self._create_index(self._path, build)
            return {"index_build_s": time.perf_counter() - t}

        with watch.stage("index_build"):
            facts = timed_build(build_index)
        self.index = self._connect(self._path).open_table(TABLE)
        return {**facts, "ingest_s": ingest_s}

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(self._rows(ids, vectors))

    def _remove(self, ids: np.ndarray) -> None:
        # LanceDB takes no bound parameters: the ids are written as integers.
        self.index.delete(f"id IN ({', '.join(str(int(i)) for i in ids)})")

    def compact(self) -> str:
        """Files compacted, deleted rows dropped, new rows added to the index, old versions
        removed (what optimize() does by default after a week)."""
        self.index.optimize(cleanup_older_than=timedelta(0))
        return "Table.optimize(cleanup_older_than=0)"

    def storage(self) -> dict[str, float]:
        return {"file_mb": file_mb(self._path)}

    def _save(self, index: Path, path: Path) -> None:
        shutil.move(str(index), str(path))

    def _load(self, path: Path, metric: str, dim: int) -> object:
        self._path = path
        return self._connect(path).open_table(TABLE)

    def _set_ef(self, ef: int) -> None:
        self._ef = ef

    def _prepare_filter(self, keep: dict[object, np.ndarray]) -> None:
        column = self.settings.column  # from a closed enum (FilterKind)
        op = filters.OPERATOR[column]
        self._where = {v: f"{column} {op} {_literal(v)}" for v in keep}

    def _vector_search(self, vector: np.ndarray, count: int):
        return (
            self.index.search(vector, vector_column_name="vec")
            .distance_type(DISTANCE[self._metric])
            # LanceDB refuses a beam below the rows asked: the effective ef the run records.
            .ef(effective_ef_search(self._ef, count))
            .select(["id", "_distance"])
            .limit(count)
        )

    @staticmethod
    def _read(found: pa.Table, score: str = "_distance") -> Result:
        return found["id"].to_numpy(), found[score].to_numpy()

    def query(self, vector: np.ndarray, value: object = None) -> Result:
        s = self.settings
        search = self._vector_search(vector, s.limit)
        if s.column is not None:
            search = search.where(self._where[value], prefilter=s.strategy == "pre")
        return self._read(search.to_arrow())

    def _batch(self, vectors: np.ndarray, count: int) -> np.ndarray:
        found = self._vector_search(vectors, count).to_arrow()
        # Sorted here: the queries of a batch run concurrently.
        order = np.lexsort((found["_distance"].to_numpy(), found["query_index"].to_numpy()))
        qi = found["query_index"].to_numpy()[order]
        ids = found["id"].to_numpy()[order]
        out = np.full((len(vectors), count), -1, np.int64)
        starts = np.searchsorted(qi, np.arange(len(vectors)))
        rank = np.arange(len(qi)) - starts[qi]
        out[qi, rank] = ids
        return out

    # -- full text ----------------------------------------------------------------------
    def open_texts(
        self, data: "Dataset", doc_tokens: list[str], column: str | None, bm25: str
    ) -> dict[str, float]:
        """A copy of the cached table in the run's scratch dir gets the tokens and LanceDB's
        native full-text index (whitespace tokens, no stemming, no stop words: the Korean
        morphemes as they are); its build time and RSS growth."""
        from lancedb.index import FTS

        copy = Path(tempfile.mkdtemp(prefix="lancedb-texts-")) / "db"
        shutil.copytree(self._path, copy)
        tbl = self._connect(copy).open_table(TABLE)
        tokens = pa.table(
            {
                "id": pa.array(np.arange(len(doc_tokens), dtype=np.int64)),
                "tokens": pa.array(doc_tokens, pa.string()),
            }
        )
        tbl.to_lance().merge(tokens, "id")
        tbl = self._connect(copy).open_table(TABLE)
        rss_before, t = rss_mb(), time.perf_counter()
        # max_token_length counts bytes: its default (40) drops Hangul words over 13 syllables.
        tbl.create_index(
            "tokens",
            config=FTS(
                base_tokenizer="whitespace",
                lower_case=True,
                stem=False,
                remove_stop_words=False,
                ascii_folding=False,
                with_position=False,
                max_token_length=None,
            ),
        )
        facts = {"fts_build_s": time.perf_counter() - t, "fts_memory_mb": rss_mb() - rss_before}
        self.index = tbl
        return facts

    def text_query(self, text: str, value: object, limit: int) -> Result:
        from lancedb.query import MatchQuery

        search = self.index.search(MatchQuery(text, "tokens"), query_type="fts")
        if value is not None:
            search = search.where(self._where[value], prefilter=True)
        return self._read(search.select(["id", "_score"]).limit(limit).to_arrow(), "_score")

    @property
    def text_sql(self) -> str:
        return "table.search(MatchQuery(tokens), query_type='fts').select(['id', '_score'])"

    def bm25_matches(self, ids: np.ndarray, texts: list[str]) -> np.ndarray:
        """Whether the full-text index scores document ids[i] for query texts[i] at all."""
        from lancedb.query import MatchQuery

        found = []
        for doc, text in zip(ids, texts, strict=True):
            hits = (
                self.index.search(MatchQuery(text, "tokens"), query_type="fts")
                .where(f"id = {int(doc)}", prefilter=True)
                .select(["id", "_score"])
                .limit(1)
                .to_arrow()
            )
            found.append(hits.num_rows > 0)
        return np.array(found)

    def hybrid_query(self, vector: np.ndarray, text: str, value: object, limit: int) -> Result:
        """LanceDB's own hybrid query: both legs and its reranker (`reranker`) in one call."""
        from lancedb.query import MatchQuery

        search = (
            self.index.search(query_type="hybrid", vector_column_name="vec", fts_columns="tokens")
            .vector(vector)
            .text(MatchQuery(text, "tokens"))
            .distance_type(DISTANCE[self._metric])
            .ef(effective_ef_search(self._ef, limit))
            .rerank(self.reranker)
        )
        if value is not None:
            search = search.where(self._where[value], prefilter=True)
        return self._read(search.select(["id"]).limit(limit).to_arrow(), "_relevance_score")

    def set_fusion(self, fusion: str, rrf_k: int, alpha: float) -> str:
        """The reranker of `hybrid_query` matching search.fusion; returns its description."""
        from lancedb.rerankers import LinearCombinationReranker, RRFReranker

        if fusion == "rrf":
            self.reranker = RRFReranker(K=rrf_k)
            return f"RRFReranker(K={rrf_k})"
        self.reranker = LinearCombinationReranker(weight=alpha)
        return f"LinearCombinationReranker(weight={alpha})"

    # -- facts --------------------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        out = {
            "lancedb.ef": str(self._ef),
            "lancedb.num_partitions": str(self.num_partitions),
            "lancedb.cpu_threads": os.environ.get("LANCE_CPU_THREADS", ""),
        }
        if self.build is not None:
            out["lancedb.m"] = str(self.build.M)
            out["lancedb.ef_construction"] = str(self.build.ef_construction)
        if self.index is not None:
            for index in self.index.list_indices():
                out[f"lancedb.index.{index.name}"] = str(index.index_type)
        return out

    def index_info(self) -> dict[str, float]:
        return {**super().index_info(), "index_count": float(self.index.count_rows())}
