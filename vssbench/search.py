"""Query shapes as SQL with bound parameters: plain vector search and the filtered variants."""

from dataclasses import dataclass

import numpy as np

DISTANCE_FUNCTION = {
    "l2sq": "array_distance",
    "cosine": "array_cosine_distance",
    "ip": "array_negative_inner_product",
}


@dataclass(frozen=True)
class QueryShape:
    sql: str
    uses_index: bool
    # Bound-parameter order: which of "vec", "value", "k", "fetch" the SQL takes, in order.
    order: tuple[str, ...]

    def params(self, vector: np.ndarray, value: str, k: int, fetch: int) -> list:
        values = {"vec": vector, "value": value, "k": k, "fetch": fetch}
        return [values[name] for name in self.order]


def vector_query(metric: str, dim: int, strategy: str, column: str | None = None) -> QueryShape:
    """The SQL a user writes for top-k vector search, optionally restricted to `column` = value.

    post: WHERE + ORDER BY + LIMIT as written; this vss build filters after the index search.
    overfetch: index top-`fetch`, then the filter, then top-k.
    exact: brute force; `+ 0` makes the ORDER BY expression not match the index.
    """
    dist = f"{DISTANCE_FUNCTION[metric]}(vec, ?::FLOAT[{dim}])"
    if strategy == "none":
        return QueryShape(f"SELECT id FROM docs ORDER BY {dist} LIMIT ?", True, ("vec", "k"))
    # The column comes from a closed enum (FilterKind), never from user text.
    if strategy == "post":
        sql = f"SELECT id FROM docs WHERE {column} = ? ORDER BY {dist} LIMIT ?"
        return QueryShape(sql, True, ("value", "vec", "k"))
    if strategy == "overfetch":
        sql = (
            f"SELECT id FROM (SELECT id, {column}, {dist} AS dist FROM docs ORDER BY dist LIMIT ?) "
            f"WHERE {column} = ? ORDER BY dist LIMIT ?"
        )
        return QueryShape(sql, True, ("vec", "fetch", "value", "k"))
    if strategy == "exact":
        sql = f"SELECT id FROM docs WHERE {column} = ? ORDER BY {dist} + 0 LIMIT ?"
        return QueryShape(sql, False, ("value", "vec", "k"))
    raise ValueError(f"unknown filter strategy {strategy!r}")
