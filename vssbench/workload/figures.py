"""The figure of one churn run: recall, QPS and memory over its rounds, compaction marked."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# The memory columns a state can have, drawn where the engine reports them.
MEMORY = {
    "rss_mb": "process RSS",
    "index_memory_mb": "index (as the engine reports it)",
    "file_mb": "database file",
}


def churn(states: pd.DataFrame, k: int, title: str) -> Figure:
    """One panel each for recall@k, QPS (95% interval) and memory, by round (0: the initial
    build); the state after compaction is drawn right of the last round, past a dashed line."""
    rounds = states[states["state"] != "compacted"]
    compacted = states[states["state"] == "compacted"]
    x_last = rounds["round"].max()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("recall", f"recall@{k} against exact search over the live rows"),
        ("qps", "queries per second, one client (95% interval)"),
    )
    for ax, (column, label) in zip(axes[:2], panels, strict=True):
        _series(ax, rounds, compacted, column, x_last, label, "#4c72b0")
        ax.set_ylabel(label, fontsize=8)
    for column, label in MEMORY.items():
        if column in states and states[column].notna().any():
            _series(axes[2], rounds, compacted, column, x_last, label, None)
    axes[2].set_ylabel("MB (log)", fontsize=8)
    axes[2].set_yscale("log")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ticks = [*rounds["round"].astype(int).tolist(), *([x_last + 1] if len(compacted) else [])]
        ax.set_xticks(ticks, [*map(str, ticks[: len(rounds)]), *(["compacted"] * len(compacted))])
        ax.set_xlabel("round (0: the initial build)", fontsize=8)
        ax.grid(True, alpha=0.3)
        if len(compacted):
            ax.axvline(x_last + 0.5, color="grey", linestyle="--", linewidth=1)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _series(
    ax: plt.Axes,
    rounds: pd.DataFrame,
    compacted: pd.DataFrame,
    column: str,
    x_last: int,
    label: str,
    color: str | None,
) -> None:
    x = [*rounds["round"].tolist(), *([x_last + 1] if len(compacted) else [])]
    y = np.array([*rounds[column].tolist(), *compacted[column].tolist()], float)
    if column == "qps":
        frame = pd.concat([rounds, compacted])
        low, high = frame["qps_ci_low"].to_numpy(float), frame["qps_ci_high"].to_numpy(float)
        ax.errorbar(x, y, yerr=[y - low, high - y], marker="o", color=color, capsize=3)
    else:
        ax.plot(x, y, marker="o", color=color, label=label)
