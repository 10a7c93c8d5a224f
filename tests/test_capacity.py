"""`python -m vssbench.capacity`: power laws and their intervals on synthetic data with known
answers, the observations a store's rows give, then the command on real tiny runs at four
sizes, fitted on three and checked against the fourth."""

import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import run_main

from vssbench.capacity import expect, observations, plan
from vssbench.capacity.__main__ import main, parse_count
from vssbench.capacity.fit import FitError, fit, predict
from vssbench.capacity.observations import FILE_MB, CapacityError, Quantity
from vssbench.capacity.output import notes, table
from vssbench.measure import definitions
from vssbench.measure.intervals import Estimate

SIZES = np.array([1_000, 3_000, 10_000, 30_000, 100_000])


def _points(n: np.ndarray, dim: np.ndarray | int = 128) -> pd.DataFrame:
    return pd.DataFrame({"n": n, "dim": dim})


def test_a_noiseless_power_law_is_recovered_exactly():
    law = fit(_points(SIZES), ("n",), 3.0 * SIZES**0.87)
    assert law.exponent("n") == pytest.approx(0.87, abs=1e-12)
    assert law.sd == pytest.approx(0, abs=1e-12) and (law.n_obs, law.n_points) == (5, 5)
    at = predict(law, {"n": 10_000_000})
    assert at.value == pytest.approx(3.0 * 1e7**0.87, rel=1e-9)
    assert at.low == pytest.approx(at.value) and at.high == pytest.approx(at.value)


def test_pooled_dims_recover_both_exponents_and_predict_an_unmeasured_dim():
    n, dim = np.meshgrid(SIZES, [64, 256, 1024])
    points = _points(n.ravel(), dim.ravel())
    law = fit(points, plan.ACROSS_DIMS, 2.0 * points["n"] ** 1.1 * points["dim"] ** 0.8)
    assert law.exponent("n") == pytest.approx(1.1) and law.exponent("dim") == pytest.approx(0.8)
    assert predict(law, {"n": 10**6, "dim": 768}).value == pytest.approx(2.0 * 1e6**1.1 * 768**0.8)


def test_the_95_percent_prediction_interval_covers_95_percent_of_new_runs():
    """Four sizes (two degrees of freedom), a new run at ten times the largest: a normal
    quantile instead of Student's, or no leverage term, covers far fewer than 95%."""
    rng = np.random.default_rng(7)
    sizes = SIZES[:4]
    points = _points(sizes)
    inside = 0
    for _ in range(1000):
        noise = rng.normal(0, 0.2, size=5)
        law = fit(points, ("n",), 5 * sizes**0.9 * np.exp(noise[:4]))
        at = predict(law, {"n": 300_000})
        inside += at.low <= 5 * 300_000**0.9 * np.exp(noise[4]) <= at.high
    assert 0.93 <= inside / 1000 <= 0.97


def _noisy_observations() -> pd.DataFrame:
    """Two runs at each size with 10% noise: y = 0.002 * n^1.05."""
    rng = np.random.default_rng(3)
    n = np.repeat(SIZES, 2)
    value = 0.002 * n**1.05 * np.exp(rng.normal(0, 0.1, size=len(n)))
    return _points(n).assign(value=value, quantity="index_build_s")


def test_a_held_out_size_falls_in_its_interval_and_the_table_says_so():
    wanted = (Quantity("index_build_s", "none logged"),)
    fitted = plan.fit_sizes(SIZES.tolist(), left_out=[100_000], only=[])
    assert fitted == SIZES[:4].tolist()
    rows = plan.rows(_noisy_observations(), wanted, 128, plan.PER_DIM, fitted, [100_000])
    [row] = rows
    assert row.law.n_obs == 8 and row.law.n_points == 4
    assert row.law.exponent("n") == pytest.approx(1.05, abs=0.1)
    assert len(row.measured) == 2 and row.inside == 2
    assert row.prediction.low < row.prediction.value < row.prediction.high
    lines = table(rows)
    head = ["n", "quantity", "model", "exponent", "fit error", "prediction", "95% interval"]
    assert re.split(r"\s{2,}", lines[0]) == [*head, "measured", "in"]
    assert lines[2].endswith("2/2 in")
    assert notes(rows) == ["measured inside the interval: 2 of 2"]
    # 100k is beyond the sizes fitted: the interval does not cover an error of the law's form.
    assert notes(rows, fitted)[-1].startswith("beyond the largest size fitted (100,000)")


def test_too_few_sizes_give_a_point_estimate_only_and_one_size_no_fit():
    obs = _noisy_observations()
    wanted = (Quantity("index_build_s", "none logged"),)
    [row] = plan.rows(obs, wanted, 128, plan.PER_DIM, [1_000, 3_000], [10_000_000])
    # Four runs leave two degrees of freedom, but two sizes cannot show a power law is wrong.
    assert row.law.n_obs == 4 and not row.law.has_interval
    assert row.prediction.value > 0 and np.isnan(row.prediction.low)
    assert "(point only)" in table([row])[2]
    assert notes([row]) == [
        "index_build_s: 2 distinct sizes, fewer than the 3 an interval needs (parameters + 1): "
        "point estimate only"
    ]
    with pytest.raises(FitError, match=r"too few distinct values .*n \[1000\]"):
        fit(obs[obs["n"] == 1_000], ("n",), obs.loc[obs["n"] == 1_000, "value"])


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("10m", 10_000_000),
        ("250k", 250_000),
        ("1e6", 1_000_000),
        ("4000", 4000),
        ("1.5M", 1_500_000),
    ],
)
def test_sizes_parse(text, count):
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["10x", "", "0", "-5k", "1.5", "nan", "inf", "m"])
def test_sizes_that_are_not_a_count_are_refused(text):
    with pytest.raises(ValueError, match="number of documents"):
        parse_count(text)


def test_a_dim_without_runs_is_pooled_over_two_dims_and_refused_with_one():
    assert plan.variables([16], 16, "f") == plan.PER_DIM
    assert plan.variables([16, 64], 768, "f") == plan.ACROSS_DIMS
    with pytest.raises(CapacityError, match=r"no runs at dim 768 of f \(dims with runs: 16\)"):
        plan.variables([16], 768, "f")


def test_pool_dims_fits_across_dims_even_where_the_dim_has_runs():
    assert plan.variables([16, 64], 16, "f", pool=True) == plan.ACROSS_DIMS
    assert plan.variables([16], 16, "f", pool=True) == plan.PER_DIM  # one dim: nothing to pool


def test_a_build_counts_once_and_qps_is_the_best_point_at_the_recall_target():
    # Two runs reused one build at 1000 documents (same build numbers); one at 2000 reaches
    # recall 0.95 at no ef.
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "n_docs": [1000, 1000, 2000],
            "dim": [16, 16, 16],
            "index_build_s": [0.5, 0.5, 1.1],
            "index_memory_mb": [4.0, 4.0, 6.0],
            FILE_MB: [1.0, 1.0, 2.0],
            "peak_rss_mb": [400.0, 410.0, 420.0],
        }
    )
    curves = pd.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "c"],
            "recall": [0.90, 0.96, 0.99, 0.95, 0.94],
            "qps": [3000.0, 2000.0, 1500.0, 1800.0, 2500.0],
        }
    )
    obs = observations.observations(runs, curves, 0.95)
    counts = obs.groupby("quantity").size().to_dict()
    assert counts == {
        "index_build_s": 2,
        "index_memory_mb": 2,
        FILE_MB: 2,
        "peak_rss_mb": 3,
        "qps@recall>=0.95": 2,
    }
    qps = obs[obs["quantity"] == "qps@recall>=0.95"]
    assert qps["value"].tolist() == [2000.0, 1800.0]


def test_the_file_size_is_a_metric_the_definitions_document():
    assert any(FILE_MB in doc.names for doc in definitions.FURTHER)


# --- the command on real tiny runs ---

FOUR_SIZES = (1000, 2000, 4000, 8000)
# Tiny and quick: few queries, one pass, a two-point ef curve; every build counts, however
# busy the machine (a disturbed build's time is left out of the fit).
TINY = (
    "scale=tiny",
    "scale.n_queries=50",
    "dim=16",
    "hnsw.ef_curve=[16,64]",
    "bench.repeats=1",
    "bench.batch=false",
    "queries.warmup=5",
    "engine.threads=1",
    "bench.max_other_cpu_share=1.0",
    "bench.retries=0",
    "bench.trials=2",
    "bench.max_trials=2",
    "tracking.system_metrics_interval_s=0",
)


@pytest.fixture(scope="module")
def sizes_store(tmp_path_factory, cache_dir, store_template) -> Path:
    """A store with one finished duckdb_vss run at each of FOUR_SIZES documents, dim 16."""
    root = tmp_path_factory.mktemp("capacity")
    (root / "mlruns").mkdir()
    shutil.copyfile(store_template, root / "mlruns" / "mlflow.db")  # MLflow's migrations: ~3 s
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    sizes = ",".join(map(str, FOUR_SIZES))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "vssbench", "-m", f"scale.n_docs={sizes}", *TINY),
            *(f"cache_dir={cache_dir}", f"tracking.dir={root / 'mlruns'}"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "mlruns"


def _table(stdout: str) -> dict[tuple[str, str], list[str]]:
    """The printed rows by (n, quantity); cells are apart by two spaces or more."""
    lines = stdout.split("\n\n")[1].splitlines()[2:]
    return {(c[0], c[1]): c for c in (re.split(r"\s{2,}", line) for line in lines)}


def _interval(cell: str) -> tuple[float, float]:
    low, high = cell.replace(",", "").split(" - ")
    return float(low), float(high)


def _logged(store: Path, n_docs: int, name: str) -> float:
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    found = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string=f"params.`scale.n_docs` = '{n_docs}'"
    )
    return float(found[f"metrics.{name}"].iat[0])


@pytest.mark.slow
def test_fitted_on_three_sizes_the_fourth_falls_in_the_interval(sizes_store):
    uri = f"sqlite:///{sizes_store / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    finished = mlflow.search_runs(
        experiment_names=["vssbench"], filter_string="attributes.status = 'FINISHED'"
    )
    logged = finished[finished["tags.fingerprint"].notna()]["params.scale.n_docs"]
    assert sorted(logged.astype(int)) == list(FOUR_SIZES)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "vssbench.capacity", "--tracking-uri", uri),
            *("--dim", "16", "--holdout", "8k", "--n", "1m"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    assert "model: y = a * n^b, fitted on the runs at dim 16" in done.stdout
    assert "fitted on 1,000, 2,000, 4,000 documents" in done.stdout
    rows = _table(done.stdout)
    assert {n for n, _ in rows} == {"8,000", "1,000,000"}
    file_row = rows[("8,000", FILE_MB)]
    assert file_row[2] == "a*n^b" and file_row[4].endswith("(3 obs, 3 sizes)")
    assert 0 < float(file_row[3].removeprefix("b=")) < 1.5  # more documents, a larger file
    low, high = _interval(file_row[6])
    measured = _logged(sizes_store, 8000, FILE_MB)
    assert file_row[7] == f"{measured:.3g}" and low <= measured <= high and file_row[8] == "in"
    build = rows[("8,000", "index_build_s")]
    low, high = _interval(build[6])
    assert 0 < low < float(build[5].replace(",", "")) < high
    assert all(rows[("1,000,000", q)][7] == "-" for q in ("index_build_s", FILE_MB))
    assert float(rows[("8,000", "qps@recall>=0.95")][5].replace(",", "")) > 0


def _run(capsys, *args: str) -> tuple[int, str, str]:
    return run_main(capsys, main, *args)


@pytest.mark.slow
def test_two_fitted_sizes_give_point_estimates_and_the_errors_name_what_exists(sizes_store, capsys):
    uri = ["--tracking-uri", f"sqlite:///{sizes_store / 'mlflow.db'}"]
    code, out, _ = _run(capsys, *uri, "--dim", "16", "--fit-sizes", "1000,2000")
    assert code == 0
    rows = _table(out)
    assert {n for n, _ in rows} == {"4,000", "8,000"}
    assert all(row[5].endswith("(point only)") and row[6] == "-" for row in rows.values())
    assert f"{FILE_MB}: 2 distinct sizes, fewer than the 3 an interval needs" in out
    code, _, err = _run(capsys, *uri, "--dim", "16", "--M", "32")
    assert code == 2 and err.strip() == (
        "vssbench.capacity: no finished runs of duckdb_vss with M 32 and ef_construction 128 "
        "(workload=static, search=vector, filter=none); the store has duckdb_vss M 16 "
        "ef_construction 128: dims 16 (4 runs)"
    )
    code, _, err = _run(capsys, *uri, "--dim", "768")
    assert code == 2 and "(dims with runs: 16)" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, *uri, "--dim", "16", "--holdout", "3000")
    assert code == 2 and "sizes with runs: 1000, 2000, 4000, 8000" in err


def test_bad_input_is_refused_in_one_line_before_any_run_is_read(capsys, tmp_path):
    missing = ["--tracking-uri", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"]
    for args, message in [
        (["--engine", "duckdb"], "unknown engine 'duckdb'; engines: duckdb_vss, duckdb_exact"),
        (["--n", "10m,lots"], "--n: not a number of documents: 'lots'"),
        (["--recall", "0"], "--recall is a recall@k target in (0, 1], got 0"),
        (missing, "no MLflow store at sqlite:///"),
    ]:
        code, out, err = _run(capsys, *args)
        assert code == 2 and out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"vssbench.capacity: {message}"), err


@pytest.mark.slow
def test_a_build_expects_its_time_from_the_stores_earlier_builds(sizes_store, caplog):
    """The ETA a long build logs: the fit of this index's builds in the store, with an interval;
    nothing where too few sizes were built."""
    caplog.set_level(logging.INFO, logger="vssbench")
    mlflow.set_tracking_uri(f"sqlite:///{sizes_store / 'mlflow.db'}")
    expected = expect.build_seconds("vssbench", "duckdb_vss", 16, 16, 128, 16_000)
    assert expected is not None
    assert 0 < expected.low < expected.seconds < expected.high
    assert "fitted on 4 builds of duckdb_vss M16 efc128 (d16)" in expected.basis
    # One dim measured says nothing of another.
    assert expect.build_seconds("vssbench", "duckdb_vss", 32, 16, 128, 16_000) is None
    assert "no expected build time for duckdb_vss M16 efc128 d32" in caplog.text


def test_a_peak_predicted_below_the_index_memory_is_called_out():
    """At 10M x 768 the fits put the peak (13.7 GB) below the loaded index (52 GB): the peak's
    law was fitted where the process's fixed memory dominates."""
    law = fit(pd.DataFrame({"n": [1e4, 1e5, 1e6]}), ("n",), np.array([1.0, 2.0, 4.0]))
    rows = [
        plan.Row("index_memory_mb", 10_000_000, law, Estimate(52_304, 44_283, 61_778, 14)),
        plan.Row("peak_rss_mb", 10_000_000, law, Estimate(13_684, 7_774, 24_086, 14)),
    ]
    assert any(
        line.startswith("at 10,000,000: peak_rss_mb is predicted below index_memory_mb")
        for line in notes(rows)
    )
    rows[1] = plan.Row("peak_rss_mb", 10_000_000, law, Estimate(60_000, 50_000, 70_000, 14))
    assert not any("predicted below" in line for line in notes(rows))
