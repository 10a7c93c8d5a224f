"""Every trial's timed series as two tables (saved under timings/ in the run's artifacts), and the
run's timing metrics and curve steps estimated from them with their 95% intervals: every logged
timing can be recomputed from the artifacts with these functions."""

from collections.abc import Callable

import numpy as np
import pandas as pd

from vssbench.measure import definitions, intervals
from vssbench.measure.accuracy import latency_summary
from vssbench.measure.timing import Timing

# The per-pass timings a pass row holds, in the names of their metrics.
TIMED = (definitions.QPS, definitions.LATENCY_P50, definitions.LATENCY_P95, definitions.LATENCY_P99)
# Per pass also its mean and slowest query: every latency_summary column.
LATENCIES = (*(d.pattern for d in TIMED[1:]), "latency_mean_ms", "latency_max_ms")
BATCH = "batch"
# What a client level logs, as steps (step = clients).
CLIENT_METRICS = ("qps", "latency_p50_ms", "latency_p99_ms", "other_cpu_share")


def ef_series(ef: int) -> str:
    return f"ef_{ef}"


def clients_series(count: int) -> str:
    return f"clients_{count}"


def passes_frame(trials: list[list[Timing]]) -> pd.DataFrame:
    """One row per timed pass of every series of every trial (trial 0 ran in the run's process)."""
    rows = []
    for trial, timings in enumerate(trials):
        for t in timings:
            for number, p in enumerate(t.passes):
                # A batch is one statement: it has no per-query latencies.
                lat = latency_summary(p.latencies_ns) if t.series != BATCH else {}
                rows.append(
                    {
                        "series": t.series,
                        "trial": trial,
                        "pid": p.pid,  # the process that timed it (each further trial its own)
                        "pass": number,
                        "n_queries": p.n_queries,
                        "elapsed_s": p.elapsed_s,
                        "qps": p.qps,
                        **{name: lat.get(name, np.nan) for name in LATENCIES},
                        "other_cpu_share": p.other_cpu_share,
                        "other_cpu_share_resolution": p.other_cpu_resolution,
                        # Runnable but not running: NaN where /proc cannot tell (not Linux).
                        "wait_s": p.wait_s,
                        "wait_share": p.wait_share,
                        "attempts": p.attempts,
                    }
                )
    return pd.DataFrame(rows)


def queries_frame(
    trials: list[list[Timing]], own_ids: Callable[[np.ndarray], list]
) -> pd.DataFrame:
    """One row per query of every pass: its latency (none in a batch) and the documents' own
    ids it found."""
    parts = []
    for trial, timings in enumerate(trials):
        for t in timings:
            for number, p in enumerate(t.passes):
                n = len(p.ids)
                latency = p.latencies_ns if t.series != BATCH else np.full(n, None)
                parts.append(
                    pd.DataFrame(
                        {
                            "series": t.series,
                            "trial": trial,
                            "pass": number,
                            "query": np.arange(n),
                            "latency_ns": pd.array(latency, dtype="Int64"),
                            "ids": [own_ids(i) for i in p.ids],
                        }
                    )
                )
    return pd.concat(parts, ignore_index=True)


def estimate(passes: pd.DataFrame, series: str, metric: str) -> intervals.Estimate:
    """One timing of one series over the units of its passes (trials, else passes)."""
    rows = passes[passes["series"] == series]
    return intervals.log_mean(intervals.units(rows, metric))


def halfwidth(est: intervals.Estimate) -> float:
    """A timing interval's half-width relative to its estimate: the distance to its upper end,
    the wider side of an interval made on logs (+-5% reads 0.05)."""
    return est.high / est.value - 1


def _with_bounds(name: str, est: intervals.Estimate) -> dict[str, float]:
    return {name: est.value, f"{name}_ci_low": est.low, f"{name}_ci_high": est.high}


def headline(passes: pd.DataFrame, series: str) -> dict[str, float]:
    """The headline series' estimates with intervals, how its passes spread inside a process, and
    what other processes took during any timed pass."""
    rows = passes[passes["series"] == series]
    out: dict[str, float] = {}
    for d in TIMED:
        out.update(_with_bounds(d.pattern, estimate(passes, series, d.pattern)))
    qps = rows["qps"]
    out.update(
        {
            "qps_ci_halfwidth": halfwidth(estimate(passes, series, "qps")),
            "latency_mean_ms": estimate(passes, series, "latency_mean_ms").value,
            "latency_max_ms": float(rows["latency_max_ms"].max()),
            "qps_median": float(qps.median()),
            "qps_spread": float((qps.max() - qps.min()) / qps.median()),
            "timed_passes": float(len(rows)),
            "timed_s": float(passes["elapsed_s"].sum()),
            "trials": float(passes["trial"].nunique()),
            "timing_units": float(estimate(passes, series, "qps").n),
            "other_cpu_share": float(passes["other_cpu_share"].max()),
            # The smallest share the headline's passes could see (a batch's short passes see less).
            "other_cpu_share_resolution": float(rows["other_cpu_share_resolution"].max()),
            "retried_passes": float((passes["attempts"] > 1).sum()),
        }
    )
    return out


def prefixed(passes: pd.DataFrame, series: str, prefix: str) -> dict[str, float]:
    """A series beside the headline (the batch, the engine's own hybrid): `prefix` + metric."""
    if not (passes["series"] == series).any():
        return {}
    names = ("qps",) if series == BATCH else ("qps", "latency_p50_ms", "latency_p99_ms")
    out: dict[str, float] = {}
    for name in names:
        out.update(_with_bounds(prefix + name, estimate(passes, series, name)))
    rows = passes[passes["series"] == series]
    out[f"{prefix}qps_median"] = float(rows["qps"].median())
    return out


def client_overhead(metrics: dict[str, float]) -> dict[str, float]:
    """The share of a single query's latency that is per-statement overhead, which a batch pays
    once: one client's time per query against the batch's."""
    if "batch_qps" not in metrics:
        return {}
    return {"client_overhead_share": max(0.0, 1 - metrics["qps"] / metrics["batch_qps"])}


def steps(passes: pd.DataFrame, head_ef_series: str) -> dict[str, list[tuple[int, float]]]:
    """The ef curve's and the client levels' timings as MLflow steps (step = ef or clients)."""
    out: dict[str, list[tuple[int, float]]] = {}
    curve = [d for d in definitions.CURVE if d.timing]
    for series in sorted(passes["series"].unique()):
        if series.startswith("ef_"):
            ef = int(series.removeprefix("ef_"))
            for d in curve:
                for name, value in _with_bounds(
                    d.pattern, estimate(passes, series, d.pattern)
                ).items():
                    out.setdefault(f"ef_curve.{name}", []).append((ef, value))
    levels = {1: head_ef_series} if (passes["series"].str.startswith("clients_")).any() else {}
    levels.update(
        {
            int(s.removeprefix("clients_")): s
            for s in passes["series"].unique()
            if s.startswith("clients_")
        }
    )
    for count, series in sorted(levels.items()):
        for name in CLIENT_METRICS:
            rows = passes[passes["series"] == series]
            value = (
                rows[name].max()
                if name == "other_cpu_share"
                else estimate(passes, series, name).value
            )
            out.setdefault(f"clients.{name}", []).append((count, float(value)))
    return out


def disturbed(passes: pd.DataFrame, max_share: float) -> bool:
    """Whether a kept pass still saw other processes take more than `max_share` of the CPU."""
    return bool((passes["other_cpu_share"] > max_share).any())
