"""Fingerprints and run names of existing configurations never change: a finished run from before
a refactor is still found and skipped, and a setting added later does not orphan it."""

import copy
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from vssbench.config import identity

CONF = Path(__file__).resolve().parents[1] / "conf"

# Computed at bench_version 4 (the names are those of 9bd138e, before the packages per stage); the
# engines the hnswlib, lancedb and exact rows name need no extra to compose. A peer's fingerprint
# holds its library's release (since issue 25): the rows here are for the releases in RELEASES.
RELEASES = {"hnswlib": "hnswlib==0.8.0", "lancedb": "lancedb==0.40.0"}
PINNED = [
    ([], "1dd61c2761a3e1860a74", "duckdb_vss-10k-d128-vector-none-cosine-M16-efc128-ef64"),
    (
        ["scale=tiny"],
        "606719ae3bb289ec9728",
        "duckdb_vss-tiny-d128-vector-none-cosine-M16-efc128-ef64",
    ),
    (
        ["scale=100k", "dim=512", "hnsw.M=32", "hnsw.ef_search=128"],
        "639994173daab1477f61",
        "duckdb_vss-100k-d512-vector-none-cosine-M32-efc128-ef128",
    ),
    (
        ["search=hybrid", "search.tokenizer=bigram"],
        "9d0930e51901e48f31b4",
        "duckdb_vss-10k-d128-hybrid-bigram-match_bm25-convex-none-cosine-M16-efc128-ef64",
    ),
    (
        ["filter=attribute", "filter.selectivity=0.05"],
        "f240b6b0b43fa81e8940",
        "duckdb_vss-10k-d128-vector-attribute0.05-post-cosine-M16-efc128-ef64",
    ),
    (
        ["filter=region", "filter.strategy=overfetch"],
        "8ec8705c42291f4b2a19",
        "duckdb_vss-10k-d128-vector-region-overfetch-cosine-M16-efc128-ef64",
    ),
    (
        ["engine=lancedb", "search=hybrid"],
        "394c9b98c667a1f9a789",
        "lancedb-10k-d128-hybrid-kiwi-lancedb_fts-convex-none-cosine-M16-efc128-ef64",
    ),
    (
        ["engine=hnswlib", "hnsw.ef_search=[16,32,64,128]"],
        "388e9ec0fecfd0b34434",
        "hnswlib-10k-d128-vector-none-cosine-M16-efc128-ef16-128",
    ),
    (
        ["engine=duckdb_exact", "filter=attribute", "filter.strategy=exact"],
        "8645c9bf65a487edf49f",
        "duckdb_exact-10k-d128-vector-attribute0.1-exact-cosine-M16-efc128-ef64",
    ),
    (
        ["dataset.noise=1.0", "scale=tiny", "engine.reuse_index=false"],
        "5ccbada36fad8530ba6c",
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
    # Every setting of today was there at bench_version 4, but the workload section (issue 23),
    # which at its defaults is left out whole, and Annoy's engine.n_trees (issue 25).
    expected = {key: value for key, value in settings.items() if key != "workload"}
    expected["engine"] = {k: v for k, v in expected["engine"].items() if k != "n_trees"}
    assert before == expected

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


def test_a_setting_of_bench_version_4_counts_even_at_its_default():
    settings = identity.measured_settings(_compose())
    canonical = identity.canonical(settings, identity.schema_defaults())
    assert canonical["bench"]["repeats"] == 3
    assert canonical["engine"]["num_partitions"] == 1


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
