"""Korean BM25 in real DuckDB FTS: the tokenizers, and the trap of the documented ignore pattern."""

import numpy as np
import pytest

from vssbench.data.tokens import tokenize
from vssbench.engines.duckdb import sql

DOCS = ["커피를 매일 마셨다", "녹차가 좋다", "주식을 샀다"]


def _fts(metadata, tokens: list[str], options: str = sql.FTS_OPTIONS):
    corpus = metadata(len(tokens))
    con = sql.connect(threads=1, late_materialization_max_rows=0)
    sql.load_texts(con, corpus, tokens)
    sql.build_fts(con, options)
    return con


@pytest.mark.parametrize("tokenizer", ["kiwi", "bigram"])
def test_noun_with_particle_matches_bare_noun(metadata, tokenizer):
    con = _fts(metadata, tokenize(DOCS, tokenizer))
    query = tokenize(["커피"], tokenizer)[0]
    scores = sql.bm25_scores_of(con, np.arange(3), [query] * 3)
    assert scores[0] > 0 and np.isnan(scores[1:]).all()


def test_tokenizers_differ():
    assert tokenize(["커피를"], "kiwi") == ["커피"]
    assert tokenize(["커피를"], "bigram") == ["커피 피를"]
    assert tokenize(["국무총리가 강조했다"], "bigram") == ["국무 무총 총리 리가 강조 조했 했다"]


def test_whitespace_words_alone_miss_the_particle(metadata):
    """Without Korean tokenization, FTS's whitespace words keep the particle: 커피 != 커피를."""
    con = _fts(metadata, DOCS)
    assert np.isnan(sql.bm25_scores_of(con, np.array([0]), ["커피"])).all()


def test_documented_default_ignore_pattern_deletes_hangul(metadata):
    old = sql.FTS_OPTIONS.replace("[^\\p{L}\\p{N}]+", "(\\.|[^a-z])+")
    assert old != sql.FTS_OPTIONS
    tokens = tokenize(DOCS, "kiwi")
    con = _fts(metadata, tokens, old)
    assert np.isnan(sql.bm25_scores_of(con, np.arange(3), tokens)).all()
    assert con.execute("SELECT count(*) FROM fts_main_texts.dict").fetchone()[0] == 0
    con = _fts(metadata, tokens)
    assert not np.isnan(sql.bm25_scores_of(con, np.arange(3), tokens)).any()


@pytest.mark.parametrize("tokenizer", ["kiwi", "bigram"])
def test_one_statement_bm25_check_agrees_with_match_bm25(metadata, tokenizer):
    """The run's BM25 check reads the FTS tables once; match_bm25 per query is the reference."""
    docs = ["커피를 매일 마셨다", "녹차가 좋다", "주식을 샀다", "금리가 올랐다", "커피 값이 올랐다"]
    queries = ["커피", "녹차 주식", "부동산", "금리 커피", "값", "없는말"]
    con = _fts(metadata, tokenize(docs, tokenizer))
    targets = np.array([0, 1, 2, 3, 4, 4])
    tokens = tokenize(queries, tokenizer)
    reference = ~np.isnan(sql.bm25_scores_of(con, targets, tokens))
    found = sql.bm25_matches(con, targets, tokens)
    assert found.tolist() == reference.tolist()
    assert found.any() and not found.all()  # both cases occur
