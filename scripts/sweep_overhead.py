"""Time a grid twice, cold cache then warm cache, and once more as a pure resume.

    uv run python scripts/sweep_overhead.py [--grid small|full] [--cold-only] [--out DIR]

small (default): scale=tiny,10k x dim=128,256,512 x search=vector,hybrid, 12 runs of a few
seconds; mission: scale=10k,100k,250k x dim=128,256,512,1024, 12 vector runs (about 35 min
cold); full: +grid=full, the 48-run matrix (hours cold: its 16 hybrid runs at 100k and 250k
time BM25 and fused queries). Each pass's log, with the per-job ETA lines, is kept as
DIR/<pass>.log. Each pass
runs the CLI as a user does, into a fresh MLflow store (so nothing is skipped) except the
resume pass, which reuses the warm pass's store (so everything is). It prints each pass's wall
time next to the work no sweep can avoid: the index builds done in that pass, every timed
pass's queries (timed_s), and the data that pass prepared (generating, embedding, exact
neighbours, difficulty, tokenizing: each once per corpus, dim or filter), and their ratio, and
the median p50/p99 latency over the runs:
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

GRIDS = {
    "small": ["scale=tiny,10k", "dim=128,256,512", "search=vector,hybrid"],
    "mission": ["scale=10k,100k,250k", "dim=128,256,512,1024"],
    "full": ["+grid=full"],
}
# Data a run prepared itself (0 when it found it cached): the work no sweep can share out.
DATA_STAGES = ("data_gen_s", "embed_s", "groundtruth_s", "difficulty_s", "tokenize_s")


def sweep(workdir: Path, store: Path, cache: Path, label: str, jobs: int, grid: list[str]) -> float:
    args = [
        sys.executable,
        "-m",
        "vssbench",
        "-m",
        *grid,
        f"tracking.dir={store}",
        f"cache_dir={cache}",
        f"hydra.sweep.dir={workdir / 'multirun' / label}",
        f"hydra.launcher.n_jobs={jobs}",
    ]
    start = time.perf_counter()
    # mlflow.set_tracking_uri() below exports MLFLOW_TRACKING_URI; the sweep must not inherit it.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(workdir / f"{label}.log", "w") as log:
        subprocess.run(args, cwd=workdir, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - start


def finished_runs(store: Path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    runs = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string="attributes.status = 'FINISHED'"
    )
    return runs[runs["tags.fingerprint"].notna()]  # not the sweep's parent run


def irreducible_s(runs: pd.DataFrame) -> tuple[float, float, float, int, float, float]:
    """(index builds done in these runs, seconds in timed passes, data prepared, runs, median
    p50 and p99 latency in ms over the runs)."""
    built = runs["params.index"] == "built"
    builds = runs.loc[built, "metrics.index_build_s"].sum()
    queries = runs["metrics.timed_s"].sum()
    data = sum(
        runs[f"metrics.{name}"].fillna(0).sum() for name in DATA_STAGES if f"metrics.{name}" in runs
    )
    p50 = float(runs["metrics.latency_p50_ms"].median())
    p99 = float(runs["metrics.latency_p99_ms"].median())
    return float(builds), float(queries), float(data), len(runs), p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--cold-only", action="store_true", help="the cold pass alone")
    parser.add_argument("--out", type=Path, default=None, help="keep stores and cache here")
    parser.add_argument("--jobs", type=int, default=1, help="hydra.launcher.n_jobs")
    args = parser.parse_args()
    workdir = args.out or Path(tempfile.mkdtemp(prefix="vssbench-overhead-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "cache"
    shutil.rmtree(cache, ignore_errors=True)

    print(f"grid={args.grid} n_jobs={args.jobs}")
    header = (
        "pass",
        "runs",
        "wall s",
        "builds s",
        "timed s",
        "data s",
        "ratio",
        "p50 ms",
        "p99 ms",
    )
    print(f"{header[0]:<8}" + "".join(f"{h:>10}" for h in header[1:]), flush=True)
    stages = {}
    passes = (("cold", "store-cold"), ("warm", "store-warm"), ("resume", "store-warm"))
    for label, store in passes[:1] if args.cold_only else passes:
        if label != "resume":
            shutil.rmtree(workdir / store, ignore_errors=True)
        wall = sweep(workdir, workdir / store, cache, label, args.jobs, GRIDS[args.grid])
        found = finished_runs(workdir / store)
        builds, timed, data, runs, p50, p99 = irreducible_s(found)
        if label != "resume":
            stages[label] = stage_seconds(found, wall, timed)
        if label == "resume":  # nothing was built, queried or prepared in this pass
            builds = timed = data = 0.0
        work = builds + timed + data
        ratio = f"{wall / work:.2f}" if work else "-"
        cells = (
            runs,
            f"{wall:.1f}",
            f"{builds:.1f}",
            f"{timed:.1f}",
            f"{data:.1f}",
            ratio,
            f"{p50:.2f}",
            f"{p99:.2f}",
        )
        print(f"{label:<8}" + "".join(f"{c:>10}" for c in cells), flush=True)
    print()
    print(pd.DataFrame(stages).round(1).fillna(0).to_string())
    print(f"stores and cache in {workdir}")


def stage_seconds(runs: pd.DataFrame, wall: float, timed: float) -> pd.Series:
    """Seconds per stage summed over the runs, and the timed passes among them; what no run
    accounts for is 'between runs'."""
    columns = [c for c in runs.columns if c.startswith("metrics.stage.") and c.endswith("_s")]
    seconds = runs[columns].sum().rename(lambda c: c[len("metrics.stage.") : -len("_s")])
    seconds["between runs"] = wall - seconds.sum()
    seconds["wall"] = wall
    seconds["(timed passes, inside the stages)"] = timed
    return seconds


if __name__ == "__main__":
    main()
