"""Which setting matters: the factors table on MLflow stores whose runs were made to depend on
one factor, and the line it gives instead when the runs are too few."""

import itertools
from pathlib import Path

import mlflow
import numpy as np
import pytest
from test_report import log_run

from vssbench.report.__main__ import main
from vssbench.report.factors import RESIDUAL, factor_table, which_setting_matters
from vssbench.report.load import load_runs

# QPS falls with dim (x0.25 from d16 to d64), recall rises with M; the rest is small noise.
GRID = list(itertools.product((("tiny", 2000), ("10k", 10_000)), (16, 64), (8, 16)))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Experiment `grid`: the 8 runs of GRID and a disturbed repeat of the first; experiment
    `few`: two runs that differ in scale and dim together."""
    root = tmp_path_factory.mktemp("factors")
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    grid = client.create_experiment("grid")
    noise = np.random.default_rng(7).normal(0, 0.01, size=(len(GRID), 2))
    for ((scale, n_docs), dim, m), (dq, dr) in zip(GRID, noise, strict=True):
        qps = 4000 * (16 / dim) * np.exp(dq)
        recall = 0.9 + 0.06 * (m == 16) + dr / 5
        log_run(client, grid, qps, recall, scale=scale, n_docs=n_docs, dim=dim, M=m)
    # A repeat of the first configuration: its recall counts, its disturbed QPS does not.
    log_run(client, grid, 99.0, 0.9, tags={"timing_disturbed": "true"}, scale="tiny", M=8)
    few = client.create_experiment("few")
    log_run(client, few, 1000.0, scale="tiny", dim=16)
    log_run(client, few, 300.0, scale="10k", n_docs=10_000, dim=64)
    return root


def _runs(store: Path, experiment: str):
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    return load_runs(experiment, {}, all_versions=False)[0]


def test_the_factor_made_to_dominate_explains_most(store):
    qps, recall = which_setting_matters(_runs(store, "grid"))
    assert qps.note == "log QPS: over 8 runs." and recall.note == "recall: over 9 runs."
    for result, dominant in ((qps, "dim"), (recall, "M")):
        shares = result.shares["share"]
        assert set(shares.index) == {"scale", "dim", "M", RESIDUAL}  # only what varies
        assert shares.sum() == pytest.approx(1.0)
        assert shares.idxmax() == dominant and shares[dominant] > 0.9
        assert result.shares.loc[dominant, "p"] < 0.001
    table = factor_table([qps, recall])
    assert list(table["factor"]) == ["scale", "dim", "M", RESIDUAL]
    assert table["log QPS share (%)"].sum() == pytest.approx(100, abs=0.2)


@pytest.mark.slow
def test_too_few_runs_give_a_line_instead_of_a_table(store, tmp_path):
    results = which_setting_matters(_runs(store, "few"))
    # Scale and dim change together in these two runs: one factor, and no residual left.
    assert [r.shares for r in results] == [None, None]
    assert results[0].note == (
        "log QPS: too few runs to tell which setting matters (2 runs, at least 3 needed for "
        "the levels of scale and a residual)."
    )
    assert factor_table(results) is None
    out = tmp_path / "report"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    main(["--tracking-uri", uri, "--experiment", "few", "--out", str(out)])
    markdown = (out / "summary.md").read_text()
    section = markdown.split("## Which setting matters")[1].split("## Per configuration")[0]
    assert "- log QPS: too few runs to tell which setting matters" in section
    assert "| factor |" not in section


@pytest.mark.slow
def test_the_report_holds_the_factors_table(store, tmp_path):
    out = tmp_path / "report"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    main(["--tracking-uri", uri, "--experiment", "grid", "--out", str(out)])
    markdown = (out / "summary.md").read_text()
    section = markdown.split("## Which setting matters")[1].split("## Per configuration")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if "|" in line}
    assert {"factor", "scale", "dim", "M", RESIDUAL} <= set(rows)
    dim_share = float(rows["dim"].split(" | ")[1])
    assert dim_share > 90
    page = (out / "report.html").read_text()
    assert "Which setting matters" in page and "log QPS share (%)" in page
