"""Are the intervals honest? The same command run N times (default 100k x 128 on its cached index,
with the default bench settings: trials until bench.precision): how many runs' 95% QPS intervals
contain the median of the other runs' estimates, how far the estimates spread, and how far the
best pass of the first trial (bench_version 3's `qps`) spreads over the same runs.

    uv run python -m vssbench scale=100k dim=128          # builds and caches the index once
    uv run python scripts/interval_check.py --runs 10     # on a quiet machine
    uv run python scripts/interval_check.py --runs 10 scale=10k dim=128
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd


def _spread(values: np.ndarray) -> str:
    return f"{100 * (values.max() - values.min()) / np.median(values):.1f}%"


def _runs(store: Path) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["vssbench"], order_by=["attributes.start_time"])
    rows = []
    for _, run in runs.iterrows():
        passes = pd.read_parquet(
            mlflow.artifacts.download_artifacts(
                run_id=run["run_id"], artifact_path="timings/passes.parquet"
            )
        )
        head = passes[passes["series"] == run["params.headline_series"]]
        per_trial = np.exp(np.log(head["qps"]).groupby(head["trial"]).mean())
        rows.append(
            {
                "qps": run["metrics.qps"],
                "low": run["metrics.qps_ci_low"],
                "high": run["metrics.qps_ci_high"],
                "best_pass_trial_0": head[head["trial"] == 0]["qps"].max(),
                "disturbed": run["tags.timing_disturbed"],
                "trials": run["metrics.trials"],
                "reached": run.get("tags.precision_reached", ""),
                "timed_s": passes["elapsed_s"].sum(),
                "trial_fixed_s": run.get("metrics.trial_fixed_s", np.nan),
                # Each trial's QPS against the run's estimate: is the first trial like the rest?
                "by_trial": (per_trial / run["metrics.qps"]).to_dict(),
            }
        )
    return pd.DataFrame(rows)


def _by_trial(runs: pd.DataFrame) -> str:
    """Per trial number, its QPS over its run's estimate: the median over the runs and the
    spread, so a first trial timed differently from the others shows."""
    table = pd.DataFrame(list(runs["by_trial"]))
    lines = ["trial  runs  median QPS / run's estimate  min-max"]
    for trial in table.columns:
        ratios = table[trial].dropna()
        lines.append(
            f"{trial + 1:>5}  {len(ratios):>4}  {ratios.median():>28.3f}  "
            f"{ratios.min():.3f}-{ratios.max():.3f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--store", type=Path, help="read the runs of this store (tracking.dir) instead of running"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = args.overrides or ["scale=100k", "dim=128"]
    store = args.store or Path(tempfile.mkdtemp(prefix="interval-check-"))
    walls = []
    for number in range(0 if args.store else args.runs):
        started = time.perf_counter()
        command = [sys.executable, "-m", "vssbench", *overrides, f"tracking.dir={store}"]
        subprocess.run([*command, "force=true"], check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        print(f"run {number + 1}: {walls[-1]:.0f}s", flush=True)
    runs = _runs(store)
    runs["wall_s"] = walls or np.nan
    qps = runs["qps"].to_numpy()
    runs["others_median"] = [np.median(np.delete(qps, i)) for i in range(len(qps))]
    runs["covers"] = (runs["low"] <= runs["others_median"]) & (
        runs["others_median"] <= runs["high"]
    )
    runs["half_width"] = runs["high"] / runs["qps"] - 1
    print(runs.drop(columns="by_trial").round(3).to_string(index=False))
    print(_by_trial(runs))
    print(
        f"\n{int(runs['covers'].sum())} of {len(runs)} intervals contain the median of the other "
        f"runs' estimates; estimates spread {_spread(qps)} (max - min over median); the best "
        f"pass of the first trial (the old qps) spreads {_spread(runs['best_pass_trial_0'])}; "
        f"interval half-width {100 * runs['half_width'].median():.1f}% (median)"
    )
    print(
        f"a run: {runs['wall_s'].median():.0f}s of which {runs['timed_s'].median():.0f}s timed "
        f"passes; a further trial's fixed cost {runs['trial_fixed_s'].median():.1f}s (medians)"
    )


if __name__ == "__main__":
    main()
