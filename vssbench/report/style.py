"""What every figure shares: one colour per engine, line styles per variant, the scales' order,
and log axes whose tick labels are plain numbers that do not run into each other."""

import math
import textwrap
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, NullFormatter

from vssbench.engines.registry import ENGINES
from vssbench.report.columns import ENGINE_RANK, scale_rank

# One colour per engine, the same in every panel and in every report.
ENGINE_COLORS = dict(zip(ENGINES, plt.cm.tab10.colors, strict=False))
# Within an engine's colour, each variant (search, filter, strategy): a line style and a marker.
VARIANT_STYLES = (
    ("-", "o"),
    ("--", "s"),
    (":", "^"),
    ("-.", "v"),
    ("-", "D"),
    ("--", "P"),
    (":", "X"),
)
# Mantissas of a log axis's labelled ticks, sparsest first; the first that gives 3 ticks wins.
LOG_STEPS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
MAX_TICKS = 7


def scales(df: pd.DataFrame) -> list[str]:
    return sorted(df["scale"].unique(), key=scale_rank)


def engine_order(names: Iterable[str]) -> list[str]:
    """Engines in the registry's order (duckdb_vss first)."""
    return sorted(names, key=ENGINE_RANK.__getitem__)


def no_data(ax: Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)


def wrapped(text: str, width_in: float, fontsize: float = 10) -> str:
    """`text` broken into lines that fit `width_in` inches at `fontsize` (a character is about
    0.55 of the font size wide), so a title on a narrow figure is not cut at its edges."""
    chars = max(20, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(line for part in text.split("\n") for line in textwrap.wrap(part, chars))


def tick_label(value: float) -> str:
    """A tick's number as a reader writes it: 0.5, 20, 1500, 20k, 1M."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    return f"{value / 1000:g}k" if value >= 10_000 else f"{value:g}"


def log_ticks(low: float, high: float) -> list[float]:
    """Labelled ticks of a log axis from low to high: 1-2-5 steps or denser on a narrow range,
    nice linear steps when even those give fewer than three, at most MAX_TICKS."""
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for steps in LOG_STEPS:
        ticks = [m * 10.0**e for e in exponents for m in steps if low <= m * 10.0**e <= high]
        if len(ticks) >= 3:
            return ticks[:: math.ceil(len(ticks) / MAX_TICKS)]
    return [t for t in MaxNLocator(4).tick_values(low, high) if low <= t <= high]


def log_axis(ax: Axes, which: str, values: Iterable[float], at_values: bool = False) -> None:
    """Axis `which` ("x" or "y") of `ax` on a log scale spanning the positive `values` with a
    margin, labelled by log_ticks, or at the values themselves when `at_values` and they are
    few (the documents or selectivities a sweep ran); minor ticks unlabelled (theirs collide)."""
    finite = np.asarray([v for v in values if np.isfinite(v) and v > 0], float)
    if not len(finite):
        return
    low, high = finite.min() / 1.15, finite.max() * 1.15
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    (ax.set_xlim if which == "x" else ax.set_ylim)(low, high)
    distinct = sorted(set(finite))
    few = at_values and len(distinct) <= MAX_TICKS
    ticks = distinct if few else log_ticks(low, high)
    axis.set_ticks(ticks, [tick_label(t) for t in ticks])
    axis.set_minor_formatter(NullFormatter())
