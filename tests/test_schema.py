"""Every config group composes and validates; bad values are refused with one line naming the key."""

from dataclasses import dataclass, fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from peers import needs

from vssbench.config.checks import ConfigError, validate
from vssbench.config.engine import engine_options
from vssbench.config.schema import EngineConfig
from vssbench.engines.registry import (
    AnnoyOptions,
    DuckDBOptions,
    DuckDBVssOptions,
    EngineInfo,
    LanceDbOptions,
    NoOptions,
    option_fields,
)

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("search=hybrid",),
        ("filter=region", "filter.strategy=overfetch"),
        ("filter=category", "filter.strategy=exact"),
        ("scale=250k", "dim=1024"),
        ("hparams_search=hnsw_optuna",),
        ("hparams_search=hnsw_optuna_qps",),
        ("+grid=full",),
        ("k=60",),  # search.candidates is a hybrid setting: a vector run does not read it
        # A peer engine's config is checked only where its extra is installed (it names the extra
        # to install where it is not: tests/test_engines.py).
        pytest.param(("engine=lancedb", "engine.num_partitions=4"), marks=needs("lancedb")),
        ("engine=duckdb_exact", "engine.late_materialization_max_rows=50"),
        # Only an engine that declares max_clients_is_threads limits clients to its threads.
        pytest.param(
            ("engine=hnswlib", "engine.threads=1", "bench.clients=[1,2,4]"), marks=needs("hnswlib")
        ),
    ],
)
def test_valid_configurations_pass(overrides):
    validate(_compose(*overrides))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("+hnsw.m=32",), "hnsw.m: is not a setting (a typo?)"),
        (("seed=-1",), "seed=-1: must be >= 0"),
        (("engine.threads=100000",), "engine.threads=100000: must be between 1 and this machine's"),
        (("tracking.uri=ftp://x",), "tracking.uri=ftp://x: must start with one of sqlite:"),
        (("tracking.experiment=",), "tracking.experiment='': must be 1-64 letters"),
        (("scale.name='<script>x</script>'",), "scale.name='<script>x</script>': must be 1-64"),
        (("hpo.min_recall=7",), "hpo.min_recall=7.0: must be between 0 and 1"),
        (("scale=tiny", "queries.warmup=100000000"), "queries.warmup=100000000: must be between 0"),
        (("k=60", "search=hybrid"), "search.candidates=50: must be between k (60)"),
        (
            ("engine=lancedb", "engine.num_partitions=0"),
            "engine.num_partitions=0: must be at least 1",
        ),
        (
            ("engine.late_materialization_max_rows=-1",),
            "engine.late_materialization_max_rows=-1: must be >= 0",
        ),
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as refused:
        validate(_compose(*overrides))
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_engine_settings_are_the_engine_its_threads_and_every_engines_options():
    assert [f.name for f in fields(EngineConfig)] == [
        "name",
        "threads",
        "late_materialization_max_rows",  # duckdb_vss and duckdb_exact
        "reuse_index",  # duckdb_vss
        "num_partitions",  # lancedb
        "n_trees",  # annoy
    ]


@pytest.mark.parametrize(
    ("overrides", "options"),
    [
        (("engine.reuse_index=false",), DuckDBVssOptions(reuse_index=False)),
        (("engine=duckdb_exact", "engine.late_materialization_max_rows=50"), DuckDBOptions(50)),
        (("engine=lancedb", "engine.num_partitions=4"), LanceDbOptions(num_partitions=4)),
        (("engine=annoy", "engine.n_trees=8"), AnnoyOptions(n_trees=8)),
        (("engine=hnswlib",), NoOptions()),
    ],
)
def test_the_chosen_engine_gets_its_own_options_only(overrides, options):
    assert engine_options(_compose(*overrides).engine) == options


def test_one_option_declared_differently_by_two_engines_fails():
    @dataclass(frozen=True)
    class Small:
        size: int = 1

    @dataclass(frozen=True)
    class Large:
        size: int = 8

    same = option_fields(
        {"a": EngineInfo("a", "A", options=Small), "b": EngineInfo("b", "B", options=Small)}
    )
    assert [(f.name, f.default) for f in same.values()] == [("size", 1)]
    with pytest.raises(TypeError, match="engine b: option size is declared with another"):
        option_fields(
            {"a": EngineInfo("a", "A", options=Small), "b": EngineInfo("b", "B", options=Large)}
        )
