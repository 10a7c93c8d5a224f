"""A real `mlflow server` on 127.0.0.1 for trials of a shared store on one machine (the tests,
scripts/launcher_sweep.py): started with a sqlite store under a dir, waited for, and stopped by
its PID."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mlflow_server(root: Path, timeout_s: float = 120, port: int = 0) -> Iterator[str]:
    """Yields the server's URL once it answers /health; its store, artifacts and log are in root.
    `port` 0: a free one."""
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    with open(root / "server.log", "a") as server_log:
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
            stderr=server_log,
        )
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while not _healthy(uri):
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not healthy in {timeout_s:g} s")
            time.sleep(0.5)
        yield uri
    finally:
        # The server and its workers; killed already in a test of a server that dies.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
