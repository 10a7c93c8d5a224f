"""A 4-job tiny sweep with each launcher against a local `mlflow server`, run twice: the wall time
of each command and what its sweep summary says (the second run should skip all four).

    uv run python scripts/launcher_sweep.py [--launchers joblib ray submitit_local] [--out DIR]

Needs the extras of the launchers it runs (uv sync --extra ray --extra submitit). Fresh store,
cache and sweep dirs under --out; the server is stopped by its PID at the end.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vssbench.track.local_server import mlflow_server

SWEEP = ["-m", "scale=tiny", "dim=16,24,32,48"]
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib"],
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"],
    "submitit_local": ["hydra/launcher=submitit_local"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=LAUNCHERS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="launcher_sweep-"))
    out.mkdir(parents=True, exist_ok=True)
    with mlflow_server(out) as uri:
        print(f"mlflow server {uri}, files in {out}")
        sweep(args.launchers, uri, out)


def sweep(launchers: list[str], uri: str, out: Path) -> None:
    """Each launcher's sweep twice; prints the wall time and summary of every command."""
    # The data and index cache is filled once first, so no launcher's first run pays for it.
    plan = [("joblib", "warmup")] + [(n, a) for n in launchers for a in ("first", "rerun")]
    for name, attempt in plan:
        experiment = "warmup" if attempt == "warmup" else f"sweep-{name}"
        command = [
            *(sys.executable, "-m", "vssbench", *SWEEP, *LAUNCHERS[name]),
            *(f"tracking.experiment={experiment}", f"cache_dir={out / 'cache'}"),
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command,
            cwd=out,
            # A local Ray instance on loopback only (README, "Running on a cluster").
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": uri,
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            },
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        summary = re.search(r"sweep summary \([^)]*\): (.*)", done.stdout + done.stderr)
        said = summary.group(1) if summary else f"no summary (exit {done.returncode})"
        print(f"{name:15s} {attempt:6s} {wall:6.1f} s  exit {done.returncode}  {said}")


if __name__ == "__main__":
    main()
