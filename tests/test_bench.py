"""Whole runs on tiny data: real DuckDB, a real MLflow store in a temp dir."""

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from vssbench.config import identity
from vssbench.config.plan import read_plan, store_location
from vssbench.run import runner
from vssbench.track import store


def _runs(cfg) -> pd.DataFrame:
    """The runs in the store under cfg.tracking.dir, read without the code under test."""
    mlflow.set_tracking_uri(f"sqlite:///{Path(cfg.tracking.dir) / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=[cfg.tracking.experiment])


# Long (CI's time): the fast suite's compare of ef 16 and 48 finds the recall lost at low ef.
@pytest.mark.long
def test_low_ef_loses_recall_default_keeps_it(make_cfg):
    weak = runner.run(
        read_plan(make_cfg("hnsw.M=2", "hnsw.ef_construction=4", "hnsw.ef_search=2"))
    ).metrics
    strong = runner.run(read_plan(make_cfg())).metrics
    assert weak["recall_at_10"] < 0.8
    assert strong["recall_at_10"] > 0.95
    assert strong["rows_returned_mean"] == 10
    # The index widens its beam to the rows asked for: ef_search 2 at k=10 searches with 10.
    assert (weak["effective_ef_search"], strong["effective_ef_search"]) == (10, 64)


@pytest.mark.slow
def test_ef_search_below_the_limit_is_the_limit(make_cfg, tmp_path):
    """Measured, not assumed: ef_search 4 returns exactly the ids of ef_search 10 at k=10."""
    base = ("dim=20", "engine.threads=1", "hnsw.M=4", "hnsw.ef_construction=8")
    returned = []
    for ef in (4, 10):
        run_id = runner.run(read_plan(make_cfg(*base, f"hnsw.ef_search={ef}"))).run_id
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path / run_id)
        )
        returned.append(pd.read_parquet(local)["returned_ids"].map(tuple).tolist())
    assert returned[0] == returned[1]


@pytest.mark.slow
def test_post_filter_loses_rows_exact_filter_is_exact(make_cfg):
    post = runner.run(read_plan(make_cfg("filter=region"))).metrics
    overfetch = runner.run(
        read_plan(make_cfg("filter=region", "filter.strategy=overfetch"))
    ).metrics
    exact = runner.run(read_plan(make_cfg("filter=region", "filter.strategy=exact"))).metrics
    assert post["rows_returned_mean"] < 5 and post["short_result_share"] > 0.9
    assert post["recall_at_10"] < 0.5
    assert overfetch["rows_returned_mean"] > post["rows_returned_mean"]
    assert exact["recall_at_10"] == 1.0 and exact["rows_returned_mean"] == 10
    # overfetch asks the index for k x overfetch_factor = 100 rows; exact never asks it.
    assert (post["effective_ef_search"], overfetch["effective_ef_search"]) == (64, 100)
    assert "effective_ef_search" not in exact


@pytest.mark.slow
def test_run_is_logged_completely_and_rechecks(make_cfg, tmp_path):
    cfg = make_cfg("dim=64")
    result = runner.run(read_plan(cfg)).metrics
    runs = _runs(cfg)
    assert len(runs) == 1 and runs["status"].iat[0] == "FINISHED"
    run = runs.iloc[0]
    assert run["tags.mlflow.runName"] == "duckdb_vss-tiny-d64-vector-none-cosine-M16-efc128-ef64"
    assert run["params.hnsw.M"] == "16" and run["params.plan_check"] == "passed"
    assert run["params.duckdb.hnsw_ef_search"] == "64"
    assert run["tags.version.duckdb"] == "1.5.5" and run["tags.hw.cpu_count"]
    for name in (
        "qps",
        "qps_spread",
        "batch_qps",
        "latency_p95_ms",
        "index_build_s",
        "index_memory_mb",
        "peak_rss_mb",
        "mrr_at_10",
        "ndcg_at_10",
        "data_gen_s",
        "groundtruth_s",
    ):
        assert np.isfinite(run[f"metrics.{name}"]), name
    # MLflow's own system metrics: CPU and memory over time, at least one sample.
    history = mlflow.MlflowClient().get_metric_history(
        run.run_id, "system/cpu_utilization_percentage"
    )
    assert len(history) >= 1 and all(0 <= m.value <= 100 for m in history)
    assert run["metrics.system/system_memory_usage_megabytes"] > 0
    experiment = mlflow.get_experiment_by_name("vssbench")
    assert experiment.artifact_location == (tmp_path / "mlruns" / "artifacts").as_uri()
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id)}
    assert {"config.yaml", "plan.txt", "plots", "per_query.parquet", "timings"} <= artifacts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id, "plots")}
    assert plots == {"plots/latency.png", "plots/recall_by_rank.png", "plots/recall_vs_qps.png"}
    # Two trials (tests' bench.trials=2) of one pass each (bench.repeats=1): the estimate and its
    # interval over the trials, their passes' median and spread beside it, and who else used
    # the CPU.
    assert run["metrics.timed_passes"] == 2 and run["params.interval_over"] == "trials"
    assert run["metrics.trials"] == 2 and run["tags.precision_reached"] in ("true", "false")
    passes = [run[f"metrics.{b}"] for b in ("qps_ci_low", "qps", "qps_ci_high")]
    assert 0 < passes[0] <= passes[1] <= passes[2]
    assert run["params.headline_series"] == "ef_64"
    assert 0 <= run["metrics.other_cpu_share"] <= 1
    assert run["tags.timing_disturbed"] in ("true", "false")
    local = mlflow.artifacts.download_artifacts(
        run_id=run.run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path)
    )
    per_query = pd.read_parquet(local)
    assert len(per_query) == cfg.scale.n_queries
    assert np.isclose(per_query["recall_at_10"].mean(), result["recall_at_10"])
    assert np.isclose(per_query["rr_at_10"].mean(), run["metrics.mrr_at_10"])
    assert "HNSW_INDEX_SCAN" in mlflow.artifacts.load_text(f"runs:/{run.run_id}/plan.txt")


@pytest.mark.slow
def test_finished_run_is_skipped_force_and_failed_are_redone(make_cfg):
    cfg = make_cfg("dim=32")
    first = runner.run(read_plan(cfg))
    again = runner.run(read_plan(cfg))
    assert len(_runs(cfg)) == 1
    assert (first.status, again.status) == ("finished", "skipped")
    assert again.run_id == first.run_id
    # The stored metrics: what the run measured, plus MLflow's system/* curves.
    assert {k: again.metrics[k] for k in first.metrics} == pytest.approx(first.metrics)

    runner.run(read_plan(make_cfg("dim=32", "force=true")))
    assert len(_runs(cfg)) == 2

    other = make_cfg("dim=32", "hnsw.ef_search=20")
    assert identity.fingerprint(other) != identity.fingerprint(cfg)
    # A crashed run with the same fingerprint does not count as done.
    client = mlflow.MlflowClient()
    experiment_id = store.prepare(store_location(other.tracking))
    crashed = client.create_run(experiment_id, tags={"fingerprint": identity.fingerprint(other)})
    client.set_terminated(crashed.info.run_id, status="FAILED")
    runner.run(read_plan(other))
    statuses = _runs(cfg).query("`tags.fingerprint` == @identity.fingerprint(@other)")["status"]
    assert sorted(statuses) == ["FAILED", "FINISHED"]


@pytest.mark.slow
def test_each_run_goes_to_its_own_configured_store(make_cfg, tmp_path):
    """mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; a second store must still be used."""
    first = make_cfg("dim=16", f"tracking.dir={tmp_path / 'a'}")
    second = make_cfg("dim=16", f"tracking.dir={tmp_path / 'b'}")
    runner.run(read_plan(first))
    runner.run(read_plan(second))  # same fingerprint, other store: not skipped
    assert len(_runs(first)) == 1 and len(_runs(second)) == 1


def test_fingerprint_ignores_where_results_go_and_how_often_a_pass_is_retried(make_cfg, tmp_path):
    base = make_cfg()
    moved = make_cfg(f"tracking.dir={tmp_path / 'elsewhere'}", f"cache_dir={tmp_path / 'c'}")
    assert identity.fingerprint(base) == identity.fingerprint(moved)
    patient = make_cfg("bench.retries=7", "bench.retry_pause_s=9")
    assert identity.fingerprint(base) == identity.fingerprint(patient)
    assert identity.fingerprint(base) != identity.fingerprint(make_cfg("engine.threads=1"))


@pytest.mark.slow
def test_reused_index_gives_the_results_of_a_fresh_build(make_cfg, tmp_path):
    # One build thread: multi-threaded HNSW builds are not deterministic in this vss build.
    base = ("dim=24", "engine.threads=1", "hnsw.M=4", "hnsw.ef_construction=8", "hnsw.ef_search=8")
    fresh = runner.run(read_plan(make_cfg(*base, "engine.reuse_index=false"))).metrics
    built = runner.run(read_plan(make_cfg(*base))).metrics
    reused = runner.run(read_plan(make_cfg(*base, "force=true"))).metrics
    assert fresh["recall_at_10"] == built["recall_at_10"] == reused["recall_at_10"] < 1
    assert reused["index_build_s"] == built["index_build_s"]  # the build's own time, kept
    runs = _runs(make_cfg(*base)).sort_values("start_time")
    assert list(runs["params.index"]) == ["built", "built", "reused"]
    returned = [
        pd.read_parquet(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="per_query.parquet", dst_path=str(tmp_path / run_id)
            )
        )["returned_ids"]
        .map(tuple)
        .tolist()
        for run_id in runs["run_id"]
    ]
    assert returned[0] == returned[1] == returned[2]


@pytest.mark.slow
def test_corrupted_vectors_in_the_cache_are_rebuilt_not_used(make_cfg, tmp_path):
    """Issue 9's case: overwritten bytes in the document vectors once gave a FINISHED run with
    recall@10 0.476; the checksum now sends the entry aside and the vectors are built again."""
    cache_dir = tmp_path / "cache"
    first = runner.run(read_plan(make_cfg("dim=32", f"cache_dir={cache_dir}"))).metrics
    docs = [
        p
        for p in (cache_dir / "vectors").glob("*.npy")
        if '"part": "docs"' in p.with_suffix(".json").read_text()
    ]
    assert len(docs) == 1
    data = bytearray(docs[0].read_bytes())
    half = len(data) // 2
    data[half:] = np.random.default_rng(0).bytes(len(data) - half)  # half the vectors garbled
    docs[0].write_bytes(bytes(data))
    shutil.rmtree(cache_dir / "index")
    again = runner.run(
        read_plan(make_cfg("dim=32", f"cache_dir={cache_dir}", "force=true"))
    ).metrics
    assert again["recall_at_10"] == pytest.approx(first["recall_at_10"], abs=0.01)
    assert again["recall_at_10"] > 0.95
    assert len(list((cache_dir / "vectors").glob("*.bad-*"))) == 1
