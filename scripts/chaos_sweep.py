"""Kill a 12-run tiny sweep N times at random moments, run it once more to the end, and report
what the kills left behind.

    uv run python scripts/chaos_sweep.py --kills 20 [--seed 0] [--workdir DIR] [--quick]

The sweep is `-m scale=tiny dim=16,24,32,48 hnsw.M=8,16,32`: twelve runs, each building its own
index, into a fresh MLflow store and cache (--quick: `dim=16,24 hnsw.M=8`, two runs timed with
the test suite's quick settings, for tests/test_chaos.py). Each attempt is the same command (so
it resumes the same sweep), started in its own process group and SIGKILLed as a whole:
- while the store does not exist yet (at most 3 times): within 1.8 s of "creating the MLflow
  store", i.e. during MLflow's schema migrations;
- then alternately within 1.2 s of a "building HNSW index" line, or at a random moment in the
  first 10 s.
Where each kill landed is read from the last log line before it. After the last kill the sweep
runs once more, unharmed, and the script prints: kills done (by where they landed), FINISHED
runs per fingerprint, runs left RUNNING, files the kills left in the cache and the working
dir, and the bytes they take. It exits 1 if the final sweep failed or any count is wrong.
The per-host scratch base dir (<cache>/scratch/<host>, see vssbench/track/scratch.py) is not a
leftover: like the cache's other dirs it stays, empty; the runs' own dirs in it are leftovers.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import mlflow

SWEEP = ["-m", "scale=tiny", "dim=16,24,32,48", "hnsw.M=8,16,32"]
RUNS = 12
# One ef point and one short retry of a disturbed pass (tests/conftest.py's QUICK): with two
# runs, the final sweep takes seconds instead of minutes.
QUICK_SWEEP = ["-m", "scale=tiny", "dim=16,24", "hnsw.M=8"]
QUICK_SWEEP += ["hnsw.ef_curve=[]", "bench.retries=1", "bench.retry_pause_s=0.2"]
QUICK_SWEEP += ["bench.trials=2", "bench.max_trials=2"]
QUICK_RUNS = 2
STORE_KILLS = 3
# Log line fragments, in the order a run prints them, and the phase each one starts.
PHASES = [
    ("creating the MLflow store", "store creation"),
    ("Updating database tables", "store creation"),
    ("sweep MLflow run", "sweep start"),
    ("sweep resumes its MLflow run", "sweep start"),
    ("Launching jobs", "job start"),
    ("corpus:", "data"),
    ("building HNSW index", "index build"),
    ("index built in", "index probe and load"),
    ("timing ", "queries"),
    ("finished tiny", "logging and next job"),
    ("skipped tiny", "next job"),
]


def command(workdir: Path, sweep_args: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vssbench",
        *sweep_args,
        f"cache_dir={workdir / 'cache'}",
        f"hydra.sweep.dir={workdir / 'multirun'}",
    ]


def phase_of(log: str) -> str:
    for line in reversed(log.splitlines()):
        for fragment, phase in PHASES:
            if fragment in line:
                return phase
    return "start-up"


def attempt(
    workdir: Path, sweep_args: list[str], target: str, rng: random.Random, number: int
) -> tuple[str, float]:
    """Start the sweep, kill its process group at the target moment; (where it landed, delay)."""
    log_path = workdir / f"attempt-{number:02d}.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with open(log_path, "w") as log:
        sweep = subprocess.Popen(
            command(workdir, sweep_args),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    trigger = {"store": "creating the MLflow store", "build": "building HNSW index"}.get(target)
    window = {"store": 1.8, "build": 1.2, "random": 10.0}[target]
    seen = 0
    started = time.monotonic()
    while trigger is not None:
        if sweep.poll() is not None:
            return "ended before the kill", 0.0
        text = log_path.read_text()
        if trigger in text[seen:]:
            break
        seen = max(len(text) - len(trigger), 0)
        if time.monotonic() - started > 120:
            break
        time.sleep(0.02)
    delay = rng.uniform(0, window)
    time.sleep(delay)
    if sweep.poll() is not None:
        return "ended before the kill", delay
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    return phase_of(log_path.read_text()), delay


def leftovers(workdir: Path) -> list[Path]:
    """Files no finished process should leave: temp files, moved-aside entries, runs' scratch
    dirs (scratch/<host>/<pid>-<start>, not the host's base dir), DuckDB spill dirs, a half-made
    store."""
    cache = workdir / "cache"
    found = [
        p
        for p in cache.rglob("*")
        if p.is_file()
        and (p.name.startswith(".") or ".bad-" in p.name or p.suffix in (".wal", ".tmp"))
    ]
    found += list((cache / "scratch").glob("*/**/*"))
    found += list(workdir.rglob(".tmp")) + list((workdir / "mlruns").glob(".mlflow.db.*"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="default: a new temp dir")
    parser.add_argument("--quick", action="store_true", help="two quick runs, not twelve")
    args = parser.parse_args()
    sweep_args, expected = (QUICK_SWEEP, QUICK_RUNS) if args.quick else (SWEEP, RUNS)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="vssbench-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    store = workdir / "mlruns" / "mlflow.db"
    print(f"workdir {workdir}; sweep: {' '.join(sweep_args)}")

    landed: Counter[str] = Counter()
    kills = store_kills = builds = 0
    number = 0
    while kills < args.kills:
        number += 1
        if not store.exists() and store_kills < STORE_KILLS:
            target = "store"
        else:
            target = "build" if builds % 2 == 0 else "random"
            builds += 1
        where, delay = attempt(workdir, sweep_args, target, rng, number)
        if where == "ended before the kill":
            print(f"attempt {number}: target {target}: the sweep ended before the kill")
            continue
        kills += 1
        store_kills += target == "store"
        landed[where] += 1
        print(f"kill {kills:2d}/{args.kills}: target {target:6s} +{delay:4.2f} s, in {where}")

    after_kills = leftovers(workdir)
    kill_bytes = sum(p.stat().st_size for p in after_kills if p.is_file())
    print(
        f"left by the kills, before the final sweep: {len(after_kills)} files, {kill_bytes} bytes"
    )
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    final = subprocess.run(
        command(workdir, sweep_args), cwd=workdir, env=env, capture_output=True, text=True
    )
    (workdir / "final.log").write_text(final.stdout + final.stderr)
    summary = [line for line in final.stdout.splitlines() if "sweep summary" in line]
    print(f"final sweep: exit {final.returncode} in {time.monotonic() - started:.0f} s; ", end="")
    print(summary[0].split(": ", 1)[1] if summary else "no summary")

    mlflow.set_tracking_uri(f"sqlite:///{store}")
    runs = mlflow.search_runs(experiment_names=["vssbench"], output_format="list")
    jobs = [r for r in runs if r.data.tags.get("kind") != "sweep"]
    sweeps = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    finished = Counter(r.data.tags["fingerprint"] for r in jobs if r.info.status == "FINISHED")
    statuses = Counter(r.info.status for r in runs)
    left = leftovers(workdir)
    left_bytes = sum(p.stat().st_size for p in left if p.is_file())

    print(f"\nkills done: {kills} ({', '.join(f'{n} in {p}' for p, n in landed.most_common())})")
    print(
        f"FINISHED per fingerprint: {len(finished)} fingerprints of {expected}, "
        f"runs per fingerprint {sorted(Counter(finished.values()).items())} (count: fingerprints)"
    )
    print(f"runs by status: {dict(statuses)}; sweep runs: {[s.info.status for s in sweeps]}")
    print(f"runs left RUNNING: {statuses.get('RUNNING', 0)}")
    print(f"files left in the cache and working dir: {len(left)}")
    for path in left:
        print(f"  {path.relative_to(workdir)}")
    print(f"bytes left on disk: {left_bytes}")
    ok = (
        final.returncode == 0
        and len(finished) == expected
        and set(finished.values()) == {1}
        and statuses.get("RUNNING", 0) == 0
        and [s.info.status for s in sweeps] == ["FINISHED"]
        and not left
    )
    print("result:", "OK" if ok else "PROBLEMS (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
