"""Which setting matters: how much of the variation of log QPS and of recall among the runs each
swept factor explains, by a type 2 ANOVA of an OLS fit (statsmodels). A factor's share is its
sum of squares over the ANOVA table's total (the factors' and the residual's), so the shares
and the residual's sum to 1.

Every factor is categorical (dims and ef values are levels, not points on a line), and only
factors that vary among the runs enter the model. Two factors whose values pair one to one in
these runs (every M=8 run at d16, every M=16 run at d32) cannot be told apart: the later one is
counted under the earlier, and the table says so. QPS is compared on the log scale, as the
intervals compare it (a factor that doubles QPS counts the same at 100 and at 10,000 QPS)."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from vssbench.measure.definitions import QPS, RECALL

FACTORS = ("scale", "dim", "M", "ef_construction", "ef_search", "engine", "filter")
RESIDUAL = "residual"


@dataclass(frozen=True)
class Explained:
    """One response's ANOVA over `runs` runs: per factor (and the residual) its share of the
    variation and its p-value, or None with the reason in `note`."""

    response: str
    runs: int
    shares: pd.DataFrame | None  # index: factor names and RESIDUAL; columns: share, p
    note: str = ""


def _one_to_one(frame: pd.DataFrame, a: str, b: str) -> bool:
    pairs = frame[[a, b]].drop_duplicates()
    return pairs[a].is_unique and pairs[b].is_unique


def varying(frame: pd.DataFrame) -> tuple[dict[str, list[str]], list[str]]:
    """The factors that take more than one value among `frame`'s rows, each with the factors
    that pair one to one with it (merged into it); and a sentence per merge."""
    kept: dict[str, list[str]] = {}
    notes = []
    for factor in FACTORS:
        if frame[factor].nunique() < 2:
            continue
        twin = next((k for k in kept if _one_to_one(frame, k, factor)), None)
        if twin is None:
            kept[factor] = []
        else:
            kept[twin].append(factor)
            notes.append(f"{factor} varies with {twin} in these runs: counted under {twin}")
    return kept, notes


def _name(factor: str, twins: list[str]) -> str:
    return factor + "".join(f" (with {t})" for t in twins)


def explain(runs: pd.DataFrame, column: str, label: str, transform: Callable) -> Explained:
    """`label` (`transform` of `column`) over the runs that measured it, by factor."""
    measured = runs[runs[column].notna()]
    data = measured[list(FACTORS)].astype(str).assign(y=transform(measured[column].astype(float)))
    n = len(data)
    factors, notes = varying(data)
    if not factors:
        return Explained(label, n, None, f"{label}: no swept factor varies among the {n} runs.")
    if data["y"].nunique() < 2:
        return Explained(label, n, None, f"{label}: the same in all {n} runs.")
    model = smf.ols("y ~ " + " + ".join(f"C({f})" for f in factors), data).fit()
    if model.df_resid < 1:
        needed = n - int(model.df_resid) + 1
        return Explained(
            label,
            n,
            None,
            f"{label}: too few runs to tell which setting matters ({n} runs, at least {needed} "
            f"needed for the levels of {', '.join(factors)} and a residual).",
        )
    try:
        with warnings.catch_warnings():  # a nearly aliased factor's F is noise; its share holds
            warnings.simplefilter("ignore")
            table = anova_lm(model, typ=2)
    except (ValueError, np.linalg.LinAlgError) as error:  # the report must still be written
        return Explained(label, n, None, f"{label}: no ANOVA of these runs ({error}).")
    table.index = [
        RESIDUAL if i == "Residual" else _name(i[2:-1], factors[i[2:-1]]) for i in table.index
    ]
    shares = pd.DataFrame({"share": table["sum_sq"] / table["sum_sq"].sum(), "p": table["PR(>F)"]})
    note = f"{label}: over {n} runs" + "".join(f"; {m}" for m in notes) + "."
    return Explained(label, n, shares, note)


def which_setting_matters(runs: pd.DataFrame) -> list[Explained]:
    """Log QPS (runs with an undisturbed timing) and recall (every run), by factor."""
    positive = runs.assign(**{QPS.column: runs[QPS.column].where(runs[QPS.column] > 0)})
    return [
        explain(positive, QPS.column, "log QPS", np.log),
        explain(runs, RECALL.column, "recall", lambda values: values),
    ]


def factor_table(results: list[Explained]) -> pd.DataFrame | None:
    """One row per factor (the residual last): each response's share in % and its p-value;
    None when no response has a table."""
    parts = {}
    for result in results:
        if result.shares is not None:
            parts[f"{result.response} share (%)"] = (100 * result.shares["share"]).round(1)
            parts[f"{result.response} p"] = result.shares["p"]
    if not parts:
        return None
    frame = pd.DataFrame(parts)
    order = [i for i in frame.index if i != RESIDUAL] + [RESIDUAL]
    return frame.loc[order].rename_axis("factor").reset_index()
