import numpy as np
import pytest

from vssbench.data.groundtruth import distances, exact_topk


@pytest.mark.parametrize("metric", ["l2sq", "cosine", "ip"])
def test_chunked_topk_equals_brute_force(metric):
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((1000, 16)).astype(np.float32)
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    ids, dist = exact_topk(queries, docs, 10, metric, chunk=128)
    for q, row_ids, row_d in zip(queries, ids, dist, strict=True):
        if metric == "l2sq":
            brute = np.linalg.norm(docs - q, axis=1)
        elif metric == "cosine":
            brute = 1 - docs @ q / (np.linalg.norm(docs, axis=1) * np.linalg.norm(q))
        else:
            brute = -(docs @ q)
        assert list(row_ids) == list(np.argsort(brute, kind="stable")[:10])
        assert np.allclose(row_d, np.sort(brute)[:10], atol=1e-4)


def test_filtered_topk_stays_in_group_and_pads():
    rng = np.random.default_rng(2)
    docs = rng.standard_normal((500, 8)).astype(np.float32)
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    groups = np.arange(500) % 7
    groups[groups == 6] = 99
    groups[0:3] = 6  # group 6 has only 3 documents
    qgroups = np.array([0, 1, 2, 6, 5])
    ids, dist = exact_topk(queries, docs, 10, "cosine", qgroups, groups, chunk=64)
    for row, g, q in zip(ids, qgroups, queries, strict=True):
        members = np.flatnonzero(groups == g)
        brute = distances(q[None], docs[members], "cosine")[0]
        expected = members[np.argsort(brute, kind="stable")][:10]
        assert list(row[: len(expected)]) == list(expected)
    assert list(ids[3, 3:]) == [-1] * 7 and np.isinf(dist[3, 3:]).all()
