"""The `parquet` dataset: a documents file and a queries file, with the columns named in config.

Documents: an id and a vector per row; optional text (BM25, hybrid) and the filter columns
`category` and `region`. Queries: a vector per row; optional text, relevant document ids with
their grades, a query kind, and each filter column's value for the query.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vssbench.data.sources import Columns
from vssbench.data.sources.files import (
    Checked,
    DataFileError,
    FileSource,
    Tables,
    check_vectors,
    fail,
)

FILTER_COLUMNS = ("category", "region")  # the metadata a filter=category|region run reads


@dataclass
class Header:
    n_docs: int
    n_queries: int
    dim: int
    doc_columns: list[str]
    query_columns: list[str]


def _open(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except FileNotFoundError:
        fail(path, "file", "does not exist")
    except (OSError, pa.ArrowException) as error:
        fail(path, "file", f"is not a readable parquet file ({error})")


def _require(path: str, have: list[str], column: str | None, setting: str) -> None:
    if column is not None and column not in have:
        fail(path, f"column {column!r}", f"is missing ({setting}); the file has {', '.join(have)}")


def header(docs: str, queries: str, columns: Columns) -> Header:
    """Sizes, dim and column names, from the files' metadata and first vector; checks that
    every configured column is there."""
    doc_file, query_file = _open(docs), _open(queries)
    doc_columns, query_columns = doc_file.schema_arrow.names, query_file.schema_arrow.names
    _require(docs, doc_columns, columns.id, "dataset.columns.id")
    _require(docs, doc_columns, columns.vector, "dataset.columns.vector")
    _require(docs, doc_columns, columns.text, "dataset.columns.text")
    for column, setting in (
        (columns.query_vector, "query_vector"),
        (columns.query_text, "query_text"),
        (columns.relevant, "relevant"),
        (columns.grades, "grades"),
        (columns.kind, "kind"),
    ):
        _require(queries, query_columns, column, f"dataset.columns.{setting}")
    if doc_file.metadata.num_rows == 0:
        fail(docs, "file", "has no rows")
    return Header(
        n_docs=doc_file.metadata.num_rows,
        n_queries=query_file.metadata.num_rows,
        dim=_dim(docs, doc_file, columns.vector),
        doc_columns=doc_columns,
        query_columns=query_columns,
    )


def _read(path: str, columns: list[str | None]) -> pa.Table:
    try:
        return pq.read_table(path, columns=[c for c in dict.fromkeys(columns) if c])
    except pa.ArrowException as error:
        fail(path, "file", f"cannot be read ({error})")


def _dim(path: str, file: pq.ParquetFile, column: str) -> int:
    """The vectors' dim from the schema, or from the first row that has a vector."""
    where = f"column {column!r}"
    kind = file.schema_arrow.field(column).type
    if pa.types.is_fixed_size_list(kind):
        return kind.list_size
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
        fail(path, where, f"must hold lists of floats, found {kind}")
    try:
        for batch in file.iter_batches(batch_size=1024, columns=[column]):
            vectors = batch.column(0).drop_null()
            if len(vectors):
                return len(vectors[0])
    except pa.ArrowException as error:
        fail(path, where, f"cannot be read ({error})")
    fail(path, where, "has no vector in any row")


def _vectors(path: str, table: pa.Table, column: str) -> np.ndarray:
    where = f"column {column!r}"
    values = table.column(column).combine_chunks()
    if not (pa.types.is_list(values.type) or pa.types.is_fixed_size_list(values.type)):
        fail(path, where, f"must hold lists of floats, found {values.type}")
    if values.null_count:
        fail(path, where, f"{values.null_count} rows have no vector")
    lengths = pc.list_value_length(values).to_numpy()
    if (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        fail(
            path,
            where,
            f"vectors differ in length: row 0 has {lengths[0]}, row {row} has {lengths[row]}",
        )
    try:
        flat = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    except (pa.ArrowException, TypeError, ValueError) as error:
        fail(path, where, f"holds values that are not numbers ({error})")
    vectors = flat.reshape(len(values), int(lengths[0]))
    check_vectors(path, where, vectors)
    return vectors


def check(source: FileSource, search: str, filter_column: str | None) -> Checked:
    """The files' sizes; hybrid search needs the texts and labels, a category or region filter
    that column in both files."""
    docs, queries, columns = source.paths["docs"], source.paths["queries"], source.settings.columns
    head = header(docs, queries, columns)
    if search == "hybrid" and not (columns.text and columns.query_text and columns.relevant):
        raise DataFileError(
            "search=hybrid: needs dataset.columns.text, query_text and relevant (the BM25 "
            "half reads the texts; its check that Korean text reached the index reads the labels)"
        )
    if filter_column in FILTER_COLUMNS:
        for path, have in ((docs, head.doc_columns), (queries, head.query_columns)):
            if filter_column not in have:
                raise DataFileError(
                    f"{path}: column {filter_column!r}: is missing (filter={filter_column} "
                    "reads each document's value and each query's)"
                )
    return Checked(head.n_docs, head.n_queries, head.dim)


def read(source: FileSource) -> Tables:
    docs, queries, columns = source.paths["docs"], source.paths["queries"], source.settings.columns
    head = header(docs, queries, columns)
    wanted = [columns.id, columns.vector, columns.text]
    wanted += [c for c in FILTER_COLUMNS if c in head.doc_columns]
    doc_table = _read(docs, wanted)
    doc_vectors = _vectors(docs, doc_table, columns.vector)
    ids = pd.Index(doc_table.column(columns.id).to_pandas())
    if ids.hasnans:
        fail(docs, f"column {columns.id!r}", "has empty ids")
    if not ids.is_unique:
        duplicate = ids[ids.duplicated()][0]
        fail(docs, f"column {columns.id!r}", f"ids are not unique ({duplicate!r} repeats)")
    corpus = pd.DataFrame({"id": np.arange(len(ids), dtype=np.int64), "source_id": ids})
    if columns.text:
        corpus["text"] = _texts(docs, doc_table, columns.text)
    for name in FILTER_COLUMNS:
        if name in doc_table.column_names:
            corpus[name] = doc_table.column(name).to_pandas().astype(str)

    wanted = [
        columns.query_vector,
        columns.query_text,
        columns.relevant,
        columns.grades,
        columns.kind,
    ]
    wanted += [c for c in FILTER_COLUMNS if c in head.query_columns]
    query_table = _read(queries, wanted)
    query_vectors = _vectors(queries, query_table, columns.query_vector)
    check_vectors(queries, f"column {columns.query_vector!r}", query_vectors, doc_vectors.shape[1])
    n = len(query_vectors)
    frame = pd.DataFrame({"qid": np.arange(n), "kind": "query", "target": -1})
    if columns.kind:
        frame["kind"] = query_table.column(columns.kind).to_pandas().astype(str)
        # Kinds name metrics (mrr_at_10.<kind>).
        for kind in frame["kind"].unique():
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", kind):
                fail(
                    queries,
                    f"column {columns.kind!r}",
                    f"kind {kind!r} is not 1-64 letters, digits, '_', '.' or '-'",
                )
    if columns.query_text:
        frame["text"] = _texts(queries, query_table, columns.query_text)
    for name in FILTER_COLUMNS:
        if name in query_table.column_names:
            frame[name] = query_table.column(name).to_pandas().astype(str)
    if columns.relevant:
        relevant, grades = _labels(queries, query_table, columns, ids)
        frame["relevant"], frame["grades"] = relevant, grades
        # The target is a query's best-graded relevant document (the first of equals).
        frame["target"] = [
            int(r[np.argmax(g)]) if len(r) else -1 for r, g in zip(relevant, grades, strict=True)
        ]
    return Tables(doc_vectors, query_vectors, corpus, frame)


def _texts(path: str, table: pa.Table, column: str) -> pd.Series:
    """The column as UTF-8 text (a missing text is empty), refused when it is not text or when
    every row is empty: BM25 would index nothing."""
    where = f"column {column!r}"
    values = table.column(column)
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        for row, value in enumerate(values.to_pylist()):
            try:
                value is None or value.decode("utf-8")
            except UnicodeDecodeError as error:
                fail(
                    path,
                    where,
                    f"row {row} is not UTF-8 text ({error.reason} at byte {error.start})",
                )
        values = pc.cast(values, pa.large_string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        fail(path, where, f"must hold text, found {values.type}")
    texts = values.to_pandas().fillna("")
    if not texts.str.strip().any():
        fail(path, where, "every text is empty: BM25 would have nothing to search")
    return texts


def _labels(
    path: str, table: pa.Table, columns: Columns, ids: pd.Index
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Relevant documents as positions, and their grades (1 each when no grades column)."""
    listed = table.column(columns.relevant).to_pylist()
    graded = table.column(columns.grades).to_pylist() if columns.grades else None
    relevant, grades = [], []
    for row, ids_of_row in enumerate(listed):
        ids_of_row = ids_of_row or []
        positions = ids.get_indexer(ids_of_row)
        if (positions < 0).any():
            unknown = ids_of_row[int(np.argmax(positions < 0))]
            fail(
                path,
                f"column {columns.relevant!r}",
                f"row {row} lists {unknown!r}, which is not a document id",
            )
        g = np.ones(len(positions)) if graded is None else np.asarray(graded[row] or [], float)
        if len(g) != len(positions):
            fail(
                path,
                f"column {columns.grades!r}",
                f"row {row} has {len(g)} grades for {len(positions)} relevant ids",
            )
        relevant.append(positions.astype(np.int64))
        grades.append(g)
    return relevant, grades
