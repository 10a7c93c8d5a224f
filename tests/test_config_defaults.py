"""The schema owns every default: conf/ sets only what a group option selects or changes."""

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from vssbench.config.schema import Config

CONF = Path(__file__).resolve().parents[1] / "conf"
# Not benchmark settings: Hydra's own, and the list of groups a config composes.
NOT_SETTINGS = ("hydra", "defaults")
# conf/hydra/ is Hydra's: launcher settings, not benchmark settings.
ELSEWHERE = ("hydra",)


def leaves(node: dict, prefix: str = "") -> dict[str, object]:
    """Dotted keys of a mapping's leaves; a list is one leaf."""
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out |= leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


SCHEMA_DEFAULTS = leaves(OmegaConf.to_container(OmegaConf.structured(Config), enum_to_str=True))


def file_settings(path: Path, root: Path = CONF) -> dict[str, object]:
    """The settings a conf/ file sets, as dotted keys from the config's root (a group file's
    keys sit under its group unless it is `# @package _global_`)."""
    text = path.read_text()
    body = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k not in NOT_SETTINGS}
    group = ".".join(path.parent.relative_to(root).parts)
    if not group or text.startswith("# @package _global_"):
        return leaves(body)
    return leaves(body, f"{group}.")


def restated_defaults(path: Path, root: Path = CONF) -> dict[str, object]:
    """The settings of a conf/ file equal to their schema default."""
    settings = file_settings(path, root)
    # An option's name is what it selects (engine=duckdb_vss), even when that is the default.
    own_name = ".".join((*path.parent.relative_to(root).parts, "name"))
    if settings.get(own_name) == path.stem:
        del settings[own_name]
    return {
        key: value
        for key, value in settings.items()
        if key in SCHEMA_DEFAULTS and SCHEMA_DEFAULTS[key] == value
    }


CONF_FILES = sorted(
    p for p in CONF.rglob("*.yaml") if p.relative_to(CONF).parts[0] not in ELSEWHERE
)


@pytest.mark.parametrize("path", CONF_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_a_conf_file_restates_no_schema_default(path):
    assert restated_defaults(path) == {}


def test_a_restated_default_is_found_and_an_options_own_name_is_not(tmp_path):
    (tmp_path / "hnsw").mkdir()
    (tmp_path / "hnsw" / "big.yaml").write_text("M: 16  # the default\nef_search: 128\n")
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "duckdb_vss.yaml").write_text("name: duckdb_vss\nreuse_index: true\n")
    (tmp_path / "engine" / "other.yaml").write_text("name: duckdb_vss\n")
    (tmp_path / "tuned.yaml").write_text("# @package _global_\nk: 10\nhpo:\n  min_recall: 0.9\n")

    def restated(relative: str) -> dict[str, object]:
        return restated_defaults(tmp_path / relative, tmp_path)

    assert restated("hnsw/big.yaml") == {"hnsw.M": 16}
    assert restated("engine/duckdb_vss.yaml") == {"engine.reuse_index": True}
    assert restated("engine/other.yaml") == {"engine.name": "duckdb_vss"}
    assert restated("tuned.yaml") == {"k": 10}


def _default_files() -> list[Path]:
    """conf/config.yaml and the group options its defaults list selects."""
    selected = []
    for entry in yaml.safe_load((CONF / "config.yaml").read_text())["defaults"]:
        if isinstance(entry, dict):
            ((group, option),) = entry.items()
            if option is not None and not group.startswith("override "):
                selected.append(CONF / group / f"{option}.yaml")
    return [CONF / "config.yaml", *selected]


def test_the_default_composition_is_the_schema_where_conf_is_silent():
    """The composition `python -m vssbench --cfg job` prints: the schema's keys, each at its
    schema default unless a file of the default composition sets it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        composed = leaves(OmegaConf.to_container(compose("config"), enum_to_str=True))
    set_by_conf = {key for path in _default_files() for key in file_settings(path)}
    assert set(composed) == set(SCHEMA_DEFAULTS)
    silent = {key: value for key, value in composed.items() if key not in set_by_conf}
    assert silent == {key: SCHEMA_DEFAULTS[key] for key in silent}
    left_open = {key for key, value in SCHEMA_DEFAULTS.items() if value == "???"}
    assert left_open == {"scale.name", "scale.n_docs"} and left_open <= set_by_conf
