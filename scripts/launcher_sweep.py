"""A 4-job tiny sweep with each launcher against a local `mlflow server`, run twice: the wall time
of each command and what its sweep summary says (the second run should skip all four).

    uv run python scripts/launcher_sweep.py [--launchers joblib ray submitit_local] [--out DIR]

Needs the extras of the launchers it runs (uv sync --extra ray --extra submitit). Fresh store,
cache and sweep dirs under --out; the server is stopped by its PID at the end.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SWEEP = ["-m", "scale=tiny", "dim=16,24,32,48"]
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib"],
    "ray": ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"],
    "submitit_local": ["hydra/launcher=submitit_local"],
}


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
            *("--artifacts-destination", str(root / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        cwd=root,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return proc, uri
        except OSError:
            time.sleep(0.5)
    raise SystemExit("mlflow server not healthy in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=LAUNCHERS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="launcher_sweep-"))
    out.mkdir(parents=True, exist_ok=True)
    server, uri = start_server(out)
    print(f"mlflow server {uri} (pid {server.pid}), files in {out}")
    # The data and index cache is filled once first, so no launcher's first run pays for it.
    plan = [("joblib", "warmup")] + [(n, a) for n in args.launchers for a in ("first", "rerun")]
    try:
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
                env={**os.environ, "MLFLOW_TRACKING_URI": uri},
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - started
            summary = re.search(r"sweep summary \([^)]*\): (.*)", done.stdout + done.stderr)
            said = summary.group(1) if summary else f"no summary (exit {done.returncode})"
            print(f"{name:15s} {attempt:6s} {wall:6.1f} s  exit {done.returncode}  {said}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
