"""Time the 12-run grid twice, cold cache then warm cache, and once more as a pure resume.

    uv run python scripts/sweep_overhead.py [--out DIR]

The grid: scale=tiny,10k x dim=128,256,512 x search=vector,hybrid. Each pass runs the CLI as
a user does, into a fresh MLflow store (so nothing is skipped) except the resume pass, which
reuses the warm pass's store (so everything is). It prints each pass's wall time next to the
work no sweep can avoid: index builds done in that pass plus the timed queries (the sum of
per-query latencies), and their ratio, and the median p50/p99 latency over the runs:
`--jobs 2` shows what two concurrent jobs cost in latency and save in wall time. Then, per
pass, where the wall time went: each stage's seconds summed over the runs (`stage.*_s`, logged
by every run), and what lies between runs (Hydra, the launcher, MLflow store start-up).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pandas as pd

GRID = ["scale=tiny,10k", "dim=128,256,512", "search=vector,hybrid"]


def sweep(workdir: Path, store: Path, cache: Path, label: str, jobs: int) -> float:
    args = [
        sys.executable,
        "-m",
        "vssbench",
        "-m",
        *GRID,
        f"tracking.dir={store}",
        f"cache_dir={cache}",
        f"hydra.sweep.dir={workdir / 'multirun' / label}",
        f"hydra.launcher.n_jobs={jobs}",
    ]
    start = time.perf_counter()
    # mlflow.set_tracking_uri() below exports MLFLOW_TRACKING_URI; the sweep must not inherit it.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    subprocess.run(args, cwd=workdir, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def finished_runs(store: Path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    runs = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string="attributes.status = 'FINISHED'"
    )
    return runs[runs["tags.fingerprint"].notna()]  # not the sweep's parent run


def irreducible_s(runs: pd.DataFrame) -> tuple[float, float, int, float, float]:
    """(index builds done in these runs, timed query time, runs, median p50 and p99 latency
    in ms over the runs)."""
    built = runs["params.index"] == "built"
    builds = runs.loc[built, "metrics.index_build_s"].sum()
    queries = (runs["metrics.latency_mean_ms"] * runs["metrics.n_queries"] / 1000).sum()
    p50 = float(runs["metrics.latency_p50_ms"].median())
    p99 = float(runs["metrics.latency_p99_ms"].median())
    return float(builds), float(queries), len(runs), p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep stores and cache here")
    parser.add_argument("--jobs", type=int, default=1, help="hydra.launcher.n_jobs")
    args = parser.parse_args()
    workdir = args.out or Path(tempfile.mkdtemp(prefix="vssbench-overhead-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)

    print(f"n_jobs={args.jobs}")
    header = ("pass", "runs", "wall s", "builds s", "queries s", "ratio", "p50 ms", "p99 ms")
    print(f"{header[0]:<8}" + "".join(f"{h:>10}" for h in header[1:]))
    stages = {}
    for label, store in (("cold", "store-cold"), ("warm", "store-warm"), ("resume", "store-warm")):
        if label != "resume":
            shutil.rmtree(workdir / store, ignore_errors=True)
        wall = sweep(workdir, workdir / store, cache, label, args.jobs)
        found = finished_runs(workdir / store)
        builds, queries, runs, p50, p99 = irreducible_s(found)
        if label != "resume":
            stages[label] = stage_seconds(found, wall, queries)
        if label == "resume":  # nothing was built or queried in this pass
            builds = queries = 0.0
        work = builds + queries
        ratio = f"{wall / work:.2f}" if work else "-"
        cells = (
            runs,
            f"{wall:.1f}",
            f"{builds:.1f}",
            f"{queries:.1f}",
            ratio,
            f"{p50:.2f}",
            f"{p99:.2f}",
        )
        print(f"{label:<8}" + "".join(f"{c:>10}" for c in cells))
    print()
    print(pd.DataFrame(stages).round(1).fillna(0).to_string())
    print(f"stores and cache in {workdir}")


def stage_seconds(runs: pd.DataFrame, wall: float, timed: float) -> pd.Series:
    """Seconds per stage summed over the runs; the queries stage split into the timed loop and
    the rest (warm-up); what no run accounts for is 'between runs'."""
    columns = [c for c in runs.columns if c.startswith("metrics.stage.") and c.endswith("_s")]
    seconds = runs[columns].sum().rename(lambda c: c[len("metrics.stage.") : -len("_s")])
    if "queries" in seconds:
        seconds["queries (timed)"] = timed
        seconds["queries"] -= timed
        seconds = seconds.rename({"queries": "queries (warm-up)"})
    seconds["between runs"] = wall - seconds.sum()
    seconds["wall"] = wall
    return seconds


if __name__ == "__main__":
    main()
