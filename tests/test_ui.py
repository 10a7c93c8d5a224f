"""The MLflow UI as the comparison tool: a real `mlflow ui` on 127.0.0.1, Debian's headless chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.slow
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "mlflow_ui.png"
# CI sets this: there a missing browser fails the test instead of skipping it.
REQUIRE_BROWSER = "VSSBENCH_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser() -> str:
    """Debian's chromium (or VSSBENCH_BROWSER); Playwright's own browser download is not used."""
    path = os.environ.get("VSSBENCH_BROWSER") or shutil.which("chromium")
    if path and Path(path).exists():
        return path
    reason = "no chromium on PATH: apt-get install chromium, or set VSSBENCH_BROWSER=/path"
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{reason} ({REQUIRE_BROWSER}=1 makes the browser test mandatory)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui(tmp_path, cli):
    """A real two-job sweep in a temp store, and `mlflow ui` serving it; yields (url, runs)."""
    _browser()  # before any work: skip or fail at once
    sweep = cli("-m", "scale=tiny", "dim=16,32", f"hydra.sweep.dir={tmp_path / 'multirun'}")
    assert sweep.returncode == 0, sweep.stderr
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    "mlflow ui did not start"
                )
                time.sleep(0.5)
        experiment_id = runs["experiment_id"].iat[0]
        yield f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning", runs
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_runs_and_a_metric_column_show_in_the_mlflow_ui(ui):
    url, runs = ui
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(children) == 2 and len(runs) == 3  # two jobs and their sweep
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_browser(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1900, "height": 900})
        page.goto(url)
        # The sweep is one row; its jobs' runs unfold under it.
        page.get_by_text("sweep scale=tiny dim=16,32").first.wait_for(timeout=60_000)
        close_assistant = page.get_by_role("button", name="Close")
        if close_assistant.count():
            close_assistant.first.click()
        page.locator('button[data-component-id*="runnamecellrenderer"]').first.click()
        for name in children["tags.mlflow.runName"]:
            page.get_by_text(name[:20]).first.wait_for(timeout=20_000)
        page.get_by_role("button", name="Columns").click()
        page.get_by_placeholder("Search columns").fill("qps")
        # Several metrics contain "qps" (qps_median, batch_qps, ...): pick the entry that is
        # exactly "qps", whose highlighted match is its whole label.
        matches = page.get_by_text("qps", exact=True)
        matches.first.wait_for(timeout=20_000)
        exact = [
            m for m in matches.all() if m.evaluate("e => e.parentElement.textContent") == "qps"
        ]
        exact[0].click()
        page.keyboard.press("Escape")
        cells = page.locator('[col-id="metrics.`qps`"]')
        cells.first.wait_for(timeout=20_000)
        texts = [t.strip() for t in cells.all_inner_texts()]
        cells.first.scroll_into_view_if_needed()  # so the screenshot shows the metric column
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        browser.close()
    assert texts[0] == "qps"
    shown = sorted(float(t) for t in texts[1:] if t not in ("", "-"))  # the sweep has no qps
    assert shown == pytest.approx(sorted(children["metrics.qps"]))


@pytest.mark.parametrize(
    ("require", "exit_code", "outcome"),
    # The browser is looked for in the fixture, before any work: a missing one is an error there.
    [(None, 0, "1 skipped"), ("1", 1, "1 error")],
)
def test_without_a_browser_the_ui_test_skips_unless_ci_requires_it(require, exit_code, outcome):
    """A fresh machine has no chromium: skip with the way to get it; CI makes it mandatory."""
    env = {k: v for k, v in os.environ.items() if k not in ("VSSBENCH_BROWSER", REQUIRE_BROWSER)}
    env["PATH"] = str(Path(sys.executable).parent)  # chromium hidden
    if require:
        env[REQUIRE_BROWSER] = require
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-n0",  # one test: no workers to start
            *("-m", "not long"),  # a slow test, which the fast suite's default leaves out
            f"{__file__}::test_runs_and_a_metric_column_show_in_the_mlflow_ui",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == exit_code, result.stdout
    assert outcome in result.stdout
    assert "no chromium on PATH: apt-get install chromium, or set VSSBENCH_BROWSER=/path" in (
        result.stdout
    )
