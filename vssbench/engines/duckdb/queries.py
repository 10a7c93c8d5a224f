"""Query shapes as SQL with bound parameters: vector search, its filtered variants, and BM25."""

from dataclasses import dataclass

from vssbench.data.filters import OPERATOR

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
    op = OPERATOR.get(column, "=")
    if strategy == "none":
        return QueryShape(f"SELECT id, {dist} FROM docs ORDER BY dist LIMIT ?", True, ("vec", "k"))
    if strategy == "post":
        sql = f"SELECT id, {dist} FROM docs WHERE {column} {op} ? ORDER BY dist LIMIT ?"
        return QueryShape(sql, True, ("vec", "value", "k"))
    if strategy == "overfetch":
        sql = (
            f"SELECT id, dist FROM (SELECT id, {column}, {dist} FROM docs ORDER BY dist LIMIT ?) "
            f"WHERE {column} {op} ? ORDER BY dist LIMIT ?"
        )
        return QueryShape(sql, True, ("vec", "fetch", "value", "k"))
    if strategy == "exact" and column is None:
        return QueryShape(
            f"SELECT id, {dist} FROM docs ORDER BY dist + 0 LIMIT ?", False, ("vec", "k")
        )
    if strategy == "exact":
        sql = f"SELECT id, {dist} FROM docs WHERE {column} {op} ? ORDER BY dist + 0 LIMIT ?"
        return QueryShape(sql, False, ("vec", "value", "k"))
    raise ValueError(f"unknown filter strategy {strategy!r}")


def bm25_query(column: str | None = None, implementation: str = "match_bm25") -> QueryShape:
    """Top-k by BM25 over the FTS index of texts.tokens; documents that match no term are left out.

    match_bm25: the fts extension's per-row macro, as its documentation writes the query.
    fts_tables: the same BM25 (k1 1.2, b 0.75, log10 idf, distinct query terms, global
    statistics) as one top-k query over the fts_main_texts tables, from the query's terms to
    the documents that hold them. Both order ties by id.
    Its own statement: joined with the HNSW top-k in one statement, the vector side loses the index.
    Parameters: text (tokenized like the documents), value when filtered, k.
    """
    where, order = ("", ("text", "k"))
    if column:  # from a closed enum (FilterKind)
        where, order = f"WHERE {column} {OPERATOR[column]} ?", ("text", "value", "k")
    if implementation == "match_bm25":
        sql = (
            f"SELECT id, score FROM (SELECT id, fts_main_texts.match_bm25(id, ?) AS score "
            f"FROM texts {where}) WHERE score IS NOT NULL ORDER BY score DESC, id LIMIT ?"
        )
        return QueryShape(sql, False, order)
    if implementation != "fts_tables":
        raise ValueError(f"unknown BM25 implementation {implementation!r}")
    # The macro's arithmetic with its literals; the terms of a document are summed in a fixed
    # order so that equal scores are equal to the last bit and ties fall to the id.
    sql = f"""WITH qtok AS (
    SELECT DISTINCT stem(unnest(fts_main_texts.tokenize(?)), 'none') AS t),
qterm AS (
    SELECT dict.termid, dict.df FROM fts_main_texts.dict AS dict JOIN qtok ON dict.term = qtok.t),
term_tf AS (
    SELECT terms.docid, terms.termid, count(*) AS tf FROM fts_main_texts.terms AS terms
    WHERE terms.termid IN (SELECT termid FROM qterm) GROUP BY terms.docid, terms.termid),
scores AS (
    SELECT term_tf.docid, list_sum(list_sort(list(
        log(((SELECT num_docs FROM fts_main_texts.stats) - qterm.df + 0.5) / (qterm.df + 0.5) + 1)
        * ((term_tf.tf * (1.2 + 1) / (term_tf.tf + 1.2 * (1 - 0.75 + 0.75
            * (docs.len / (SELECT avgdl FROM fts_main_texts.stats))))))), 'ASC')) AS score
    FROM term_tf JOIN qterm ON qterm.termid = term_tf.termid
    JOIN fts_main_texts.docs AS docs ON docs.docid = term_tf.docid
    GROUP BY term_tf.docid)
SELECT texts.id, scores.score FROM scores
JOIN fts_main_texts.docs AS docs ON docs.docid = scores.docid
JOIN texts ON texts.id = docs.name
{where}
ORDER BY scores.score DESC, texts.id LIMIT ?"""
    return QueryShape(sql, False, order)
