"""Korean text prepared for DuckDB's whitespace-splitting FTS: morphemes (kiwi) or Hangul bigrams.

DuckDB's FTS splits on whitespace, so `커피` never matches `커피를` (noun + particle). Both
tokenizers fix that, applied the same way to documents and queries:
- kiwi: content morphemes from kiwipiepy's analyser; particles, endings and punctuation dropped;
- bigram: overlapping character bigrams of every word (a one-letter word stays as it is).
"""

from collections.abc import Iterable
from functools import cache

import kiwipiepy

from vssbench.progress import Progress

# Bump when the output of a tokenizer changes.
TOKENIZER_VERSION = 1
TOKENIZERS = ("kiwi", "bigram")
# Nouns, proper nouns, numerals, verb and adjective stems, roots, foreign words, Hanja, numbers,
# adverbs. Everything else (particles J*, endings E*, suffixes XS*, punctuation S*) is dropped.
KIWI_CONTENT_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SH", "SN", "MAG"})
_PUNCTUATION = ".,·()[]\"'"


def bigrams(text: str) -> str:
    out = []
    for raw in text.split():
        word = raw.strip(_PUNCTUATION)
        if len(word) == 1:
            out.append(word)
        out.extend(word[i : i + 2] for i in range(len(word) - 1))
    return " ".join(out)


def kiwi_version() -> str:
    return kiwipiepy.__version__


@cache
def _kiwi(workers: int) -> kiwipiepy.Kiwi:
    """One analyser per process: loading its model takes about a second."""
    return kiwipiepy.Kiwi(num_workers=workers)


def kiwi_loaded() -> bool:
    """Whether this process holds kiwi's model already (it stays for the process's life)."""
    return _kiwi.cache_info().currsize > 0


def kiwi_morphemes(texts: list[str], workers: int = 2) -> list[str]:
    """Content morphemes of each text, space-joined; logs progress on long inputs."""
    kiwi = _kiwi(workers)
    out: list[str] = []
    progress = Progress("kiwi tokenizing", len(texts), min_total=20_000)
    for i, tokens in enumerate(kiwi.tokenize(texts), 1):
        out.append(" ".join(t.form for t in tokens if t.tag in KIWI_CONTENT_TAGS))
        progress.update(i)
    return out


def tokenize(texts: Iterable[str], tokenizer: str) -> list[str]:
    texts = list(texts)
    if tokenizer == "kiwi":
        return kiwi_morphemes(texts)
    if tokenizer == "bigram":
        return [bigrams(t) for t in texts]
    raise ValueError(f"unknown tokenizer {tokenizer!r}; expected one of {TOKENIZERS}")
