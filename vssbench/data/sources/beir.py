"""The `beir` dataset: a retrieval set in the BEIR layout, the one Korean sets (Ko-StrategyQA,
MIRACL-ko, AutoRAG, MTEB's Korean tasks) are distributed in:

    DIR/corpus.jsonl          {"_id", "title", "text"} per line
    DIR/queries.jsonl         {"_id", "text"} per line
    DIR/qrels/<split>.tsv     query-id, corpus-id, score (a header line, then a row per label)

A document's text is its title and text joined by a space, as BEIR's dense retrievers encode
them (a document with neither is refused). The labels are the split's qrels, graded by their
score (a score of 0 or less is not relevant); the queries are those the split's qrels name,
as BEIR evaluates them (the others are counted and left out). Vectors come from a directory of
Parquet files keyed by id (`dataset.vectors`, by default `DIR/vectors/` when it exists:
corpus.parquet and queries.parquet, columns `id` and `vector`), or from embed=model.
"""

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vssbench import cache
from vssbench.data import filters
from vssbench.data.sources.files import (
    Checked,
    DataFileError,
    FileSource,
    Tables,
    check_vectors,
    content_sha256,
    fail,
)

log = logging.getLogger(__name__)

VECTORS_DIR = "vectors"  # the default dataset.vectors, under DIR (scripts/export_dataset.py)
VECTOR_FILES = {"docs": "corpus.parquet", "queries": "queries.parquet"}


@dataclass
class Layout:
    corpus: Path
    queries: Path
    qrels: Path
    vectors: Path | None  # the vectors dir, None when the data has none


def layout(source: FileSource) -> Layout:
    """The set's files, each checked to exist; a one-line DataFileError naming what is missing."""
    root = Path(source.paths["path"])
    if not root.is_dir():
        fail(root, "dataset.path", "is not a directory (dataset=beir reads a BEIR layout dir)")
    split = source.settings.split
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", split) or split.startswith("."):
        fail(root, "dataset.split", f"{split!r} is not a split name (the qrels file's stem)")
    files = Layout(
        root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv", None
    )
    for path in (files.corpus, files.queries, files.qrels):
        if not path.is_file():
            fail(path, "file", f"does not exist (dataset=beir, dataset.split={split})")
    vectors = source.paths.get("vectors")
    if vectors is not None:
        files.vectors = Path(vectors)
        if not files.vectors.is_dir():
            fail(vectors, "dataset.vectors", "is not a directory")
    elif (root / VECTORS_DIR).is_dir():
        files.vectors = root / VECTORS_DIR
    return files


def _lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) of every non-empty line; a line that is not UTF-8 or not a JSON
    object is refused, naming the line."""
    out = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                fail(
                    path,
                    f"line {number}",
                    f"is not UTF-8 text ({error.reason} at byte {error.start})",
                )
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                fail(path, f"line {number}", f"is not JSON ({error.msg})")
            if not isinstance(row, dict):
                fail(path, f"line {number}", "is not a JSON object")
            out.append((number, row))
    return out


def _field(path: Path, number: int, row: dict, name: str) -> str:
    value = row.get(name, "")
    if not isinstance(value, str):
        fail(path, f"line {number}", f"field {name!r} is not a string")
    return value


def _records(path: Path, fields: tuple[str, ...]) -> pd.DataFrame:
    """The file's rows as `_id` and the named text fields; missing or repeated ids refused."""
    rows, seen = [], {}
    for number, row in _lines(path):
        doc_id = row.get("_id")
        if isinstance(doc_id, int):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id:
            fail(path, f"line {number}", "field '_id' is missing")
        if doc_id in seen:
            fail(path, f"line {number}", f"_id {doc_id!r} repeats line {seen[doc_id]}")
        seen[doc_id] = number
        rows.append((number, doc_id, *(_field(path, number, row, f) for f in fields)))
    if not rows:
        fail(path, "file", "has no rows")
    return pd.DataFrame(rows, columns=["line", "_id", *fields])


def _qrels(path: Path) -> pd.DataFrame:
    """query-id, corpus-id, score per row after the header."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as error:
        fail(path, "file", f"is not UTF-8 text ({error.reason})")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        fail(path, "file", f"is not a tab-separated qrels file ({error})")
    wanted = ["query-id", "corpus-id", "score"]
    if list(frame.columns[:3]) != wanted:
        fail(
            path,
            "line 1",
            f"must be the header {' '.join(wanted)}, found {' '.join(frame.columns)}",
        )
    scores = pd.to_numeric(frame["score"], errors="coerce")
    if scores.isna().any():
        row = int(np.argmax(scores.isna().to_numpy()))
        fail(path, f"line {row + 2}", f"score {frame['score'].iat[row]!r} is not a number")
    return frame.assign(score=scores.astype(float), line=np.arange(len(frame)) + 2)


def _labelled(files: Layout) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Corpus, the queries the split's qrels name, the qrels, every id checked; and how many
    queries the queries file has without a label in the split."""
    corpus = _records(files.corpus, ("title", "text"))
    empty = (corpus["title"].str.strip() + corpus["text"].str.strip()) == ""
    if empty.any():
        fail(files.corpus, f"line {corpus['line'][empty].iat[0]}", "has neither title nor text")
    queries = _records(files.queries, ("text",))
    if (queries["text"].str.strip() == "").any():
        fail(
            files.queries,
            f"line {queries['line'][queries['text'].str.strip() == ''].iat[0]}",
            "field 'text' is empty",
        )
    qrels = _qrels(files.qrels)
    for column, known, what in (
        ("query-id", set(queries["_id"]), "query"),
        ("corpus-id", set(corpus["_id"]), "document"),
    ):
        unknown = ~qrels[column].isin(known)
        if unknown.any():
            row = qrels[unknown].iloc[0]
            fail(
                files.qrels,
                f"line {row['line']}",
                f"names {what} {row[column]!r}, which is not in the set",
            )
    kept = queries[queries["_id"].isin(set(qrels["query-id"]))].reset_index(drop=True)
    return corpus, kept, qrels, len(queries) - len(kept)


def _vector_dim(files: Layout) -> int | None:
    if files.vectors is None:
        return None
    path = files.vectors / VECTOR_FILES["docs"]
    if not path.is_file():
        fail(
            path,
            "file",
            "does not exist (dataset.vectors holds corpus.parquet and queries.parquet)",
        )
    try:
        schema = pq.read_schema(path)
        kind = schema.field("vector").type if "vector" in schema.names else None
        if kind is None or "id" not in schema.names:
            fail(path, "file", f"needs columns id and vector; it has {', '.join(schema.names)}")
        if pa.types.is_fixed_size_list(kind):
            return kind.list_size
        first = pq.ParquetFile(path).read_row_group(0, columns=["vector"]).column(0).drop_null()
    except (OSError, pa.ArrowException) as error:
        fail(path, "file", f"is not a readable parquet file ({error})")
    if not len(first):
        fail(path, "column 'vector'", "has no vector in its first row group")
    return len(first[0])


def check(source: FileSource, search: str, filter_column: str | None) -> Checked:
    """The set's sizes (every file read: a BEIR set is text, without a header of counts) and
    its vectors' dim (None: they come from embed=model); the files are parsed and checked only
    when no earlier check of the same content is cached (see keep_checks_in)."""
    files = layout(source)
    if filter_column not in (None, filters.ATTRIBUTE):
        raise DataFileError(
            f"{files.corpus}: a BEIR set has no metadata; filter={filter_column} needs it "
            "(filter=attribute works on any dataset)"
        )
    found = _checked(files)
    skipped = found["skipped"]
    left_out = (
        f"{files.queries}: {skipped} of {skipped + found['n_queries']} queries have no label "
        f"in {files.qrels.name}: left out, as BEIR evaluates only labelled queries"
        if skipped
        else ""
    )
    return Checked(found["n_docs"], found["n_queries"], found["dim"], left_out=left_out)


# Bump when what _check_files refuses or counts changes: verdicts cached before are then redone.
CHECKS_VERSION = 1
CHECKS = "beir_checks"  # <cache_dir>/beir_checks/<key hash>.check: JSON; <key hash>.json is its key
_checks_root: Path | None = None  # where this process caches checks (keep_checks_in)


def keep_checks_in(root: Path | None) -> None:
    """Cache the sets' checks under `root` (the run's cache_dir) from now on in this process;
    None: check every time. Set by the command's entry (sweep/callbacks.py), as the check runs
    while the configuration is read, before any plan carries the cache dir."""
    global _checks_root
    _checks_root = root


def _checks_key(files: Layout) -> dict:
    """Each file the check reads, by its size and SHA-256 (None: missing, so never cached): any
    changed byte is another key, whatever the size. SHA-256 because the run's identity
    (files.FileSource) hashes these files with it and the hash is remembered per process: each
    file is read once a run for both, where a faster hash would read it a second time."""
    read = {"corpus": files.corpus, "queries": files.queries, "qrels": files.qrels}
    if files.vectors is not None:
        read |= {f"vectors_{part}": files.vectors / name for part, name in VECTOR_FILES.items()}
    return {
        "version": CHECKS_VERSION,
        "files": {
            role: [path.stat().st_size, content_sha256(path)] if path.is_file() else None
            for role, path in read.items()
        },
    }


def _checked(files: Layout) -> dict:
    """What the check found: from the cache when the same files were checked before, else
    parsed and checked here (a bad file raises before anything is written) and cached."""
    root = _checks_root
    if root is None:
        return _check_files(files)
    key = _checks_key(files)
    found = cache.stored(root, CHECKS, key, ".check", cache.load_json)
    if found is not None:
        log.info(
            "%s: checks from the cache (a cache hit): %s unchanged in size and SHA-256",
            files.corpus.parent,
            ", ".join(sorted(role for role, f in key["files"].items() if f)),
        )
        return found
    found = _check_files(files)
    try:
        cache.cached(
            cache.entry(root, CHECKS, key, ".check"),
            lambda: found,
            cache.save_json,
            cache.load_json,
        )
    except OSError as error:  # a cache that cannot be written costs the next run a check, no more
        log.warning("%s: checks not cached (%s)", files.corpus.parent, error)
    return found


def _check_files(files: Layout) -> dict:
    """Every file parsed and checked: sizes, the queries left out, the vectors' dim and ids."""
    log.info(
        "%s: parsing and checking %s, %s and %s",
        files.corpus.parent,
        files.corpus.name,
        files.queries.name,
        files.qrels.name,
    )
    corpus, queries, _, skipped = _labelled(files)
    dim = _vector_dim(files)
    if dim is not None:
        _check_vector_ids(files, corpus, queries)
    return {"n_docs": len(corpus), "n_queries": len(queries), "skipped": skipped, "dim": dim}


def _rows(path: Path, table: pa.Table, ids: pd.Series) -> np.ndarray:
    """The row of each of `ids` in the file's id column; an id repeated or missing refused."""
    by_id = pd.Index(table.column("id").to_pandas().astype(str))
    if not by_id.is_unique:
        fail(path, "column 'id'", f"ids are not unique ({by_id[by_id.duplicated()][0]!r} repeats)")
    rows = by_id.get_indexer(ids)
    if (rows < 0).any():
        fail(path, "column 'id'", f"has no vector for {ids.iat[int(np.argmax(rows < 0))]!r}")
    return rows


def _read_columns(path: Path, columns: list[str]) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException, KeyError) as error:
        fail(path, "file", f"cannot be read as columns {' and '.join(columns)} ({error})")


def _check_vector_ids(files: Layout, corpus: pd.DataFrame, queries: pd.DataFrame) -> None:
    """Every document and query has a vector (the id columns only: before any work)."""
    for part, ids in (("docs", corpus["_id"]), ("queries", queries["_id"])):
        path = files.vectors / VECTOR_FILES[part]
        _rows(path, _read_columns(path, ["id"]), ids)


def _vectors(files: Layout, part: str, ids: pd.Series, dim: int | None = None) -> np.ndarray:
    """The vectors of `ids`, in their order, from the part's Parquet file keyed by id."""
    path = files.vectors / VECTOR_FILES[part]
    table = _read_columns(path, ["id", "vector"])
    rows = _rows(path, table, ids)
    values = table.column("vector").combine_chunks()
    if values.null_count:
        fail(path, "column 'vector'", f"{values.null_count} rows have no vector")
    lengths = pc.list_value_length(values).to_numpy()
    if (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        fail(
            path,
            "column 'vector'",
            f"vectors differ in length: row 0 has {lengths[0]}, row {row} has {lengths[row]}",
        )
    flat = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    vectors = flat.reshape(len(values), int(lengths[0]))[rows]
    check_vectors(path, "column 'vector'", vectors, dim)
    return vectors


def read(source: FileSource) -> Tables:
    files = layout(source)
    corpus, queries, qrels, _ = _labelled(files)
    position = pd.Series(np.arange(len(corpus)), index=corpus["_id"])
    docs = pd.DataFrame(
        {
            "id": np.arange(len(corpus), dtype=np.int64),
            "source_id": corpus["_id"],
            "text": (corpus["title"].str.strip() + " " + corpus["text"].str.strip()).str.strip(),
        }
    )
    relevant, grades = [], []
    positive = qrels[qrels["score"] > 0]
    by_query = {q: group for q, group in positive.groupby("query-id")}
    for query_id in queries["_id"]:
        group = by_query.get(query_id)
        relevant.append(
            position[group["corpus-id"]].to_numpy(np.int64)
            if group is not None
            else np.zeros(0, np.int64)
        )
        grades.append(group["score"].to_numpy(float) if group is not None else np.zeros(0))
    frame = pd.DataFrame(
        {
            "qid": queries["_id"],
            "kind": "query",
            "text": queries["text"].str.strip(),
            "relevant": relevant,
            "grades": grades,
            "target": [
                int(r[np.argmax(g)]) if len(r) else -1
                for r, g in zip(relevant, grades, strict=True)
            ],
        }
    )
    doc_vectors = query_vectors = None
    if files.vectors is not None:
        doc_vectors = _vectors(files, "docs", corpus["_id"])
        query_vectors = _vectors(files, "queries", queries["_id"], doc_vectors.shape[1])
    return Tables(doc_vectors, query_vectors, docs, frame)
