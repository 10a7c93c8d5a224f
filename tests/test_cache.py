import numpy as np
import pytest

from vssbench import cache


def test_builds_once_then_reads(tmp_path):
    calls = []
    path = cache.entry(tmp_path, "kind", {"a": 1}, ".npy")

    def build():
        calls.append(1)
        return np.arange(5)

    first, hit1 = cache.cached(path, build, cache.save_array, np.load)
    second, hit2 = cache.cached(path, build, cache.save_array, np.load)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    assert np.array_equal(first, second)
    assert cache.entry(tmp_path, "kind", {"a": 2}, ".npy") != path


def test_failed_write_leaves_no_entry(tmp_path):
    path = cache.entry(tmp_path, "kind", {"a": 1}, ".npy")

    def broken_save(value, target):
        target.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        cache.cached(path, lambda: np.arange(3), broken_save, np.load)
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []
    value, hit = cache.cached(path, lambda: np.arange(3), cache.save_array, np.load)
    assert not hit and list(value) == [0, 1, 2]
