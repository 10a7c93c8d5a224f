"""Which peer engines this machine has: their tests skip with the extra to install, except in
CI (.ci/run), which installs every extra and sets VSSBENCH_REQUIRE_ENGINES=1 so that a missing
engine fails its tests instead."""

import os
import sys

import pytest

from vssbench.engines.registry import ENGINES, MissingEngine, check_installed, installed_engines

REQUIRED = os.environ.get("VSSBENCH_REQUIRE_ENGINES") == "1"


def _missing(name: str) -> str | None:
    try:
        check_installed(name)
    except MissingEngine as missing:
        return str(missing)
    return None


def installed(name: str) -> bool:
    return name in installed_engines()


def _runs_on_this_python(name: str) -> bool:
    newest = ENGINES[name].max_python
    return newest is None or sys.version_info[:2] <= tuple(map(int, newest.split(".")))


def needs(name: str) -> pytest.MarkDecorator:
    """Skip where the engine is missing, with the reason; CI requires it, unless its pinned
    release has no build for this Python."""
    why = _missing(name)
    skip = why is not None and (not REQUIRED or not _runs_on_this_python(name))
    return pytest.mark.skipif(skip, reason=why or "")
