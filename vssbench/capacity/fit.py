"""Power laws fitted by least squares on logs, and their predictions with intervals.

A quantity y of runs with variables x_1..x_m (the number of documents n, and dim when dims are
pooled) is modelled as y = a * x_1^b_1 * ... * x_m^b_m: ordinary least squares of log y on
1, log x_1, ..., log x_m. The interval of a prediction is the standard OLS prediction interval
of one new observation on the log scale, Student t with obs - p degrees of freedom."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from vssbench.measure.intervals import LEVEL, Estimate


class FitError(ValueError):
    """The observations cannot determine the model; the message says why."""


@dataclass(frozen=True)
class PowerLaw:
    """log y = coef[0] + sum of coef[i] * log x_i over `variables`, fitted on `n_obs`
    observations at `n_points` distinct values of the variables."""

    variables: tuple[str, ...]
    coef: np.ndarray
    xtx_inv: np.ndarray  # (X'X)^-1 of the log design, for the prediction's standard error
    sd: float  # residual standard deviation of log y; NaN with no degrees of freedom left
    n_obs: int
    n_points: int

    @property
    def p(self) -> int:
        """Parameters fitted: the intercept and one exponent per variable."""
        return len(self.coef)

    @property
    def has_interval(self) -> bool:
        """Fewer than p + 1 distinct points leave no check of the form: a point estimate only."""
        return self.n_points >= self.p + 1

    def exponent(self, variable: str) -> float:
        return float(self.coef[1 + self.variables.index(variable)])


def _design(points: pd.DataFrame, variables: tuple[str, ...]) -> np.ndarray:
    logs = np.log(points[list(variables)].to_numpy(float))
    return np.column_stack([np.ones(len(points)), logs])


def fit(points: pd.DataFrame, variables: tuple[str, ...], values: np.ndarray) -> PowerLaw:
    """The power law of `values` in the `variables` columns of `points` (all positive)."""
    values = np.asarray(values, float)
    if len(values) == 0:
        raise FitError("no observations")
    x, y = _design(points, variables), np.log(values)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        seen = ", ".join(f"{v} {sorted(set(points[v].astype(int)))}" for v in variables)
        raise FitError(f"too few distinct values to fit an exponent per variable ({seen})")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - x.shape[1]
    residual = y - x @ coef
    sd = float(np.sqrt(residual @ residual / df)) if df > 0 else float("nan")
    n_points = len(points[list(variables)].drop_duplicates())
    return PowerLaw(variables, coef, np.linalg.inv(x.T @ x), sd, len(y), n_points)


def predict(law: PowerLaw, at: dict[str, float], level: float = LEVEL) -> Estimate:
    """The fit's median at `at` with its prediction interval; the ends are NaN when the law
    has no interval (too few distinct points)."""
    x0 = np.array([1.0, *np.log([at[v] for v in law.variables])])
    centre = float(x0 @ law.coef)
    if not law.has_interval:
        return Estimate(float(np.exp(centre)), np.nan, np.nan, law.n_obs)
    se = law.sd * np.sqrt(1 + x0 @ law.xtx_inv @ x0)
    half = stdtrit(law.n_obs - law.p, (1 + level) / 2) * se
    return Estimate(
        float(np.exp(centre)), float(np.exp(centre - half)), float(np.exp(centre + half)), law.n_obs
    )
