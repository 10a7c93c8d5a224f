"""Figures of one run, from plain arrays; the caller decides where they go."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def latency_distribution(latencies_ms: np.ndarray, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(latencies_ms, bins=60, color="#4c72b0")
    for q, style in ((50, "-"), (95, "--"), (99, ":")):
        value = np.percentile(latencies_ms, q)
        ax.axvline(value, color="black", linestyle=style, label=f"p{q} {value:.2f} ms")
    ax.set_xlabel("query latency (ms, client side)")
    ax.set_ylabel("queries")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def recall_by_rank(shares: np.ndarray, title: str) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4))
    ranks = np.arange(1, len(shares) + 1)
    ax.bar(ranks, shares, color="#55a868")
    ax.set_xlabel("rank of the exact neighbour")
    ax.set_ylabel("share of queries where it was returned")
    ax.set_ylim(0, 1.05)
    ax.set_xticks(ranks)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def ef_curve(
    recall: list[tuple[int, float]],
    qps: list[tuple[int, float]],
    qps_bounds: tuple[list[tuple[int, float]], list[tuple[int, float]]],
    k: int,
    title: str,
) -> Figure:
    """Recall against QPS with its 95% interval, one point per effective ef (labelled), from
    one index build."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ef = [step for step, _ in recall]
    x = [value for _, value in recall]
    y = np.array([value for _, value in qps])
    low, high = (np.array([value for _, value in side]) for side in qps_bounds)
    ax.errorbar(x, y, yerr=[y - low, high - y], marker="o", color="#4c72b0", capsize=3)
    for e, xi, yi in zip(ef, x, y, strict=True):
        ax.annotate(f"ef {e}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{k} (against exact search)")
    ax.set_ylabel("queries per second, one client (log; 95% interval)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
