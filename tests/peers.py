"""Which peer engines this machine has: their tests skip with the extra to install, except in
CI (.ci/run), which installs every extra and sets VSSBENCH_REQUIRE_ENGINES=1 so that a missing
engine fails its tests instead."""

import os

import pytest

from vssbench.engines.registry import ENGINES, MissingEngine, check_installed

REQUIRED = os.environ.get("VSSBENCH_REQUIRE_ENGINES") == "1"


def installed(name: str) -> bool:
    try:
        check_installed(name)
    except MissingEngine:
        return False
    return True


def needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not REQUIRED and not installed(name),
        reason=f"engine={name} needs the optional extra: uv sync --extra {ENGINES[name].extra}",
    )
