import numpy as np

from vssbench.data.synthetic.embed import embed, feature_matrix


def _vectors(texts, dim):
    matrix, names = feature_matrix(texts)
    return embed(matrix, names, dim)


def test_synonyms_embed_alike_and_names_weakly():
    texts = [
        "주식을 금리가 늘었다",
        "증권을 이자율이 늘었다",
        "김민준 코리아바이오",
        "김민준 한빛연구소",
    ]
    v = _vectors(texts, 1024)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.99  # synonyms share a concept feature
    assert 0.1 < v[2] @ v[3] < 0.9  # one shared name: similar, far from identical


def test_deterministic_and_lower_dims_lose_information():
    rng = np.random.default_rng(0)
    words = [f"낱말{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(200)]
    assert np.array_equal(_vectors(texts, 64), _vectors(texts, 64))
    matrix, names = feature_matrix(texts)
    exact = matrix @ matrix.T  # similarity in the full feature space
    exact = exact.toarray() / np.sqrt(np.outer(exact.diagonal(), exact.diagonal()))
    errors = {}
    for dim in (32, 1024):
        v = embed(matrix, names, dim)
        errors[dim] = np.abs(v @ v.T - exact).mean()
    assert errors[32] > 2 * errors[1024]
