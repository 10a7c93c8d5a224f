import numpy as np

from vssbench.measure.accuracy import (
    latency_summary,
    ndcg,
    recall_at_k,
    recall_by_rank,
    reciprocal_rank,
)


def test_recall_counts_true_distances_with_ties():
    exact = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    got = [np.array([0.1, 0.3, 0.5]), np.array([0.1, 0.3 + 5e-6, 0.3])]  # second: a tie within eps
    assert list(recall_at_k(got, exact, 3)) == [2 / 3, 1.0]


def test_recall_with_fewer_rows_and_small_groups():
    exact = np.array([[0.1, 0.2, np.inf]])
    assert recall_at_k([np.array([0.1])], exact, 3)[0] == 0.5


def test_recall_by_rank():
    exact_ids = np.array([[1, 2, 3], [4, 5, 6]])
    assert list(recall_by_rank([np.array([1, 3]), np.array([4, 5, 6])], exact_ids)) == [1, 0.5, 1]


def test_mrr_and_ndcg_on_hand_computed_values():
    relevant, grades = np.array([7, 8]), np.array([2, 1])
    assert reciprocal_rank(np.array([1, 8, 7]), relevant) == 0.5
    assert reciprocal_rank(np.array([1, 2]), relevant) == 0.0
    # DCG = 1/log2(3) + 3/log2(4); IDCG = 3/log2(2) + 1/log2(3)
    expected = (1 / np.log2(3) + 3 / 2) / (3 + 1 / np.log2(3))
    assert np.isclose(ndcg(np.array([1, 8, 7]), relevant, grades), expected)
    assert ndcg(np.array([7, 8]), relevant, grades) == 1.0


def test_latency_summary_in_ms():
    s = latency_summary(np.arange(1, 101) * 1_000_000)
    assert s["latency_p50_ms"] == 50.5 and s["latency_max_ms"] == 100.0
