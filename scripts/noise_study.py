"""Where the timing noise comes from: one configuration (default 100k x 128, cached index, ef 64)
timed in many fresh processes, each candidate source of noise switched on alone over a quiet
baseline, with the processes of all candidates interleaved in time so that the machine's drift
falls on each alike. Prints the spread of QPS between a process's passes and between processes.

    uv run python -m vssbench scale=100k dim=128        # builds and caches the index once
    uv run python scripts/noise_study.py --processes 10  # on a quiet machine

Candidates (each one alone, on top of `quiet`):
- quiet: no thread of ours runs during the timed passes and the collector is paused (what a run
  does since issue 21);
- rss_sampler: the run's 50 ms RSS sampler (measure/memory.py PeakRss) runs;
- system_metrics: MLflow's system metrics monitor samples every second into a run;
- gc: Python's garbage collector runs during the passes;
- cold: no warm-up queries (first touch of the attached index's pages is inside the clock);
- after_points: ef 16, 32 and 128 are timed before ef 64 (a point's place in the run's order);
- pinned: the process is pinned to one CPU (os.sched_setaffinity).
"""

import argparse
import gc
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CONF = Path(__file__).resolve().parents[1] / "conf"
CANDIDATES = ("quiet", "rss_sampler", "system_metrics", "gc", "cold", "after_points", "pinned")


def _plan(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from vssbench.config.plan import read_plan

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return read_plan(compose("config", overrides=["hnsw.ef_curve=[]", *overrides]))


def _open(plan):
    from vssbench.data.load import data_key, load_dataset
    from vssbench.engines.registry import engine_class
    from vssbench.stopwatch import Stopwatch

    data = load_dataset(plan.data, plan.cache_dir)
    eng = engine_class(plan.engine.name)(plan.engine.threads, plan.engine.options)
    facts = eng.open(data, plan.build, data_key(plan.data), plan.cache_dir, Stopwatch())
    if facts.get("index_reused") != 1.0:
        raise SystemExit("the index was not in the cache: run `python -m vssbench` on it first")
    return data, eng


def _passes(plan, candidate: str, repeats: int) -> list[float]:
    """The QPS of each timed pass at ef 64 in this process, with `candidate` switched on."""
    from vssbench.measure import timing
    from vssbench.run import points
    from vssbench.run.scoring import filter_values

    data, eng = _open(plan)
    values = filter_values(data, plan.search.column)
    query = points.query_step(eng, data, values)
    step = (lambda i: (gc.enable(), query(i))) if candidate == "gc" else query
    warmup = 0 if candidate == "cold" else plan.timing.warmup
    guard = timing.Guard(max_share=1.0, retries=0, pause_s=0)
    n = len(data.queries)
    if candidate == "after_points":
        for ef in (16, 32, 128):
            eng.set_query(points.settings(plan.search, False, ef, values))
            timing.one_client(query, n, f"ef {ef}", plan.timing.warmup, 1, guard)
    eng.set_query(points.settings(plan.search, False, 64, values))
    timed = timing.one_client(step, n, "ef 64", warmup, repeats, guard)
    eng.close()
    return [p.qps for p in timed.passes]


def _worker(overrides: list[str], candidate: str, repeats: int) -> None:
    import os

    import mlflow

    from vssbench.measure.memory import PeakRss

    plan = _plan(overrides)
    if candidate == "pinned":
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    if candidate == "system_metrics":
        store = tempfile.mkdtemp(prefix="noise-mlflow-")
        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        mlflow.system_metrics.set_system_metrics_sampling_interval(1)
        mlflow.system_metrics.set_system_metrics_samples_before_logging(1)
        with mlflow.start_run(log_system_metrics=True):
            qps = _passes(plan, candidate, repeats)
    elif candidate == "rss_sampler":
        with PeakRss():
            qps = _passes(plan, candidate, repeats)
    else:
        qps = _passes(plan, candidate, repeats)
    print(json.dumps({"candidate": candidate, "qps": qps}))


def _cv(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.mean(values))


def _table(results: dict[str, list[list[float]]]) -> str:
    rows = [
        "| candidate | processes | QPS (median of processes) | within a process (CV of passes,"
        " mean) | between processes (CV of process means) | max/min of process means |",
        "|---|---|---|---|---|---|",
    ]
    for candidate, runs in results.items():
        means = np.array([np.mean(r) for r in runs])
        within = np.mean([_cv(np.array(r)) for r in runs])
        rows.append(
            f"| {candidate} | {len(runs)} | {np.median(means):.0f} | {100 * within:.1f}% | "
            f"{100 * _cv(means):.1f}% | {means.max() / means.min():.2f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10, help="fresh processes per candidate")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per process")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--out", type=Path, help="also write the raw results here (JSON)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", default=["scale=100k", "dim=128"])
    args = parser.parse_args()
    if args.worker:
        return _worker(args.overrides, args.worker, args.repeats)
    candidates = args.candidates.split(",")
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"noise_study: unknown candidates {unknown}; known: {CANDIDATES}")
    results: dict[str, list[list[float]]] = {c: [] for c in candidates}
    rng = random.Random(0)
    for round_ in range(args.processes):
        for candidate in rng.sample(candidates, len(candidates)):
            command = [sys.executable, __file__, "--worker", candidate, "--repeats"]
            out = subprocess.run(
                [*command, str(args.repeats), *args.overrides],
                capture_output=True,
                text=True,
                check=True,
            )
            qps = json.loads(out.stdout.strip().splitlines()[-1])["qps"]
            results[candidate].append(qps)
            print(f"round {round_ + 1}: {candidate}: {np.mean(qps):.0f} QPS", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results))
    print(_table(results))


if __name__ == "__main__":
    main()
