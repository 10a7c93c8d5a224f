"""A sweep killed at random moments and resumed runs each job once and leaves no files behind
(scripts/chaos_sweep.py: its two-run sweep, with fewer kills than its default)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "chaos_sweep.py"


@pytest.mark.slow
def test_a_killed_and_resumed_sweep_finishes_every_run_once_and_leaves_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", "4", "--quick", "--workdir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.stdout.splitlines()[-1:] == ["result: OK"], done.stdout + done.stderr
    assert done.returncode == 0
