"""How long an index build is expected to take, from the capacity fit of the store's earlier
builds of the same engine, M and ef_construction: the ETA a long build logs."""

import logging

import pandas as pd

from vssbench.capacity import load, observations, plan
from vssbench.capacity.fit import FitError, PowerLaw, fit, predict
from vssbench.measure.definitions import BUILD_S
from vssbench.progress import Expected
from vssbench.report.load import ReportError

log = logging.getLogger(__name__)


def build_seconds(
    experiment: str, engine: str, dim: int, m: int, efc: int, n: int
) -> Expected | None:
    """The fitted build time at n documents with its 95% interval: from this dim's builds or
    from every dim's as a * n^b * dim^c, whichever interval is narrower; None (logged why) when
    neither fit has an interval."""
    family = f"{engine} M{m} efc{efc}"
    try:
        runs = observations.family(load.runs(experiment, {}), engine, m, efc)
    except (ReportError, observations.CapacityError) as error:
        log.info("no expected build time for %s d%d: %s", family, dim, error)
        return None
    # One observation per build: runs that reused an index log its build's numbers.
    builds = (
        runs.drop_duplicates(["n_docs", "dim", BUILD_S.column])
        .rename(columns={"n_docs": "n"})
        .dropna(subset=[BUILD_S.column])
    )
    fits = [
        (law, variables, scope)
        for variables, chosen, scope in (
            (plan.PER_DIM, builds[builds["dim"] == dim], f"d{dim}"),
            (plan.ACROSS_DIMS, builds, "every dim"),
        )
        if (law := _law(chosen, variables)) is not None
    ]
    if fits:
        # Three sizes of one dim leave one degree of freedom (an interval of 6-41,209 s for a
        # 1M build); every dim's builds together usually say more.
        predicted = [(predict(law, {"n": n, "dim": dim}), law, v, s) for law, v, s in fits]
        fitted, law, variables, scope = min(predicted, key=lambda p: p[0].high / p[0].low)
        form = "a*n^b" if variables == plan.PER_DIM else "a*n^b*dim^c"
        basis = (
            f"{form}, b={law.exponent('n'):.2f}, fitted on {law.n_obs} builds of {family} "
            f"({scope}) in this store"
        )
        expected = Expected(fitted.value, fitted.low, fitted.high, basis)
        log.info(
            "index build expected to take %.0f s (95%% %.0f-%.0f s): %s",
            expected.seconds,
            expected.low,
            expected.high,
            basis,
        )
        return expected
    sizes = ", ".join(
        f"{n_docs}x{d}" for n_docs, d in sorted(set(zip(builds["n"], builds["dim"], strict=True)))
    )
    log.info(
        "no expected build time for %s d%d: too few builds to fit one with an interval (%s)",
        family,
        dim,
        sizes or "none",
    )
    return None


def _law(builds: pd.DataFrame, variables: tuple[str, ...]) -> PowerLaw | None:
    """The fit, if it has an interval."""
    try:
        law = fit(builds, variables, builds[BUILD_S.column].to_numpy())
    except FitError:
        return None
    return law if law.has_interval else None
