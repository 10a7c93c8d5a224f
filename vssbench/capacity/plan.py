"""Which observations a fit takes, what it predicts, and how the runs it left out compare."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vssbench.capacity.fit import FitError, PowerLaw, fit, predict
from vssbench.capacity.observations import CapacityError, Quantity
from vssbench.measure.intervals import Estimate

PER_DIM = ("n",)
ACROSS_DIMS = ("n", "dim")


@dataclass(frozen=True)
class Row:
    """One quantity's fit and, at size n (None: the fit alone), its prediction and the
    measured values of the runs at n that the fit left out."""

    quantity: str
    n: int | None
    law: PowerLaw | None
    prediction: Estimate | None
    measured: tuple[float, ...] = ()
    problem: str = ""  # why there is no fit

    @property
    def inside(self) -> int:
        """How many measured values lie in the prediction interval."""
        p = self.prediction
        return sum(p.low <= value <= p.high for value in self.measured) if p else 0


def variables(dims: list[int], dim: int, family: str, pool: bool = False) -> tuple[str, ...]:
    """n alone when the dim has runs (unless `pool`); n and dim pooled over the dims measured
    when it has none or `pool` asks, and two or more dims were; else a CapacityError naming the
    dims."""
    if dim in dims and not (pool and len(dims) >= 2):
        return PER_DIM
    if len(dims) >= 2:
        return ACROSS_DIMS
    raise CapacityError(
        f"no runs at dim {dim} of {family} (dims with runs: {', '.join(map(str, dims))}); "
        "with one dim measured the planner does not extrapolate across dims"
    )


def fit_sizes(present: list[int], left_out: list[int], only: list[int]) -> list[int]:
    """The sizes the fit takes: `only` when given, else every size present but `left_out`."""
    missing = [n for n in [*left_out, *only] if n not in present]
    if missing:
        raise CapacityError(
            f"no runs at {', '.join(map(str, missing))} documents; "
            f"sizes with runs: {', '.join(map(str, present))}"
        )
    return sorted(set(only)) if only else [n for n in present if n not in left_out]


def _law(train: pd.DataFrame, kind: tuple[str, ...], missing: str) -> tuple[PowerLaw | None, str]:
    """The fit, or None and why not."""
    if train.empty:
        return None, missing
    try:
        return fit(train, kind, train["value"].to_numpy()), ""
    except FitError as error:
        return None, str(error)


def rows(
    obs: pd.DataFrame,
    wanted: tuple[Quantity, ...],
    dim: int,
    kind: tuple[str, ...],
    fitted: list[int],
    targets: list[int],
) -> list[Row]:
    """Per quantity, the fit on the `fitted` sizes (at `dim`, or over every dim when `kind`
    pools them), then a row per target size; sizes not fitted carry their measured values."""
    out = []
    for quantity in wanted:
        sample = obs[obs["quantity"] == quantity.name]
        at_dim = sample[sample["dim"] == dim]
        train = (sample if kind == ACROSS_DIMS else at_dim)[lambda s: s["n"].isin(fitted)]
        held = at_dim[~at_dim["n"].isin(fitted)]
        law, problem = _law(train, kind, quantity.missing)
        for n in targets or [None]:
            measured = tuple(held.loc[held["n"] == n, "value"]) if n is not None else ()
            prediction = None if law is None or n is None else predict(law, {"n": n, "dim": dim})
            out.append(Row(quantity.name, n, law, prediction, measured, problem))
    # Stable: the quantities keep their order within a size.
    return sorted(out, key=lambda row: -1 if row.n is None else row.n)


def coverage(table: list[Row]) -> tuple[int, int]:
    """Measured values inside their interval, and all measured values that had one."""
    checked = [r for r in table if r.measured and r.prediction and not np.isnan(r.prediction.low)]
    return sum(r.inside for r in checked), sum(len(r.measured) for r in checked)
