"""The planner's answer as plain text: what was fitted and how, a table with a row per size and
quantity, and a line for each fit that has no interval or no fit at all."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vssbench.capacity.fit import PowerLaw
from vssbench.capacity.plan import ACROSS_DIMS, Row, coverage
from vssbench.measure.definitions import INDEX_MB, PEAK_RSS_MB
from vssbench.measure.intervals import LEVEL

POINT_ONLY = "(point only)"


@dataclass(frozen=True)
class Scope:
    """What the fit is of and over: the family, the asked dim, the sizes and dims it took."""

    family: str  # engine, M and ef_construction
    dim: int
    kind: tuple[str, ...]  # the fit's variables: ("n",) or ("n", "dim")
    dims: list[int]  # the dims the fit took
    fitted: list[int]  # the sizes the fit took
    checked: list[int]  # sizes with runs at dim that the fit left out
    recall: str  # the recall target as the QPS row names it, with k
    source: str  # experiment and store


def number(value: float) -> str:
    """Three significant digits; whole numbers with separators up to millions."""
    return f"{value:,.0f}" if 1000 <= abs(value) < 1e7 else f"{value:.3g}"


def _sizes(sizes: list[int]) -> str:
    return ", ".join(f"{n:,}" for n in sizes)


def header(scope: Scope) -> list[str]:
    """The lines before the table: the runs, the model's form, what the columns mean."""
    if scope.kind == ACROSS_DIMS and scope.dim in scope.dims:
        model = f"y = a * n^b * dim^c, fitted jointly over dims {_sizes(scope.dims)} (--pool-dims)"
    elif scope.kind == ACROSS_DIMS:
        outside = not min(scope.dims) <= scope.dim <= max(scope.dims)
        model = (
            f"y = a * n^b * dim^c, fitted jointly over dims {_sizes(scope.dims)} (dim "
            f"{scope.dim} has no runs; {'outside' if outside else 'between'} the measured dims: "
            f"{'extrapolated' if outside else 'interpolated'})"
        )
    else:
        model = f"y = a * n^b, fitted on the runs at dim {scope.dim}"
    lines = [
        f"capacity of {scope.family} at dim {scope.dim}, from {scope.source}",
        f"model: {model}; least squares on log y against log n (n: scale.n_docs)",
        f"fitted on {_sizes(scope.fitted)} documents",
        "fit error: residual standard deviation of log y (0.05: about 5%); obs: runs, one per "
        "index build for index_build_s, index_memory_mb and index_file_mb",
        f"prediction: the fit's median; interval: {LEVEL:.0%} prediction interval of one new "
        "run (Student t on the logs, obs - parameters degrees of freedom)",
        f"{scope.recall}: per run, the best QPS among its ef points that reach the target",
    ]
    if scope.checked:
        lines.insert(3, f"measured against the fit at {_sizes(scope.checked)} (left out of it)")
    return lines


def _exponents(law: PowerLaw) -> str:
    names = {"n": "b", "dim": "c"}
    return " ".join(f"{names[v]}={law.exponent(v):.3f}" for v in law.variables)


def _points(law: PowerLaw) -> str:
    """What the law's distinct points are: sizes, or (size, dim) pairs."""
    return "size-dim pairs" if law.variables == ACROSS_DIMS else "sizes"


def _fit_error(law: PowerLaw) -> str:
    sd = "-" if np.isnan(law.sd) else f"{law.sd:.3f}"
    return f"{sd} ({law.n_obs} obs, {law.n_points} {_points(law)})"


def _checked(row: Row) -> list[str]:
    measured = ", ".join(number(v) for v in row.measured) or "-"
    if not row.measured or row.prediction is None or np.isnan(row.prediction.low):
        return [measured, "-"]
    if len(row.measured) == 1:
        return [measured, "in" if row.inside else "out"]
    return [measured, f"{row.inside}/{len(row.measured)} in"]


def _cells(row: Row, checking: bool) -> list[str]:
    n = "-" if row.n is None else f"{row.n:,}"
    if row.law is None:
        cells = [n, row.quantity, "no fit", "-", "-", "-", "-"]
    else:
        model = "a*n^b*dim^c" if row.law.variables == ACROSS_DIMS else "a*n^b"
        cells = [n, row.quantity, model, _exponents(row.law), _fit_error(row.law)]
        p = row.prediction
        if p is None:
            cells += ["-", "-"]
        elif np.isnan(p.low):
            cells += [f"{number(p.value)} {POINT_ONLY}", "-"]
        else:
            cells += [number(p.value), f"{number(p.low)} - {number(p.high)}"]
    return cells + _checked(row) if checking else cells


def table(rows: list[Row]) -> list[str]:
    """The rows as aligned columns; measured and in/out only when some size was left out."""
    checking = any(row.measured for row in rows)
    head = ["n", "quantity", "model", "exponent", "fit error", "prediction"]
    head += [f"{LEVEL:.0%} interval"] + (["measured", "in"] if checking else [])
    body = [_cells(row, checking) for row in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    rule = ["-" * w for w in widths]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, rule, *body]
    ]


def notes(rows: list[Row], fitted: Sequence[int] = ()) -> list[str]:
    """One line per quantity without a fit or without an interval, the check's tally, and a
    warning for sizes beyond the `fitted` ones."""
    out = {}
    for row in rows:
        if row.law is None:
            out.setdefault(row.quantity, f"{row.quantity}: no fit: {row.problem}")
        elif not row.law.has_interval:
            out.setdefault(
                row.quantity,
                f"{row.quantity}: {row.law.n_points} distinct {_points(row.law)}, fewer than the "
                f"{row.law.p + 1} an interval needs (parameters + 1): point estimate only",
            )
    inside, total = coverage(rows)
    tally = [f"measured inside the interval: {inside} of {total}"] if total else []
    predicted = {(r.n, r.quantity): r.prediction.value for r in rows if r.prediction is not None}
    for n in sorted({r.n for r in rows if r.n is not None}):
        peak, index = predicted.get((n, PEAK_RSS_MB.column)), predicted.get((n, INDEX_MB.column))
        if peak is not None and index is not None and peak < index:
            # Fitted where the process's own few hundred MB dominate, the peak grows too slowly.
            tally.append(
                f"at {n:,}: {PEAK_RSS_MB.column} is predicted below {INDEX_MB.column}, which a "
                "run holds while it queries; its law is fitted where the process's fixed memory "
                "dominates: expect at least the index's memory"
            )
    beyond = [r.n for r in rows if fitted and r.n is not None and r.n > max(fitted)]
    if beyond:
        # Fitted on 10k-250k, a 1M build took 746 s against 453 (95% 286-717): the form's
        # error grows with the distance and the interval does not cover it.
        tally.append(
            f"beyond the largest size fitted ({_sizes(sorted(set(beyond)))}): the interval is "
            "the runs' spread about the law, not an error of its form; check the form by "
            "leaving your largest size out"
        )
    ask = ["no size asked: predict with --n (e.g. --n 1m,10m)"] if rows[0].n is None else []
    return [*out.values(), *tally, *ask]


def text(scope: Scope, rows: list[Row]) -> str:
    return "\n".join([*header(scope), "", *table(rows), "", *notes(rows, scope.fitted)]).rstrip()
