"""The latency figure: p50 and p99 per configuration as points with their 95% intervals on a
log axis (a bar's length means nothing on a log axis that does not start at zero), a panel per
scale, configurations in numeric order."""

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vssbench.measure.definitions import LATENCY_P50, LATENCY_P99
from vssbench.report.columns import INTERVALS
from vssbench.report.style import log_axis, plt, scales

SERIES = ((LATENCY_P50.column, "p50", "#4c72b0"), (LATENCY_P99.column, "p99", "#dd8452"))
ROW_IN = 0.2  # inches per configuration


def _errors(part: pd.DataFrame, metric: str) -> np.ndarray:
    """How far the interval reaches below and above the estimate; 0 where none was logged."""
    low, high = (part[end].to_numpy(float) for end in INTERVALS[metric])
    value = part[metric].to_numpy(float)
    return np.nan_to_num(np.vstack([value - low, high - value]))


def _panel(ax: Axes, part: pd.DataFrame, scale: str) -> None:
    """One scale: per configuration a grey span from p50 to p99 and both as points with bars."""
    y = np.arange(len(part))
    ax.hlines(y, part[LATENCY_P50.column], part[LATENCY_P99.column], color="0.85", lw=3, zorder=1)
    for metric, label, color in SERIES:
        ax.errorbar(
            part[metric],
            y,
            xerr=_errors(part, metric),
            fmt="o",
            ms=4,
            color=color,
            capsize=2,
            lw=1,
            label=label,
            zorder=2,
        )
    # The panel names the scale: the labels leave it out.
    labels = part["configuration"].str.replace(f"-{scale}-", "-", regex=False)
    labels = labels.str.removeprefix(f"{scale}-") + np.where(part["busy"], " (busy)", "")
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_ylim(-0.7, len(part) - 0.3)
    ax.set_title(scale, fontsize=9, loc="left")
    ax.grid(True, axis="x", which="major", alpha=0.3)
    ax.tick_params(axis="x", labelbottom=True, labelsize=8)


def latency_percentiles(df: pd.DataFrame) -> Figure | None:
    """p50 and p99 latency per configuration with their 95% intervals, a panel per scale on one
    log axis; configurations timed only on a busy machine say "(busy)", those without a timing
    are counted in the title."""
    timed = df[df[LATENCY_P50.column].notna()]
    if timed.empty:
        return None
    shown = scales(timed)
    heights = [ROW_IN * (timed["scale"] == s).sum() + 0.7 for s in shown]
    fig, axes = plt.subplots(
        len(shown),
        1,
        figsize=(9.5, sum(heights) + 0.8),
        squeeze=False,
        sharex=True,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, scale in zip(axes[:, 0], shown, strict=True):
        _panel(ax, timed[timed["scale"] == scale].iloc[::-1], scale)  # first configuration on top
    values = [timed[c] for metric, _, _ in SERIES for c in (metric, *INTERVALS[metric])]
    log_axis(axes[-1, 0], "x", pd.concat(values))
    axes[-1, 0].set_xlabel("latency (ms, client side, log; bars: 95% intervals)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    top = 1 - 0.1 / fig.get_figheight()
    fig.legend(handles, names, loc="upper right", bbox_to_anchor=(1, top), fontsize=8, ncol=2)
    untimed = len(df) - len(timed)
    note = f" ({untimed} without a timing not shown)" if untimed else ""
    if timed["busy"].any():
        note += "; (busy): timed while other processes took the CPU"
    fig.suptitle(f"Latency percentiles per configuration{note}", x=0.02, y=top, ha="left", va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.15 / fig.get_figheight()))
    return fig
