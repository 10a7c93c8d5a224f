"""RC and LID on data whose answer is known."""

import numpy as np

from vssbench.data import difficulty


def _subspace(n: int, intrinsic: int, ambient: int, seed: int) -> np.ndarray:
    """Uniform points in an `intrinsic`-dimensional cube, rotated into `ambient` dimensions."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((ambient, intrinsic)))
    return (rng.random((n, intrinsic)) @ basis.T).astype(np.float32)


def test_lid_finds_the_dimension_of_the_subspace_the_data_lives_in():
    found = {}
    for intrinsic in (2, 8):
        points = _subspace(20_200, intrinsic, 64, seed=intrinsic)
        measured = difficulty.measure(points[:200], points[200:], "l2sq", seed=0)
        found[intrinsic] = float(np.median(measured["lid"]))
    # The MLE is biased at k = 20 and in a cube's corners; within 25% of the true dimension.
    assert abs(found[2] - 2) < 0.5, found
    assert abs(found[8] - 8) < 2.0, found


def test_relative_contrast_falls_as_the_intrinsic_dimension_rises():
    rc = {}
    for intrinsic in (2, 8, 32):
        points = _subspace(10_100, intrinsic, 64, seed=intrinsic)
        rc[intrinsic] = float(
            np.median(difficulty.measure(points[:100], points[100:], "l2sq", 0)["rc_10"])
        )
    assert rc[2] > rc[8] > rc[32] > 1.0, rc


def test_rc_and_lid_by_hand():
    knn = np.array([[1.0, 2.0, 4.0]])
    # LID as VIBE computes it: -3 / (log(1/4) + log(2/4) + log(4/4)) = 1 / log 2
    assert np.isclose(difficulty.lid_mle(knn)[0], 1 / np.log(2))
    assert np.isclose(difficulty.relative_contrast(np.array([8.0]), knn, k=3)[0], 2.0)
    s = difficulty.summary({"lid": np.array([1.0, 2.0, 3.0, np.nan])})
    assert s["difficulty.lid.mean"] == 2.0 and s["difficulty.lid.median"] == 2.0
