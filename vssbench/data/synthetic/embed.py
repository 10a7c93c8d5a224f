"""A deterministic text embedder: hashed lexical features projected to `dim` dimensions.

Each word becomes features: a concept of the vocabulary (all its synonyms share one feature, as a
trained model would place synonyms together) or, for unknown words such as names, the word's
character bigrams with a low weight (a model only weakly separates rare names). Every feature has a
fixed Gaussian direction drawn from a hash of its name; a text's vector is the weighted sum,
L2-normalised. Fewer dimensions mean more crosstalk between directions: lower dims lose information.
"""

import hashlib

import numpy as np
from scipy import sparse

from vssbench.data.synthetic.korean import STRIPPABLE
from vssbench.data.synthetic.vocab import load_vocabulary
from vssbench.progress import Progress

EMBEDDER_SEED = 20261124
WEIGHTS = {"concept": 1.0, "noun": 0.4, "verb": 0.25, "adverb": 0.15, "unknown": 0.3}
_PUNCTUATION = ".,·()[]\"'"


def _lexicon() -> dict[str, tuple[str, float]]:
    vocab = load_vocabulary()
    lexicon = {s: (f"c{cid}", WEIGHTS["concept"]) for s, cid in vocab.surface_to_concept().items()}
    for kind, words in (
        ("noun", vocab.general_nouns),
        ("verb", vocab.verbs),
        ("adverb", vocab.adverbs),
    ):
        lexicon.update({w: (f"w:{w}", WEIGHTS[kind]) for w in words})
    return lexicon


def _word_features(word: str, lexicon: dict[str, tuple[str, float]]) -> list[tuple[str, float]]:
    if word in lexicon:
        return [lexicon[word]]
    stem = next(
        (word[: -len(p)] for p in STRIPPABLE if word.endswith(p) and len(word) > len(p)), word
    )
    if stem in lexicon:
        return [lexicon[stem]]
    grams = [stem[i : i + 2] for i in range(len(stem) - 1)] or [stem]
    weight = WEIGHTS["unknown"] / np.sqrt(len(grams))
    return [(f"g:{g}", weight) for g in grams]


def feature_matrix(texts: list[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Sparse (texts x features) weights and the feature names; independent of `dim`."""
    lexicon = _lexicon()
    index: dict[str, int] = {}
    indptr, indices, data = [0], [], []
    progress = Progress("text features", len(texts), min_total=50_000)
    for row, text in enumerate(texts):
        progress.update(row)
        weights: dict[int, float] = {}
        for raw in text.split():
            word = raw.strip(_PUNCTUATION)
            if not word:
                continue
            for name, w in _word_features(word, lexicon):
                col = index.setdefault(name, len(index))
                weights[col] = weights.get(col, 0.0) + w
        indices.extend(weights)
        data.extend(weights.values())
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr, np.int64)),
        shape=(len(texts), len(index)),
    )
    return matrix, np.asarray(list(index), dtype=str)


def feature_directions(names: np.ndarray, dim: int) -> np.ndarray:
    """One fixed unit-variance Gaussian direction per feature name, seeded by a hash of the name."""
    out = np.empty((len(names), dim), np.float32)
    for i, name in enumerate(names):
        digest = hashlib.blake2b(f"{EMBEDDER_SEED}:{name}".encode(), digest_size=8).digest()
        out[i] = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim)
    return out / np.sqrt(dim)


def embed(
    matrix: sparse.csr_matrix, names: np.ndarray, dim: int, chunk: int = 20_000
) -> np.ndarray:
    """L2-normalised float32 vectors (rows of `matrix` projected to `dim`), in bounded chunks."""
    directions = feature_directions(names, dim)
    out = np.empty((matrix.shape[0], dim), np.float32)
    progress = Progress(f"vectors (dim {dim})", matrix.shape[0], min_total=200_000)
    for start in range(0, matrix.shape[0], chunk):
        progress.update(start)
        block = np.asarray(matrix[start : start + chunk] @ directions, dtype=np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + chunk] = block / np.maximum(norms, 1e-12)
    return out


def add_noise(
    vectors: np.ndarray, noise: float, seed: list[int], chunk: int = 20_000
) -> np.ndarray:
    """Unit vectors plus isotropic Gaussian noise of about `noise` times their length,
    L2-normalised again: a model's per-text error, which makes neighbours less distinct
    (dataset.noise; README). The same seed gives the same noise."""
    if noise == 0:
        return vectors
    rng = np.random.default_rng(seed)
    out = np.empty(vectors.shape, np.float32)
    dim = vectors.shape[1]
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk], np.float32)
        block = block + rng.standard_normal(block.shape, np.float32) * (noise / np.sqrt(dim))
        out[start : start + chunk] = block / np.maximum(
            np.linalg.norm(block, axis=1, keepdims=True), 1e-12
        )
    return out
