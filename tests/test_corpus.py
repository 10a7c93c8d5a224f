import hashlib

import numpy as np
import pandas as pd
import pytest

from vssbench.data.synthetic.corpus import QueryMix, generate_corpus, generate_queries
from vssbench.data.synthetic.korean import attach, hangul_share
from vssbench.data.synthetic.vocab import load_vocabulary

MIX = QueryMix(paraphrase=0.4, entity=0.3, keyword=0.3)


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return generate_corpus(2000, seed=3)


@pytest.fixture(scope="module")
def queries(corpus) -> pd.DataFrame:
    return generate_queries(corpus, 300, seed=3, mix=MIX)


def test_text_is_korean(corpus):
    shares = [hangul_share(t + b) for t, b in zip(corpus["title"], corpus["body"], strict=True)]
    assert min(shares) >= 0.9
    # Faker's ko_KR text() is Latin lorem ipsum: none of it may leak in.
    assert not corpus["body"].str.contains("[A-Za-z]{3,}").any()


def test_same_seed_same_bytes(corpus, tmp_path):
    again = generate_corpus(2000, seed=3)
    digest = [
        hashlib.sha256(
            pd.util.hash_pandas_object(
                df[["title", "body", "category", "region", "price"]]
            ).values.tobytes()
        ).hexdigest()
        for df in (corpus, again)
    ]
    assert digest[0] == digest[1]
    assert not generate_corpus(2000, seed=4)["body"].equals(corpus["body"])


def test_metadata(corpus):
    assert corpus["category"].nunique() == 10
    assert corpus["category"].value_counts(normalize=True).between(0.06, 0.14).all()
    assert corpus["region"].nunique() >= 8
    assert corpus["published"].dtype.kind == "M"
    assert (corpus["price"] > 0).all()


def test_particles_agree_with_final_consonant():
    assert [attach("주식", "을"), attach("금리", "을")] == ["주식을", "금리를"]
    assert [attach("학교", "으로"), attach("서울", "으로"), attach("병원", "으로")] == [
        "학교로",
        "서울로",
        "병원으로",
    ]


def test_vocabulary_surfaces_are_unique_hangul_words():
    vocab = load_vocabulary()
    forms = [f for concept in vocab.concepts for f in concept]
    assert len(forms) == len(set(forms))
    assert all(len(c) >= 2 for c in vocab.concepts)  # every concept can be paraphrased
    assert all(hangul_share(f) == 1.0 and " " not in f for f in forms)


def test_query_kinds_follow_the_model(corpus, queries):
    """Paraphrases use none of the target's words; entity and keyword queries use only its words."""
    vocab = load_vocabulary()
    assert queries["kind"].value_counts().to_dict() == {
        "paraphrase": 120,
        "entity": 90,
        "keyword": 90,
    }
    for _, q in queries.iterrows():
        doc = corpus.iloc[q.target]
        words = {vocab.concepts[c][s] for c, s in zip(doc.concepts, doc.surfaces, strict=True)}
        query_words = q.text.split()
        if q.kind == "paraphrase":
            assert not words & set(query_words), q.text
        elif q.kind == "keyword":
            assert set(query_words) <= words, q.text
        else:
            person, company, concept = query_words
            assert person in doc.body and company in doc.body and concept in words, q.text


def test_relevant_documents_have_every_query_concept(corpus, queries):
    vocab = load_vocabulary()
    concept_of = vocab.surface_to_concept()
    for _, q in queries[queries["kind"] != "entity"].iterrows():
        wanted = {concept_of[w] for w in q.text.split()}
        has_all = np.array([wanted <= set(c) for c in corpus["concepts"]])
        assert set(np.flatnonzero(has_all)) == set(q.relevant)
        assert q.relevant[0] == q.target and q.grades[0] == 2 and (q.grades[1:] == 1).all()
