"""Index build parameters (they key the cached index) and query settings (set per point)."""

import dataclasses
import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vssbench import cache
from vssbench.measure.timing import CpuOfOthers

log = logging.getLogger(__name__)

# What a build records beside its index; bump when that changes, so cached facts are measured
# again (2: index_memory_mb measured by a fresh process; 3: build_rss_growth_mb; 4: the probe
# loads the engine's library before its first reading; 5: the attribute column; 6: duckdb_vss
# builds in processes of their own under a memory_limit).
BUILD_FACTS = 6


@dataclass(frozen=True)
class HnswBuild:
    """Everything that shapes a built HNSW index."""

    metric: str
    M: int
    ef_construction: int
    threads: int
    storage: str = "uncompressed"


def index_key(data: dict, build: object, versions: dict) -> dict:
    """Cache key of an index: the data's key, every field of the build parameters (a field added
    later changes the key, so no stale index is reused) and the versions that built it."""
    return {**data, **dataclasses.asdict(build), **versions}


# The facts of a build that are its timing, taken again by a re-timed build.
BUILD_TIMING = ("index_build_s", "index_build_other_cpu_share")


def timed_build(build_into: Callable[[], dict]) -> dict:
    """A build's facts with the share of the machine other processes took while it ran."""
    with CpuOfOthers() as others:
        facts = build_into()
    return {**facts, "index_build_other_cpu_share": others.share}


def cached_index(
    root: Path,
    data_key: dict,
    build: HnswBuild,
    versions: dict,
    suffix: str,
    build_into: Callable[[Path], dict],
    retime: bool = False,
) -> tuple[Path, dict, bool]:
    """An engine's index in the cache, built by `build_into(tmp)` if missing: its path, the
    facts its build recorded, and whether it was reused. `retime`: a reused index is built
    again into a file that is then removed, and its build timing replaces the recorded one."""
    # A cache dir shared by hosts: another CPU architecture writes its own index (the engines'
    # files are native binaries), and an index is only read by the versions that wrote it.
    made_by = {**versions, "arch": platform.machine()}
    key = index_key(data_key, build, {"facts": BUILD_FACTS, **made_by})

    def build_recorded(tmp: Path) -> dict:
        facts = timed_build(lambda: build_into(tmp))
        return {**facts, "built_by": {**made_by, "host": platform.node()}}

    def usable(facts: dict) -> str | None:
        recorded = {k: v for k, v in facts.get("built_by", {}).items() if k != "host"}
        if recorded == made_by:
            return None
        return f"it was built with {recorded or 'unrecorded versions'}, this host has {made_by}"

    path = cache.entry(root, "index", key, suffix)
    facts, reused = cache.cached_file(path, build_recorded, usable)
    if reused and retime:
        facts = cache.retimed(path, build_recorded, BUILD_TIMING)
    facts = dict(facts)
    built_by = facts.pop("built_by")
    log.info(
        "index %s (its build took %.1f s on %s)",
        ("reused from the cache, its build timed again" if retime else "reused from the cache")
        if reused
        else "built",
        facts["index_build_s"],
        built_by["host"],
    )
    return path, facts, reused


def index_limit(strategy: str, limit: int, overfetch_factor: int) -> int | None:
    """Rows the HNSW index is asked for: LIMIT, or LIMIT x factor when overfetching; None for exact."""
    if strategy == "exact":
        return None
    # pre: the engine filters during the search and is asked for LIMIT rows.
    return limit * overfetch_factor if strategy == "overfetch" else limit


def effective_ef_search(ef_search: int, rows_asked: int) -> int:
    """The beam the index really searches with: usearch widens it to the rows asked for."""
    return max(ef_search, rows_asked)


@dataclass(frozen=True)
class QuerySettings:
    """One measurement point: the beam, the rows asked for, the filter and how it is applied."""

    ef_search: int
    limit: int
    strategy: str = "none"  # FilterStrategy
    overfetch_factor: int = 10
    column: str | None = None
    values: tuple = ()  # the distinct filter values the queries compare with

    @property
    def rows_asked(self) -> int | None:
        """Rows the index is asked for; None when the query does not use the index."""
        return index_limit(self.strategy, self.limit, self.overfetch_factor)

    @property
    def effective_ef(self) -> int | None:
        asked = self.rows_asked
        return None if asked is None else effective_ef_search(self.ef_search, asked)


# The headline ef of a run given a list of ef values: the schema's default, always measured.
HEADLINE_EF = 64


def headline_ef_search(ef_search: int | list[int]) -> int:
    """The ef whose point gives the run's headline metrics: the value itself, or for a list
    the default ef (which is measured whether listed or not)."""
    return ef_search if isinstance(ef_search, int) else HEADLINE_EF


def ef_points(
    ef_search: int | list[int], rows_asked: int | None, curve: tuple[int, ...] = ()
) -> list[int]:
    """The effective ef values to measure, ascending: ef_search (for a list, with the headline
    ef) and the `curve` values beside it; values below the rows the index is asked for search
    with that many (the index widens its beam), so they merge into one point; an exact query
    (rows_asked None) does not use the index: one point."""
    listed = [ef_search] if isinstance(ef_search, int) else [*ef_search, HEADLINE_EF]
    if rows_asked is None:
        return [headline_ef_search(ef_search)]
    return sorted({effective_ef_search(ef, rows_asked) for ef in [*listed, *curve]})
