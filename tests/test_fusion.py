import numpy as np

from vssbench.measure.fusion import convex, rrf


def test_rrf_on_hand_made_lists():
    # constant 1: a = 1/2 + 1/4, b = 1/3 + 1/2, c = 1/4, d = 1/3
    fused = rrf([np.array([1, 2, 3]), np.array([2, 4, 1])], k=4, constant=1)
    assert list(fused) == [2, 1, 4, 3]


def test_rrf_prefers_consensus_over_one_list_top_hit():
    """The effect that makes RRF lose on disjoint signals: two middling ranks beat one first."""
    vector = np.array([7, 10, 11, 12, 5])
    bm25 = np.array([20, 21, 22, 23, 5])
    assert list(rrf([vector, bm25], k=1, constant=60)) == [5]


def test_convex_on_hand_made_scores():
    # vector similarity -d normalised: id1 1.0, id2 0.5, id3 0.0; bm25: id3 1.0, id4 0.0
    fused = convex(
        np.array([1, 2, 3]),
        np.array([0.1, 0.2, 0.3]),
        np.array([3, 4]),
        np.array([9.0, 1.0]),
        k=4,
        alpha=0.6,
    )
    # id1 0.6, id2 0.3, id3 0.0*0.6 + 1.0*0.4 = 0.4, id4 0.0
    assert list(fused) == [1, 3, 2, 4]


def test_convex_handles_empty_and_constant_lists():
    assert list(
        convex(np.array([5, 6]), np.array([0.2, 0.2]), np.array([], int), np.array([]), 2)
    ) == [5, 6]
