"""Memory-mapped cache arrays: the same rows as an in-memory array, without the whole file in RSS."""

import numpy as np

from vssbench import mapped
from vssbench.measure.memory import rss_mb


def test_scattered_rows_are_exact_and_do_not_map_the_file(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((20_000, 1024)).astype(np.float32)
    np.save(tmp_path / "v.npy", vectors)  # 78 MB
    array = mapped.open_npy(tmp_path / "v.npy")
    ids = np.random.default_rng(1).choice(len(vectors), 2_000, replace=False)
    before = rss_mb()
    rows = mapped.take(array, ids)
    assert rss_mb() - before < 20  # the rows themselves are 8 MB
    assert np.array_equal(rows, vectors[ids])
    assert np.array_equal(mapped.take(vectors, ids), vectors[ids])  # in memory: plain indexing


def test_released_pages_are_read_again_unchanged(tmp_path):
    vectors = np.arange(300_000, dtype=np.float32).reshape(1000, 300)
    np.save(tmp_path / "v.npy", vectors)
    array = mapped.open_npy(tmp_path / "v.npy")
    total = float(array.sum())
    mapped.release(array)
    assert float(array.sum()) == total == float(vectors.sum())
