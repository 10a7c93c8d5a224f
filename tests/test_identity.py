"""Fingerprints and run names of existing configurations never change: a finished run from before
a refactor is still found and skipped, and a setting added later does not orphan it."""

import copy
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from vssbench.config import identity

CONF = Path(__file__).resolve().parents[1] / "conf"

# Computed at bench_version 5 (issue 33: every timing in worker processes, trials until a
# precision; the runs of version 4 are measured again, so their pins were renewed then; the names
# are those of 9bd138e, before the packages per stage); the engines the hnswlib, lancedb and exact
# rows name need no extra to compose. A peer's fingerprint holds its library's release (since
# issue 25): the rows here are for the releases in RELEASES.
RELEASES = {"hnswlib": "hnswlib==0.8.0", "lancedb": "lancedb==0.40.0"}
PINNED = [
    ([], "ffc6701aef7eb598ed00", "duckdb_vss-10k-d128-vector-none-cosine-M16-efc128-ef64"),
    (
        ["scale=tiny"],
        "ca1de65eca073e751ef3",
        "duckdb_vss-tiny-d128-vector-none-cosine-M16-efc128-ef64",
    ),
    (
        ["scale=100k", "dim=512", "hnsw.M=32", "hnsw.ef_search=128"],
        "a9723a865cb1adb991ce",
        "duckdb_vss-100k-d512-vector-none-cosine-M32-efc128-ef128",
    ),
    (
        ["search=hybrid", "search.tokenizer=bigram"],
        "14443f5ddb6bebee7c9a",
        "duckdb_vss-10k-d128-hybrid-bigram-match_bm25-convex-none-cosine-M16-efc128-ef64",
    ),
    (
        ["filter=attribute", "filter.selectivity=0.05"],
        "cb967193be4dddb75bee",
        "duckdb_vss-10k-d128-vector-attribute0.05-post-cosine-M16-efc128-ef64",
    ),
    (
        ["filter=region", "filter.strategy=overfetch"],
        "68ff4d90c04d05157ec9",
        "duckdb_vss-10k-d128-vector-region-overfetch-cosine-M16-efc128-ef64",
    ),
    (
        ["engine=lancedb", "search=hybrid"],
        "50685a0352a0fd86d9ad",
        "lancedb-10k-d128-hybrid-kiwi-lancedb_fts-convex-none-cosine-M16-efc128-ef64",
    ),
    (
        ["engine=hnswlib", "hnsw.ef_search=[16,32,64,128]"],
        "1df5a0f8b1e64e40932a",
        "hnswlib-10k-d128-vector-none-cosine-M16-efc128-ef16-128",
    ),
    (
        ["engine=duckdb_exact", "filter=attribute", "filter.strategy=exact"],
        "0ef3f4a866db2b2715d5",
        "duckdb_exact-10k-d128-vector-attribute0.1-exact-cosine-M16-efc128-ef64",
    ),
    (
        ["dataset.noise=1.0", "scale=tiny", "engine.reuse_index=false"],
        "68c2d42878e76d006cd9",
        "duckdb_vss-tiny-noise1-d128-vector-none-cosine-M16-efc128-ef64",
    ),
]


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(("overrides", "fingerprint", "name"), PINNED)
def test_existing_configurations_keep_their_fingerprint_and_name(
    overrides, fingerprint, name, monkeypatch
):
    monkeypatch.setattr(identity, "release", RELEASES.get)
    cfg = _compose(*overrides)
    assert identity.fingerprint(cfg) == fingerprint
    assert identity.run_name(cfg) == name


def test_a_setting_added_later_counts_only_away_from_its_default():
    settings = identity.measured_settings(_compose())
    defaults = identity.schema_defaults()
    before = identity.canonical(settings, defaults)
    # Every setting of today that says what a run measures was there at bench_version 5.
    assert before == settings

    # A new timing setting, say bench.cooldown_s with default 0, as a later issue adds it.
    later_defaults = copy.deepcopy(defaults)
    later_defaults["bench"]["cooldown_s"] = 0
    at_default = copy.deepcopy(settings)
    at_default["bench"]["cooldown_s"] = 0
    assert identity.canonical(at_default, later_defaults) == before
    changed = copy.deepcopy(settings)
    changed["bench"]["cooldown_s"] = 5
    assert identity.canonical(changed, later_defaults)["bench"]["cooldown_s"] == 5
    assert identity.digest(identity.canonical(changed, later_defaults)) != identity.digest(before)


def test_a_setting_of_bench_version_5_counts_even_at_its_default():
    settings = identity.measured_settings(_compose())
    canonical = identity.canonical(settings, identity.schema_defaults())
    assert canonical["bench"]["repeats"] == 1
    assert canonical["engine"]["num_partitions"] == 1
    assert canonical["workload"]["name"] == "static"


def test_how_hard_a_run_tries_is_not_what_it_measures():
    """Trials, precision and retries change how long a run works for its interval, not what it
    times: a run finished under other such settings is found and skipped."""
    effort = ("bench.trials=7", "bench.precision=0.2", "bench.max_trials=50")
    effort += ("bench.max_timing_s=30", "bench.retries=0", "bench.retry_pause_s=9")
    assert identity.fingerprint(_compose(*effort)) == PINNED[0][1]
    assert identity.fingerprint(_compose("bench.repeats=2")) != PINNED[0][1]


def test_a_workload_other_than_static_is_a_new_fingerprint_and_says_so_in_its_name():
    static, churn = _compose("workload=static"), _compose("workload=churn")
    assert identity.fingerprint(static) == identity.fingerprint(_compose())
    assert identity.fingerprint(churn) != identity.fingerprint(static)
    assert identity.run_name(churn) == identity.run_name(static) + "-churn"
    more_rounds = _compose("workload=churn", "workload.rounds=5")
    assert identity.fingerprint(more_rounds) != identity.fingerprint(churn)


def test_a_peer_measured_with_another_release_of_its_library_is_another_run(monkeypatch):
    """usearch 2.26 is not the 2.12 inside vss: a run made with one is not skipped for the other."""
    found = {}
    for library in ("usearch==2.12.0", "usearch==2.26.6"):
        monkeypatch.setattr(identity, "release", lambda name, library=library: library)
        found[library] = identity.fingerprint(_compose("engine=usearch"))
    assert found["usearch==2.12.0"] != found["usearch==2.26.6"]
    # DuckDB's own engines have no release of their own in the fingerprint.
    monkeypatch.undo()
    assert identity.fingerprint(_compose()) == PINNED[0][1]
