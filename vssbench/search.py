"""Query shapes as SQL with bound parameters: vector search, its filtered variants, and BM25."""

from dataclasses import dataclass

DISTANCE_FUNCTION = {
    "l2sq": "array_distance",
    "cosine": "array_cosine_distance",
    "ip": "array_negative_inner_product",
}


@dataclass(frozen=True)
class QueryShape:
    """SQL returning (id, score) rows best first, and the names of its bound parameters in order."""

    sql: str
    uses_index: bool
    order: tuple[str, ...]

    def params(self, **values: object) -> list:
        return [values[name] for name in self.order]


def vector_query(metric: str, dim: int, strategy: str, column: str | None = None) -> QueryShape:
    """The SQL a user writes for top-k vector search, optionally restricted to `column` = value.

    post: WHERE + ORDER BY + LIMIT as written; this vss build filters after the index search.
    overfetch: index top-`fetch`, then the filter, then top-k.
    exact: brute force; `+ 0` makes the ORDER BY expression not match the index.
    Parameters: vec, k, and value / fetch for the filtered shapes.
    """
    dist = f"{DISTANCE_FUNCTION[metric]}(vec, ?::FLOAT[{dim}]) AS dist"
    # The column comes from a closed enum (FilterKind), never from user text.
    if strategy == "none":
        return QueryShape(f"SELECT id, {dist} FROM docs ORDER BY dist LIMIT ?", True, ("vec", "k"))
    if strategy == "post":
        sql = f"SELECT id, {dist} FROM docs WHERE {column} = ? ORDER BY dist LIMIT ?"
        return QueryShape(sql, True, ("vec", "value", "k"))
    if strategy == "overfetch":
        sql = (
            f"SELECT id, dist FROM (SELECT id, {column}, {dist} FROM docs ORDER BY dist LIMIT ?) "
            f"WHERE {column} = ? ORDER BY dist LIMIT ?"
        )
        return QueryShape(sql, True, ("vec", "fetch", "value", "k"))
    if strategy == "exact":
        sql = f"SELECT id, {dist} FROM docs WHERE {column} = ? ORDER BY dist + 0 LIMIT ?"
        return QueryShape(sql, False, ("vec", "value", "k"))
    raise ValueError(f"unknown filter strategy {strategy!r}")


def index_limit(strategy: str, limit: int, overfetch_factor: int) -> int | None:
    """Rows the HNSW index is asked for: LIMIT, or LIMIT x factor when overfetching; None for exact."""
    if strategy == "exact":
        return None
    return limit * overfetch_factor if strategy == "overfetch" else limit


def effective_ef_search(ef_search: int, rows_asked: int) -> int:
    """The beam the index really searches with: usearch widens it to the rows asked for."""
    return max(ef_search, rows_asked)


def bm25_query(column: str | None = None) -> QueryShape:
    """Top-k by BM25 over the FTS index of texts.tokens; documents that match no term are left out.

    Its own statement: joined with the HNSW top-k in one statement, the vector side loses the index.
    Parameters: text (tokenized like the documents), k, and value when filtered.
    """
    where, order = (
        (f"WHERE {column} = ?", ("text", "value", "k")) if column else ("", ("text", "k"))
    )
    sql = (
        f"SELECT id, score FROM (SELECT id, fts_main_texts.match_bm25(id, ?) AS score FROM texts {where}) "
        "WHERE score IS NOT NULL ORDER BY score DESC LIMIT ?"
    )
    return QueryShape(sql, False, order)
