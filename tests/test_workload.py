"""workload=churn and workload=restart on tiny data, with real DuckDB and real peers: the
runbook, ground truth per round, deleted rows, compaction, the crash test, restarts cold and
warm, and the refusals."""

import base64
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from documented import undocumented
from peers import needs

from vssbench.config.checks import ConfigError
from vssbench.config.plan import read_plan
from vssbench.data.groundtruth import distances
from vssbench.data.load import load_dataset
from vssbench.run import runner
from vssbench.run.plan import ChurnSettings
from vssbench.workload.runbook import current_vectors, make_runbook
from vssbench.workload.scoring import live_truth, round_scores

SETTINGS = ChurnSettings(initial=0.5, rounds=3, insert=0.1, delete=0.1, update=0.05, kills=0)


def _vectors(n: int = 400, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)


def test_the_runbook_is_seeded_and_every_round_changes_what_it_says():
    vectors = _vectors()
    book = make_runbook(vectors, SETTINGS, seed=7)
    again = make_runbook(vectors, SETTINGS, seed=7)
    assert all((a.delete == b.delete).all() for a, b in zip(book.rounds, again.rounds, strict=True))
    assert len(book.initial) == 200 and len(book.rounds) == 3
    seen = set(book.initial.tolist())
    for number, r in enumerate(book.rounds, start=1):
        before = set(book.live_after(number - 1).tolist())
        assert set(r.delete.tolist()) <= before and set(r.update.tolist()) <= before
        assert not set(r.update.tolist()) & set(r.delete.tolist())
        assert not set(r.insert.tolist()) & seen  # an insert is a document never in the table
        assert len(r.insert) == 40 and len(r.delete) == round(0.1 * len(before))
        seen |= set(r.insert.tolist())
        assert set(book.live_after(number).tolist()) == (before - set(r.delete.tolist())) | set(
            r.insert.tolist()
        )
    moved = current_vectors(vectors, book, 1)[book.rounds[0].update]
    assert not np.allclose(moved, vectors[book.rounds[0].update])


def test_ground_truth_per_round_is_brute_force_over_the_live_rows(tmp_path):
    vectors, queries = _vectors(), _vectors(30)
    book = make_runbook(vectors, SETTINGS, seed=7)
    for count in range(4):
        live = book.live_after(count)
        current = current_vectors(vectors, book, count)
        truth, hit = live_truth(queries, current, live, 5, "cosine", tmp_path, {"round": count})
        assert not hit
        d = distances(queries, current[live], "cosine")
        expected = live[np.argsort(d, axis=1, kind="stable")[:, :5]]
        assert (np.sort(truth["ids"], 1) == np.sort(expected, 1)).all()
        again, hit = live_truth(queries, current, live, 5, "cosine", tmp_path, {"round": count})
        assert hit and (again["ids"] == truth["ids"]).all()


def test_a_deleted_row_is_never_counted_as_found():
    vectors, queries = _vectors(), _vectors(2)
    live = np.arange(1, 400)  # row 0 is deleted
    d = distances(queries, vectors[live], "l2sq")
    nearest = live[np.argsort(d, axis=1)[:, :3]]
    truth = np.sort(d, axis=1)[:, :3]
    # Query 0 gets the deleted row 0 in place of its third neighbour.
    returned = [np.array([*nearest[0, :2], 0]), nearest[1]]
    scores = round_scores(queries, vectors, live, truth, returned, 3, "l2sq")
    assert scores["recall"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["deleted_result_share"] == pytest.approx(1 / 6)


def _run(make_cfg, *overrides: str) -> mlflow.entities.Run:
    outcome = runner.run(read_plan(make_cfg(*overrides)))
    return mlflow.get_run(outcome.run_id)


def _steps(run_id: str, name: str) -> dict[int, float]:
    return {m.step: m.value for m in mlflow.MlflowClient().get_metric_history(run_id, name)}


def _table(run_id: str, artifact: str) -> pd.DataFrame:
    return pd.read_parquet(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact)
    )


@pytest.mark.slow
def test_duckdb_churn_logs_every_round_compaction_and_a_crash_outcome(make_cfg, cache_dir):
    run = _run(make_cfg, "workload=churn", "workload.kills=2", "dim=16")
    m, rid = run.data.metrics, run.info.run_id
    assert {"churn.recall_at_10", "compacted.qps", "crash.kills"} <= set(m)
    assert undocumented(m) == []
    assert run.data.params["workload.name"] == "churn"
    assert run.info.run_name.endswith("-churn")
    recall = _steps(rid, "churn.recall_at_10")
    assert sorted(recall) == [0, 1, 2, 3]
    live = _steps(rid, "churn.live_rows")
    data = load_dataset(read_plan(make_cfg("dim=16")).data, Path(cache_dir))
    book = make_runbook(data.doc_vectors, SETTINGS, seed=42)
    assert live == {n: float(len(book.live_after(n))) for n in range(4)}
    # DuckDB returns only the table's rows: a deleted one in the results would be a finding.
    assert set(_steps(rid, "churn.deleted_result_share").values()) == {0.0}
    assert sorted(_steps(rid, "churn.insert_rows_per_s")) == [1, 2, 3]
    assert m["no_index.insert_rows_per_s"] > 0 and m["compaction_s"] >= 0
    assert {"compacted.recall_at_10", "compacted.qps", "compacted.file_mb"} <= set(m)
    assert m["recall_at_10"] == recall[3]  # the headline is the last round's
    assert run.data.params["compaction"] == "PRAGMA hnsw_compact_index"
    assert min(_steps(rid, "churn.wal_mb").values()) > 0  # the WAL before each checkpoint
    files = _steps(rid, "churn.file_mb")
    assert files[3] > files[0]  # the file grows as rows are changed and checkpointed
    crashes = _table(rid, "churn/crashes.parquet")
    assert list(crashes["kill"]) == [0, 1, 2]
    # Each copy has an outcome, whatever DuckDB does; the first is applied without a kill.
    assert crashes["outcome"].str.len().gt(0).all() and not crashes.loc[0, "killed"]
    assert m["crash.baseline_ok"] == float(crashes.loc[0, "outcome"] == "ok")
    killed = crashes[crashes["kill"] > 0]
    assert m["crash.kills"] == 2 and m["crash.ok_share"] == (killed["outcome"] == "ok").mean()
    states = _table(rid, "churn/states.parquet")
    assert list(states["state"]) == ["round 0", "round 1", "round 2", "round 3", "compacted"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(rid, "plots")}
    assert "plots/churn.png" in artifacts


@pytest.mark.parametrize(
    ("engine", "compaction"),
    [
        pytest.param(engine, compaction, marks=needs(engine))
        for engine, compaction in (
            ("hnswlib", "none: the engine has no compaction"),
            ("faiss_flat", "none: the engine has no compaction"),
            ("lancedb", "Table.optimize(cleanup_older_than=0)"),
        )
    ],
)
@pytest.mark.slow
def test_each_peer_churns_its_own_way_and_returns_no_deleted_row(make_cfg, engine, compaction):
    run = _run(make_cfg, "workload=churn", f"engine={engine}", "dim=16")
    rid = run.info.run_id
    assert run.data.params["compaction"] == compaction
    assert sorted(_steps(rid, "churn.recall_at_10")) == [0, 1, 2, 3]
    # hnswlib returned deleted rows before its updates stopped using replace_deleted.
    assert set(_steps(rid, "churn.deleted_result_share").values()) == {0.0}
    assert min(_steps(rid, "churn.updated_found_share").values()) >= 0.9
    assert run.data.metrics["recall_at_10"] > 0.8


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no os.posix_fadvise here")
@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="no /proc/self/io to count reads")
def test_restart_times_cold_and_warm_opens_and_the_cold_one_reads_the_file(make_cfg):
    run = _run(make_cfg, "workload=restart", "workload.restarts=2", "dim=16")
    m, rid = run.data.metrics, run.info.run_id
    assert "restart.cold_open_s" in m and undocumented(m) == []
    for mode in ("cold", "warm"):
        for part in ("to_first_answer_s", "open_s", "first_query_ms", "steady_p50_ms"):
            assert m[f"restart.{mode}_{part}"] > 0
    restarts = _table(rid, "restart/restarts.parquet")
    assert sorted(zip(restarts["restart"], restarts["mode"], strict=True)) == [
        (1, "cold"),
        (1, "warm"),
        (2, "cold"),
        (2, "warm"),
    ]
    assert restarts["first_query_ms"].gt(0).all()
    file_mb = m["index_file_mb"]
    # Dropped from the page cache, the file is read again from storage; warm, it is not.
    assert m["restart.cold_read_mb"] >= 0.5 * file_mb
    assert m["restart.warm_read_mb"] < 0.5 * m["restart.cold_read_mb"]
    assert run.data.params["restart.cold"].startswith("the index file's pages dropped")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["workload=churn", "engine=faiss_hnsw"],
            "workload=churn: engine=faiss_hnsw cannot run it",
        ),
        (
            ["workload=restart", "engine=duckdb_exact"],
            "workload=restart: engine=duckdb_exact cannot",
        ),
        (["workload=churn", "search=hybrid"], "search=hybrid: workload=churn measures the vector"),
        (["workload=churn", "filter=region", "filter.strategy=post"], "filter=region: workload"),
        (["workload=churn", "workload.kills=1", "engine=hnswlib"], "workload.kills=1: the crash"),
        (["workload=churn", "engine=annoy"], "workload=churn: engine=annoy cannot run it"),
        (["workload=churn", "engine=usearch"], "workload=churn: engine=usearch cannot run it"),
        (["workload=churn", "workload.rounds=6"], "workload.insert=0.1: workload.initial + "),
        (["workload=churn", "bench.clients=[1,2]"], "bench.clients=[1, 2]: workload=churn"),
        (["workload=restart", "engine.reuse_index=false"], "engine.reuse_index=False: workload"),
    ],
)
def test_a_workload_an_engine_or_setting_cannot_run_is_refused_in_one_line(
    make_cfg, overrides, message
):
    with pytest.raises(ConfigError) as refused:
        read_plan(make_cfg(*overrides))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.slow
def test_the_report_shows_churn_rounds_crash_outcomes_and_restarts(make_cfg, tmp_path, monkeypatch):
    from vssbench.report.__main__ import main

    churned = _run(make_cfg, "workload=churn", "dim=16", "workload.kills=1")
    restarted = _run(make_cfg, "workload=restart", "dim=16", "workload.restarts=1")
    monkeypatch.setattr("vssbench.track.store.USER_TRACKING_URI", None)
    out = tmp_path / "report"
    # Workload runs alone: the report still comes out, with their part only.
    main(["--tracking-uri", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}", "--out", str(out)])
    markdown = (out / "summary.md").read_text()
    m = churned.data.metrics
    built = _steps(churned.info.run_id, "churn.recall_at_10")[0]
    assert (
        f"tiny d16 duckdb_vss churn: recall@10 {built:.3f} at the build, "
        f"{m['recall_at_10']:.3f} after 3 rounds, {m['compacted.recall_at_10']:.3f} after compaction"
    ) in markdown
    crashes = _table(churned.info.run_id, "churn/crashes.parquet")
    assert (
        f"killed copies reopened with rows and index agreeing (1x {crashes['outcome'].iat[1]})"
        in markdown
    )
    # Beside another test worker a restart may be timed on a busy machine: then it says so.
    if restarted.data.tags["timing_disturbed"] == "true":
        assert "tiny d16 duckdb_vss restart: times left out (timed while other" in markdown
    else:
        cold = restarted.data.metrics["restart.cold_to_first_answer_s"]
        assert f"restart: first answer {cold:.2f} s after process start cold" in markdown
    assert "## Crash tests: per killed copy" in markdown and "## Restarts:" in markdown
    page = (out / "report.html").read_text()
    assert base64.b64encode((out / "churn_rounds.png").read_bytes()).decode() in page


def test_a_disturbed_workload_runs_timings_are_left_out_of_the_report_and_its_figure():
    from vssbench.report import lifecycle

    rounds = pd.DataFrame(
        {
            "run": "r",
            "engine": "duckdb_vss",
            "scale": "tiny",
            "dim": 16,
            "round": [0, 1, -1],
            "recall": [1.0, 0.9, 0.9],
            "qps": np.nan,  # left out by lifecycle.load for a disturbed run
        }
    )
    churn = pd.DataFrame(
        [
            {
                "run": "r",
                "engine": "duckdb_vss",
                "scale": "tiny",
                "dim": 16,
                "disturbed": True,
                "rounds": 1,
                "recall@10 built": 1.0,
                "recall@10 last round": 0.9,
                "recall@10 compacted": 0.9,
                "QPS built": np.nan,
                "QPS last round": np.nan,
                "deleted rows returned (max share)": 0.0,
            }
        ]
    )
    restarts = pd.DataFrame(
        [{"run": "s", "engine": "usearch", "scale": "tiny", "dim": 16, "disturbed": True}]
    )
    life = lifecycle.Lifecycle(churn, rounds, pd.DataFrame(), restarts)
    assert lifecycle.findings(life) == [
        "tiny d16 duckdb_vss churn: recall@10 1.000 at the build, 0.900 after 1 rounds, 0.900 "
        "after compaction; QPS left out (timed while other processes took the CPU); no deleted "
        "row returned.",
        "tiny d16 usearch restart: times left out (timed while other processes took the CPU).",
    ]
    fig = lifecycle.figure(life)
    assert fig.axes[1].get_yscale() == "linear" and fig.axes[0].lines
