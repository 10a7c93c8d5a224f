"""Seeded synthetic Korean documents and the queries made from them, with relevance labels.

A document has a primary topic (its category) and writes 6 concepts of that topic and 2 of a
second topic, each always in the same one of its surface forms, around a person, a company and a
place from Faker ko_KR. A query is made from one target document:

- paraphrase: 4 of its primary concepts in *other* surface forms (only synonym knowledge finds it);
- entity: its person, its company and one of its concepts (rare names: exact keywords find it);
- keyword: 4 of its primary concepts in its own surface forms (both kinds of search find it).

A document is relevant to a query when it has everything the query asks for (all its concepts, and
for entity queries the same person and company); the target has grade 2, the others grade 1.
"""

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from faker import Faker

from vssbench.data.synthetic.korean import attach
from vssbench.data.synthetic.vocab import Vocabulary, load_vocabulary
from vssbench.progress import Progress

PRIMARY_CONCEPTS = 6
SECONDARY_CONCEPTS = 2
QUERY_CONCEPTS = 4
QUERY_KINDS = ("paraphrase", "entity", "keyword")
# Zipf-like exponent over a topic's concepts: some concepts are common, none dominates.
CONCEPT_SKEW = 0.3
# Faker draws a few thousand distinct names; the pools are that large so that names stay rare.
PERSON_POOL, COMPANY_POOL, PLACE_POOL = 6000, 6000, 400

_INTRO = "{C:은} {L:에서} {K:과} {K:을} {A} {V}."
_PERSON = "{P} {G:은} {K:이} {A} {V}."
_BODY = (
    "{K:은} {G:의} {K:을} {V}.",
    "{G:에} 따르면 {K:의} {G:이} {A} {V}.",
    "{K:과} {K:이} {A} {V}.",
    "{L:에서} {K:으로} {G:이} {V}.",
    "{G:은} {K:을} {G:으로} {V}.",
)
_SLOT = re.compile(r"\{(\w)(?::(\w+))?\}")


@dataclass(frozen=True)
class QueryMix:
    paraphrase: float
    entity: float
    keyword: float


def _faker_pools(seed: int) -> dict[str, list[str]]:
    fake = Faker("ko_KR")
    fake.seed_instance(seed)
    return {
        "person": [fake.name() for _ in range(PERSON_POOL)],
        "company": [fake.company() for _ in range(COMPANY_POOL)],
        "place": [fake.city() for _ in range(PLACE_POOL)],
        "region": sorted({fake.province() for _ in range(200)}),
    }


def _draw_concepts(rng: np.random.Generator, topic_ids: np.ndarray, vocab: Vocabulary, count: int):
    """Draw `count` distinct concepts of each row's topic, skewed, via the Gumbel top-k trick."""
    per_topic = len(vocab.topic_concepts[0])
    log_p = -CONCEPT_SKEW * np.log(np.arange(1, per_topic + 1))
    keys = log_p + rng.gumbel(size=(len(topic_ids), per_topic))
    picks = np.argsort(-keys, axis=1)[:, :count]
    table = np.asarray(vocab.topic_concepts)
    return table[topic_ids[:, None], picks]


def _render(template: str, fill: dict[str, object]) -> str:
    def slot(match: re.Match) -> str:
        value = fill[match.group(1)]
        word = next(value) if not isinstance(value, str) else value
        return attach(word, match.group(2)) if match.group(2) else word

    return _SLOT.sub(slot, template)


@dataclass(frozen=True)
class _Drawn:
    """What every document is made of, drawn for all of them before any is written (the corpus's
    bytes depend on the order of the draws)."""

    topic: np.ndarray  # its category
    concepts: np.ndarray  # (n_docs, 8): 6 of its topic, then 2 of a second topic
    surfaces: np.ndarray  # the surface form each concept is always written in
    person: np.ndarray
    company: np.ndarray
    place: np.ndarray  # (n_docs, 2)
    body_order: np.ndarray  # (n_docs, 8): body templates, in the order they are tried
    words: np.ndarray  # (n_docs, 3, 24) uniforms: general nouns, verbs, adverbs


def _draw(rng: np.random.Generator, vocab: Vocabulary, n_docs: int) -> _Drawn:
    n_topics = len(vocab.topics)
    topic = rng.integers(0, n_topics, n_docs)
    second = (topic + rng.integers(1, n_topics, n_docs)) % n_topics
    concepts = np.concatenate(
        [
            _draw_concepts(rng, topic, vocab, PRIMARY_CONCEPTS),
            _draw_concepts(rng, second, vocab, SECONDARY_CONCEPTS),
        ],
        axis=1,
    )
    n_forms = np.array([len(forms) for forms in vocab.concepts])
    surfaces = rng.integers(0, 1 << 30, concepts.shape) % n_forms[concepts]
    person = rng.integers(0, PERSON_POOL, n_docs)
    company = rng.integers(0, COMPANY_POOL, n_docs)
    place = rng.integers(0, PLACE_POOL, (n_docs, 2))
    body_order = rng.integers(0, len(_BODY), (n_docs, 8))
    words = rng.random((n_docs, 3, 24))
    return _Drawn(topic, concepts, surfaces, person, company, place, body_order, words)


def _write(
    i: int, drawn: _Drawn, rng: np.random.Generator, vocab: Vocabulary, pools: dict[str, list[str]]
) -> tuple[str, str]:
    """Document i's title and body: its concepts mentioned in a shuffled order, each up to 3
    times, in the intro, the person sentence and as many body sentences as that takes."""
    surfaces = [
        vocab.concepts[c][s] for c, s in zip(drawn.concepts[i], drawn.surfaces[i], strict=True)
    ]
    mention_order = [surfaces[j] for j in rng.permutation(len(surfaces))]
    keys = iter(mention_order * 3)
    pick = _picker(drawn.words[i])
    fill = {
        "K": keys,
        "G": pick(0, vocab.general_nouns),
        "V": pick(1, vocab.verbs),
        "A": pick(2, vocab.adverbs),
        "P": pools["person"][drawn.person[i]],
        "C": pools["company"][drawn.company[i]],
        "L": iter(pools["place"][p] for p in (*drawn.place[i], *drawn.place[i], *drawn.place[i])),
    }
    sentences = [_render(_INTRO, fill), _render(_PERSON, fill)]
    used = 3
    for template_id in drawn.body_order[i]:
        if used >= len(mention_order) and len(sentences) >= 4:
            break
        template = _BODY[template_id]
        sentences.append(_render(template, fill))
        used += template.count("{K")
    title = f"{surfaces[0]} {surfaces[1]}·{surfaces[2]} {next(fill['G'])}"
    return title, " ".join(sentences)


def generate_corpus(n_docs: int, seed: int) -> pd.DataFrame:
    """N documents with Korean title and body, metadata, and the concepts each one mentions."""
    vocab = load_vocabulary()
    pools = _faker_pools(seed)
    rng = np.random.default_rng(seed)
    drawn = _draw(rng, vocab, n_docs)
    titles, bodies = [], []
    progress = Progress("corpus", n_docs, min_total=50_000)
    for i in range(n_docs):
        progress.update(i)
        title, body = _write(i, drawn, rng, vocab, pools)
        titles.append(title)
        bodies.append(body)

    return pd.DataFrame(
        {
            "id": np.arange(n_docs, dtype=np.int32),
            "title": titles,
            "body": bodies,
            "category": np.asarray(vocab.topics, dtype=object)[drawn.topic],
            "region": np.asarray(pools["region"], dtype=object)[
                rng.integers(0, len(pools["region"]), n_docs)
            ],
            "published": pd.Timestamp("2021-01-01")
            + pd.to_timedelta(rng.integers(0, 5 * 365, n_docs), unit="D"),
            "price": np.round(rng.lognormal(10, 1, n_docs), -1).astype(np.int64),
            "person_id": drawn.person.astype(np.int32),
            "company_id": drawn.company.astype(np.int32),
            "concepts": list(drawn.concepts.astype(np.int16)),
            "surfaces": list(drawn.surfaces.astype(np.int8)),
        }
    )


def _picker(uniform: np.ndarray):
    """Iterators over pre-drawn uniforms, mapped onto a word list (keeps the loop free of RNG calls)."""

    def pick(row: int, words: tuple[str, ...]):
        return iter(words[int(u * len(words))] for u in uniform[row])

    return pick


def _company_name(company: str) -> str:
    # "(주) 비전한가람센터" -> "비전한가람센터": users search a company by its name, not its legal form.
    return company.split()[-1]


def generate_queries(
    corpus: pd.DataFrame, n_queries: int, seed: int, mix: QueryMix
) -> pd.DataFrame:
    """Queries made from distinct target documents, with their relevant documents and grades."""
    vocab = load_vocabulary()
    pools = _faker_pools(seed)
    rng = np.random.default_rng([seed, 1])
    targets = rng.choice(len(corpus), size=n_queries, replace=False)
    shares = np.array([mix.paraphrase, mix.entity, mix.keyword], dtype=float)
    counts = np.floor(shares / shares.sum() * n_queries).astype(int)
    counts[0] += n_queries - counts.sum()
    kinds = rng.permutation(np.repeat(np.arange(len(QUERY_KINDS)), counts))

    concepts = np.stack(corpus["concepts"].to_numpy())
    surfaces = np.stack(corpus["surfaces"].to_numpy())
    postings = _postings(concepts)
    person = corpus["person_id"].to_numpy()
    company = corpus["company_id"].to_numpy()

    rows = []
    for qid, (doc, kind_id) in enumerate(zip(targets, kinds, strict=True)):
        kind = QUERY_KINDS[kind_id]
        chosen = rng.choice(
            PRIMARY_CONCEPTS, QUERY_CONCEPTS if kind != "entity" else 1, replace=False
        )
        cids = concepts[doc, chosen]
        own = [vocab.concepts[c][s] for c, s in zip(cids, surfaces[doc, chosen], strict=True)]
        if kind == "paraphrase":
            words = [
                _other_surface(vocab.concepts[c], s, rng) for c, s in zip(cids, own, strict=True)
            ]
        elif kind == "entity":
            words = [
                pools["person"][person[doc]],
                _company_name(pools["company"][company[doc]]),
                *own,
            ]
        else:
            words = own
        relevant = _with_all(postings, cids)
        if kind == "entity":
            relevant = relevant[
                (person[relevant] == person[doc]) & (company[relevant] == company[doc])
            ]
        relevant = np.concatenate([[doc], relevant[relevant != doc]]).astype(np.int32)
        rows.append(
            {
                "qid": qid,
                "kind": kind,
                "text": " ".join(words),
                "target": int(doc),
                "category": corpus["category"].iat[doc],
                "relevant": relevant,
                "grades": np.concatenate([[2], np.ones(len(relevant) - 1)]).astype(np.int8),
            }
        )
    return pd.DataFrame(rows)


def _other_surface(forms: tuple[str, ...], own: str, rng: np.random.Generator) -> str:
    others = [f for f in forms if f != own]
    return others[rng.integers(len(others))]


def _postings(concepts: np.ndarray) -> dict[int, np.ndarray]:
    """concept id -> sorted ids of the documents that mention it."""
    doc_ids = np.repeat(np.arange(len(concepts)), concepts.shape[1])
    flat = concepts.ravel()
    order = np.argsort(flat, kind="stable")
    flat, doc_ids = flat[order], doc_ids[order]
    bounds = np.flatnonzero(np.diff(flat)) + 1
    return {
        int(c): np.unique(d)
        for c, d in zip(flat[np.r_[0, bounds]], np.split(doc_ids, bounds), strict=True)
    }


def _with_all(postings: dict[int, np.ndarray], concept_ids: np.ndarray) -> np.ndarray:
    result = postings[int(concept_ids[0])]
    for c in concept_ids[1:]:
        result = np.intersect1d(result, postings[int(c)], assume_unique=True)
    return result
