"""Which baseline run goes with which candidate run: the configurations that match on every key
but those that differ between the two sides. Pure: stored runs in, pairs out."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StoredRun:
    """A finished benchmark run as compare reads it: its configuration keys (defaults filled in
    for keys added after it ran), its tags and all its params (e.g. headline_series)."""

    run_id: str
    name: str
    experiment_id: str
    config: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pair:
    label: str  # what tells this pair from the others, e.g. "dim=16"
    baseline: StoredRun
    candidate: StoredRun


@dataclass(frozen=True)
class Pairing:
    pairs: list[Pair]
    # Keys with one value on each side, and not the same one: what the comparison is about.
    differing: dict[str, tuple[str, str]]
    ignored: list[str]  # keys the user asked to leave out (--ignore)
    baseline_only: list[str]  # labels of configurations the other side lacks
    candidate_only: list[str]


class PairingError(ValueError):
    """The sides cannot be paired; the message says why."""


def _constant(runs: Sequence[StoredRun], key: str) -> str | None:
    values = {run.config.get(key) for run in runs}
    return values.pop() if len(values) == 1 else None


def _label(config: dict[str, str], keys: list[str], fallback: str) -> str:
    return " ".join(f"{key}={config.get(key)}" for key in keys) or fallback


def _grouped(runs: Sequence[StoredRun], keys: list[str], side: str) -> dict[tuple, StoredRun]:
    """The side's runs by their values of `keys`; two runs with the same values are an error."""
    out: dict[tuple, StoredRun] = {}
    for run in runs:
        values = tuple(run.config.get(key) for key in keys)
        if values in out:
            other = out[values]
            apart = sorted(k for k in run.config if run.config[k] != other.config.get(k))
            raise PairingError(
                f"{side} runs {other.name} and {run.name} match the same configuration "
                f"(they differ only in {', '.join(apart) or 'nothing'}): narrow the side or "
                "ignore fewer keys"
            )
        out[values] = run
    return out


def _no_pairs(baseline: Sequence[StoredRun], candidate: Sequence[StoredRun], keys: list) -> str:
    """Why nothing paired: the keys whose values do not overlap between the sides."""
    apart = []
    for key in keys:
        b = {run.config.get(key) for run in baseline}
        c = {run.config.get(key) for run in candidate}
        if not b & c:
            apart.append(
                f"{key} ({', '.join(sorted(map(str, b)))} vs {', '.join(sorted(map(str, c)))})"
            )
    return "no configuration of the baseline matches one of the candidate" + (
        f": their values do not overlap in {'; '.join(apart)}" if apart else ""
    )


def pair(
    baseline: Sequence[StoredRun], candidate: Sequence[StoredRun], ignore: Iterable[str] = ()
) -> Pairing:
    """Pairs of runs equal on every configuration key except the ones with one value per side
    that differ between the sides (and `ignore`)."""
    keys = sorted({key for run in (*baseline, *candidate) for key in run.config})
    differing = {}
    for key in keys:
        b, c = _constant(baseline, key), _constant(candidate, key)
        if b is not None and c is not None and b != c:
            differing[key] = (b, c)
    ignored = sorted(set(ignore) - set(differing))
    matched = [key for key in keys if key not in differing and key not in ignored]
    by_b = _grouped(baseline, matched, "baseline")
    by_c = _grouped(candidate, matched, "candidate")
    # A pair is named by the matched keys that vary from pair to pair.
    varying = [key for key in matched if _constant([*baseline, *candidate], key) is None]
    pairs = [
        Pair(_label(run.config, varying, run.name), run, by_c[values])
        for values, run in by_b.items()
        if values in by_c
    ]
    if not pairs:
        raise PairingError(_no_pairs(baseline, candidate, matched))
    return Pairing(
        pairs=sorted(pairs, key=lambda p: _sort_key(p.baseline.config, varying)),
        differing=differing,
        ignored=ignored,
        baseline_only=[_label(r.config, varying, r.name) for v, r in by_b.items() if v not in by_c],
        candidate_only=[
            _label(r.config, varying, r.name) for v, r in by_c.items() if v not in by_b
        ],
    )


def _sort_key(config: dict[str, str], keys: list[str]) -> tuple:
    """Numbers in numeric order (dim=16 before dim=128), then text."""

    def one(value: str | None) -> tuple:
        try:
            return (0, float(value), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(value))

    return tuple(one(config.get(key)) for key in keys)


# Tags that can differ between sides of the same configuration and change its timings.
CONTEXT_TAGS = ("version.", "hw.", "process.host")


def tag_differences(
    baseline: Sequence[StoredRun], candidate: Sequence[StoredRun]
) -> dict[str, tuple[str, str]]:
    """The versions and hardware tags with one value on each side that differ between the
    sides, e.g. version.duckdb 1.5.5 vs 1.6.0."""
    names = sorted(
        {t for run in (*baseline, *candidate) for t in run.tags if t.startswith(CONTEXT_TAGS)}
    )
    out = {}
    for name in names:
        b = {run.tags.get(name) for run in baseline}
        c = {run.tags.get(name) for run in candidate}
        if len(b) == 1 and len(c) == 1 and b != c:
            out[name] = (b.pop(), c.pop())
    return out
