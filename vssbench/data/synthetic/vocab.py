"""The Korean vocabulary shipped with the package, parsed into concepts and surface forms."""

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Vocabulary:
    topics: tuple[str, ...]
    # concepts[i] is a tuple of surface forms; topic_concepts[t] lists the concept ids of topic t.
    concepts: tuple[tuple[str, ...], ...]
    topic_concepts: tuple[tuple[int, ...], ...]
    general_nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adverbs: tuple[str, ...]

    def surface_to_concept(self) -> dict[str, int]:
        return {s: cid for cid, forms in enumerate(self.concepts) for s in forms}


@cache
def load_vocabulary() -> Vocabulary:
    raw = tomllib.loads(
        resources.files("vssbench.data.synthetic").joinpath("vocab_ko.toml").read_text("utf-8")
    )
    concepts: list[tuple[str, ...]] = []
    topic_concepts = []
    for entries in raw["topics"].values():
        start = len(concepts)
        concepts += [tuple(entry.split("|")) for entry in entries]
        topic_concepts.append(tuple(range(start, len(concepts))))
    vocab = Vocabulary(
        topics=tuple(raw["topics"]),
        concepts=tuple(concepts),
        topic_concepts=tuple(topic_concepts),
        general_nouns=tuple(raw["general_nouns"]),
        verbs=tuple(raw["verbs"]),
        adverbs=tuple(raw["adverbs"]),
    )
    words = [s for forms in concepts for s in forms] + list(vocab.general_nouns)
    duplicated = sorted({w for w in words if words.count(w) > 1})
    if duplicated:
        raise ValueError(f"vocab_ko.toml: surface forms used twice: {duplicated}")
    return vocab
