"""Every config group composes and validates; bad values are refused with one line naming the key."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from vssbench.config.checks import ConfigError, validate

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
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError) as refused:
        validate(_compose(*overrides))
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)
