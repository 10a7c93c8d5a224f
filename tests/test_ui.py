"""The MLflow UI as the comparison tool: a real `mlflow ui` on 127.0.0.1, Debian's headless chromium."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest
from hydra import compose, initialize_config_dir
from playwright.sync_api import sync_playwright

from vssbench import bench

pytestmark = pytest.mark.slow
CONF = Path(__file__).resolve().parents[1] / "conf"
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "mlflow_ui.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui(tmp_path, cache_dir):
    """Two real runs in a temp store, and `mlflow ui` serving it; yields (url, runs)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for dim in (16, 32):
            bench.run(
                compose(
                    "config",
                    overrides=[
                        "scale=tiny",
                        f"dim={dim}",
                        f"cache_dir={cache_dir}",
                        f"tracking.dir={tmp_path}",
                    ],
                )
            )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
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
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1900, "height": 900})
        page.goto(url)
        for name in runs["tags.mlflow.runName"]:
            page.get_by_text(name[:20]).first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Columns").click()
        page.get_by_placeholder("Search columns").fill("qps")
        page.get_by_text("qps", exact=True).click()
        page.keyboard.press("Escape")
        cells = page.locator('[col-id="metrics.`qps`"]')
        cells.first.wait_for(timeout=20_000)
        texts = [t.strip() for t in cells.all_inner_texts()]
        cells.first.scroll_into_view_if_needed()  # so the screenshot shows the metric column
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        browser.close()
    assert texts[0] == "qps"
    shown = sorted(float(t) for t in texts[1:])
    assert shown == pytest.approx(sorted(runs["metrics.qps"]))
