import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import faker
import numpy as np
import pytest

from vssbench import cache
from vssbench.config import dataset
from vssbench.data import load
from vssbench.engines.params import HnswBuild, cached_index


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


def test_a_killed_builders_files_are_removed_before_a_new_build(tmp_path):
    """A kill mid-build leaves `.<entry>.<pid>.tmp` (with a .wal and a .tmp dir for a database);
    the next builder removes them, even when it got the dead builder's pid (a container)."""
    path = cache.entry(tmp_path, "index", {"a": 1}, ".duckdb")
    dead = cache._tmp(path)
    dead.write_bytes(b"half a database")
    dead.with_name(dead.name + ".wal").write_bytes(b"wal")
    (dead.with_name(dead.name + ".tmp")).mkdir()

    def build_into(tmp):
        assert not tmp.exists()  # not the dead builder's file
        tmp.write_bytes(b"index")
        return {"index_build_s": 1.0}

    facts, hit = cache.cached_file(path, build_into, lambda facts: None)
    assert not hit and facts == {"index_build_s": 1.0} and path.read_bytes() == b"index"
    assert sorted(p.name for p in tmp_path.joinpath("index").iterdir()) == sorted(
        [
            path.name,
            path.name + ".build.json",
            path.name + ".lock",
            path.name + ".crc32",
            path.with_suffix(".json").name,
        ]
    )


@pytest.mark.parametrize("damage", ["bytes", "truncated"])
def test_a_damaged_entry_is_moved_aside_and_built_again(tmp_path, damage):
    path = cache.entry(tmp_path, "vectors", {"a": 1}, ".npy")
    builds = []

    def build():
        builds.append(1)
        return np.arange(1000, dtype=np.float32)

    cache.cached(path, build, cache.save_array, np.load)
    data = bytearray(path.read_bytes())
    if damage == "bytes":
        data[-100:-96] = b"\xff\xff\xff\xff"  # still a valid .npy, with a wrong value
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))

    value, hit = cache.cached(path, build, cache.save_array, np.load)
    assert not hit and len(builds) == 2
    assert np.array_equal(value, np.arange(1000, dtype=np.float32))
    assert np.array_equal(np.load(path), value)  # the rebuilt entry, sealed again
    assert len(list(path.parent.glob(path.name + ".bad-*"))) == 1  # kept aside, never read
    assert cache.cached(path, build, cache.save_array, np.load)[1]  # and now a hit


def test_an_entry_from_before_checksums_is_rebuilt_not_kept(tmp_path):
    path = cache.entry(tmp_path, "vectors", {"a": 1}, ".npy")
    np.save(path, np.zeros(3))  # as an older vssbench wrote it: no .crc32 beside it
    value, hit = cache.cached(path, lambda: np.arange(3.0), cache.save_array, np.load)
    assert not hit and list(value) == [0.0, 1.0, 2.0]
    assert list(path.parent.glob("*.bad-*")) == []  # nothing kept aside: it was not damaged


def test_an_index_recorded_as_built_by_other_versions_is_set_aside_and_built_again(tmp_path):
    """A cache dir shared by hosts: an index is read only by the versions that wrote it, and it
    records the host that built it."""
    build = HnswBuild("cosine", 16, 128, 2)
    builds = []

    def build_into(tmp):
        builds.append(tmp)
        tmp.write_bytes(b"index %d" % len(builds))
        return {"index_build_s": 1.0}

    def index():
        return cached_index(
            tmp_path, {"data": 1}, build, {"duckdb": "1.5.5"}, ".duckdb", build_into
        )

    path, facts, reused = index()
    recorded = json.loads(path.with_name(path.name + ".build.json").read_text())["built_by"]
    assert recorded == {"duckdb": "1.5.5", "arch": platform.machine(), "host": platform.node()}
    assert "built_by" not in facts and not reused
    assert index()[2]  # same versions: reused

    facts_file = path.with_name(path.name + ".build.json")
    facts_file.write_text(json.dumps({"index_build_s": 1.0, "built_by": {"duckdb": "1.4.0"}}))
    again, _, reused = index()
    assert again == path and not reused and len(builds) == 2
    assert again.read_bytes() == b"index 2"
    assert [p.name.split(".bad-")[0] for p in path.parent.glob("*.bad-*")] == [path.name]


# The entries the code before the data/ stage split (9bd138e) gave these runs, in a new cache
# dir: a cache written by it is found, so a change here makes every cached corpus, vector,
# ground truth and token list (and, through data_key, index) of every user look new.
OLD_ENTRIES = {
    ("scale=tiny",): [
        "corpus/b31ec7f01cedd196.parquet",
        "difficulty/3640edcbbb26f7bd.npz",
        "features/02d21ee04ccef27c.npz",
        "features/8534f5014734e380.npz",
        "groundtruth/21cd54eb3481ca94.npz",
        "queries/9288b3180e829322.parquet",
        "vectors/0f9a61c9f1cdc497.npy",
        "vectors/5b35f033e66a42b3.npy",
    ],
    ("scale=tiny", "filter=attribute", "filter.selectivity=0.05"): [
        "corpus/b31ec7f01cedd196.parquet",
        "difficulty/3640edcbbb26f7bd.npz",
        "groundtruth/05eb86535b773c21.npz",
        "queries/9288b3180e829322.parquet",
        "vectors/0f9a61c9f1cdc497.npy",
        "vectors/5b35f033e66a42b3.npy",
    ],
    ("scale=tiny", "search=hybrid", "filter=attribute"): [
        "corpus/b31ec7f01cedd196.parquet",
        "difficulty/3640edcbbb26f7bd.npz",
        "doc_tokens/89e67c4e0aab75ea.parquet",
        "groundtruth/46a1bc7556172530.npz",
        "queries/9288b3180e829322.parquet",
        "query_tokens/9876b49edc91ad08.parquet",
        "vectors/0f9a61c9f1cdc497.npy",
        "vectors/5b35f033e66a42b3.npy",
    ],
}


def test_cache_entries_keep_the_names_earlier_versions_gave_them(make_cfg, tmp_path, monkeypatch):
    # The library versions the names were taken with: a new faker or kiwi is meant to renew them.
    monkeypatch.setattr(faker, "VERSION", "40.63.0")
    monkeypatch.setattr(load, "kiwi_version", lambda: "0.24.1")
    # Token lists are named by the corpus and the tokenizer, not by the tokens.
    monkeypatch.setattr(load, "tokenize", lambda texts, tokenizer: ["" for _ in texts])
    seen = []
    entry = cache.entry

    def recorded(root: Path, kind: str, key: dict, suffix: str) -> Path:
        path = entry(root, kind, key, suffix)
        seen.append(path.relative_to(root).as_posix())
        return path

    monkeypatch.setattr(cache, "entry", recorded)
    found = {}
    for overrides in OLD_ENTRIES:  # in order: the first run builds the features
        spec = dataset.data_spec(dataset.checked(make_cfg(*overrides)))
        seen.clear()
        data = load.load_dataset(spec, tmp_path)
        if "search=hybrid" in overrides:
            load.load_tokens(spec, data, "kiwi", tmp_path)
        found[overrides] = sorted(seen)
        # The index is named by this key and the build's settings and versions.
        assert load.data_key(spec) == {
            "version": 1,
            "faker": "40.63.0",
            "n_docs": 2000,
            "seed": 42,
            "part": "docs",
            "dim": 128,
            "noise": 0.5,
        }
    assert found == OLD_ENTRIES


# Damage to each sidecar of an index entry: (the file beside `path`, what it becomes).
SIDECAR_DAMAGE = {
    "truncated build facts": (".build.json", lambda data: data[: len(data) // 2]),
    "binary checksum": (".crc32", lambda data: b"\xff\xfe\x00\x81"),
    "empty checksum": (".crc32", lambda data: b""),
    "binary key file": (".json", lambda data: b"\xff\xfe\x00\x81"),
}


def _any_facts(facts: dict) -> None:
    return None  # usable whatever facts it was built with


def _write_index(tmp: Path) -> dict:
    tmp.write_bytes(b"index")
    return {}


def _sidecar(path: Path, name: str) -> Path:
    return path.with_suffix(".json") if name == ".json" else path.with_name(path.name + name)


@pytest.mark.parametrize("damage", SIDECAR_DAMAGE)
def test_a_damaged_sidecar_sets_its_entry_aside_to_be_built_again(tmp_path, caplog, damage):
    name, damaged = SIDECAR_DAMAGE[damage]
    key = {"a": 1}
    builds = []

    def build_into(tmp):
        builds.append(1)
        tmp.write_bytes(b"index %d" % len(builds))
        return {"index_build_s": 1.0}

    def index():  # as a run asks for it: its path from the key, then the entry
        return cache.cached_file(
            cache.entry(tmp_path, "index", key, ".duckdb"), build_into, _any_facts
        )

    path = cache.entry(tmp_path, "index", key, ".duckdb")
    assert index() == ({"index_build_s": 1.0}, False)
    sidecar = _sidecar(path, name)
    sidecar.write_bytes(damaged(sidecar.read_bytes()))

    assert index() == ({"index_build_s": 1.0}, False)
    assert len(builds) == 2 and path.read_bytes() == b"index 2"
    assert [p.read_bytes() for p in path.parent.glob(path.name + ".bad-*")] == [b"index 1"]
    assert any(sidecar.name in r.message and "cannot be read" in r.message for r in caplog.records)
    assert json.loads(path.with_suffix(".json").read_text()) == key  # every sidecar written again
    assert index() == ({"index_build_s": 1.0}, True) and len(builds) == 2


def test_a_damaged_checksum_of_a_value_entry_sets_it_aside(tmp_path):
    path = cache.entry(tmp_path, "vectors", {"a": 1}, ".npy")
    cache.cached(path, lambda: np.arange(3), cache.save_array, np.load)
    path.with_name(path.name + ".crc32").write_bytes(b"\x00\xff" * 4)
    value, hit = cache.cached(path, lambda: np.arange(3), cache.save_array, np.load)
    assert not hit and list(value) == [0, 1, 2]
    assert len(list(path.parent.glob(path.name + ".bad-*"))) == 1
    assert cache.cached(path, lambda: np.arange(3), cache.save_array, np.load)[1]


def test_retiming_an_index_whose_facts_are_damaged_builds_it_again(tmp_path):
    path = cache.entry(tmp_path, "index", {"a": 1}, ".duckdb")
    builds = []

    def build_into(tmp):
        builds.append(1)
        tmp.write_bytes(b"index %d" % len(builds))
        return {"index_build_s": float(len(builds)), "memory_mb": 5.0}

    cache.cached_file(path, build_into, _any_facts)
    path.with_name(path.name + ".build.json").write_bytes(b'{"index_build_s": 1.')
    facts = cache.retimed(path, build_into, ("index_build_s",))
    assert facts == {"index_build_s": 2.0, "memory_mb": 5.0} and path.read_bytes() == b"index 2"
    assert len(list(path.parent.glob(path.name + ".bad-*"))) == 1
    assert cache.cached_file(path, build_into, _any_facts) == (facts, True)


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _temp_of(path: Path, pid: int, host: str = platform.node()) -> Path:
    return path.with_name(f".{path.name}.{host}.{pid}.tmp")


def test_dead_writers_temp_files_beside_a_valid_entry_are_removed(tmp_path):
    path = cache.entry(tmp_path, "index", {"a": 1}, ".duckdb")
    cache.cached_file(path, _write_index, _any_facts)
    kept = sorted(path.parent.iterdir())
    dead = _temp_of(path, _dead_pid())
    dead.write_bytes(b"half a database")
    wal, spill = dead.with_name(dead.name + ".wal"), dead.with_name(dead.name + ".tmp")
    wal.write_bytes(b"wal")
    (spill / "spill").mkdir(parents=True)
    facts = _temp_of(path.with_name(path.name + ".build.json"), _dead_pid())
    key = _temp_of(path.with_suffix(".json"), _dead_pid())
    for half in (facts, key):
        half.write_text("{")
    live = _temp_of(path, os.getpid())  # this process may be writing it
    other_host = _temp_of(path, _dead_pid(), host="another-host")  # its writer may live
    for file in (live, other_host):
        file.write_bytes(b"being written")

    removed = cache.remove_dead_leftovers(tmp_path)
    assert sorted(removed) == sorted([dead, wal, spill, facts, key])
    assert sorted(path.parent.iterdir()) == sorted([*kept, live, other_host])
    assert cache.cached_file(path, _write_index, _any_facts) == ({}, True)
    assert cache.remove_dead_leftovers(tmp_path / "no-cache-yet") == []


HOLD_LOCK = """
import sys
from filelock import FileLock
with FileLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_temp_file_of_an_entry_another_process_has_locked_is_kept(tmp_path):
    """A dead pid is no proof when the entry's lock is held: its holder may be a writer whose
    pid this process cannot see (another pid namespace), so the file goes only once it is free."""
    path = cache.entry(tmp_path, "index", {"a": 1}, ".duckdb")
    cache.cached_file(path, _write_index, _any_facts)
    temp = _temp_of(path, _dead_pid())
    temp.write_bytes(b"being written")
    lock = path.with_name(path.name + ".lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        assert cache.remove_dead_leftovers(tmp_path) == [] and temp.exists()
    finally:
        holder.communicate(timeout=30)  # closes its stdin: it lets the lock go and ends
    assert cache.remove_dead_leftovers(tmp_path) == [temp] and not temp.exists()
