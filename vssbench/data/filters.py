"""What a filtered query keeps: the column, its operator, each query's value, which documents
match. `category` and `region` keep the documents with the query's target's value;
`attribute` is independent of everything else and keeps a share of the documents set by
filter.selectivity (`attribute < selectivity`)."""

import numpy as np
import pandas as pd

ATTRIBUTE = "attribute"
# The SQL operator of each filter column; the columns come from a closed enum (FilterKind).
OPERATOR = {"category": "=", "region": "=", ATTRIBUTE: "<"}


def attribute_values(n_docs: int, seed: int) -> np.ndarray:
    """Each document's attribute: a seeded permutation of the n evenly spaced values in (0, 1),
    so `attribute < s` keeps round(s * n) documents, unrelated to their text."""
    rank = np.random.default_rng([seed, 0xA77]).permutation(n_docs)
    return (rank + 0.5) / n_docs


def query_values(
    corpus: pd.DataFrame, queries: pd.DataFrame, column: str | None, selectivity: float | None
) -> np.ndarray:
    """Each query's filter value: its own (a file's queries carry it), else its target
    document's; the attribute's threshold for `attribute`."""
    if column is None:
        return np.full(len(queries), None, dtype=object)
    if column == ATTRIBUTE:
        return np.full(len(queries), float(selectivity))
    if column in queries:
        return queries[column].to_numpy(dtype=str)
    return corpus[column].to_numpy(dtype=str)[queries["target"].to_numpy()]


def doc_values(corpus: pd.DataFrame, column: str) -> np.ndarray:
    values = corpus[column].to_numpy()
    return values if column == ATTRIBUTE else values.astype(str)


def matches(column: str, values: np.ndarray, value: object) -> np.ndarray:
    """Which of the documents with these values a query with `value` keeps."""
    return values < value if OPERATOR[column] == "<" else values == value
