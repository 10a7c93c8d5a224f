"""The scale options and their sizes, read from the option files that own them (conf/scale/)."""

from pathlib import Path

import yaml

# The package's own config dir (vssbench/__main__.py's config_path).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def scale_sizes(conf_dirs: list[Path], n_queries: int) -> dict[str, tuple[int, int]]:
    """Each scale option's n_docs and n_queries (`n_queries` where it leaves them to the
    default), read from the option files that own them (conf/scale/)."""
    sizes = {}
    for path in sorted(p for conf in conf_dirs for p in (conf / "scale").glob("*.yaml")):
        option = yaml.safe_load(path.read_text()) or {}
        if "n_docs" in option:
            sizes[path.stem] = (int(option["n_docs"]), int(option.get("n_queries", n_queries)))
    return sizes
