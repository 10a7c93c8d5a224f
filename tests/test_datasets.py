"""Your own data: the synthetic corpus written out by scripts/export_dataset.py and read back
through dataset=parquet and dataset=hdf5, and what bad files are told."""

import re
import shutil
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import h5py
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import export_dataset
from hydra import compose, initialize_config_dir

from vssbench.config import dataset, identity
from vssbench.config.plan import read_plan
from vssbench.config.schema import DatasetConfig
from vssbench.data import sources
from vssbench.data.load import Dataset, DataSpec, load_dataset
from vssbench.data.sources.files import DataFileError, FileSource
from vssbench.data.synthetic.corpus import QueryMix
from vssbench.run import runner

ROOT = Path(__file__).resolve().parents[1]
DIM = 32
# The columns scripts/export_dataset.py writes, named as a user names them.
PARQUET = [
    "dataset.columns.text=text",
    "dataset.columns.query_text=text",
    "dataset.columns.relevant=relevant",
    "dataset.columns.grades=grades",
    "dataset.columns.kind=kind",
]
SAME = ["recall_at_10", "mrr_at_10", "ndcg_at_10", "relevant_recall_at_10", "rows_returned_mean"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    """The tiny corpus at dim 32 in both formats, written by the script as a user runs it."""
    out = export_dataset(tmp_path_factory, f"dim={DIM}")
    return {
        "docs": out / "docs.parquet",
        "queries": out / "queries.parquet",
        "hdf5": out / f"tiny-d{DIM}-angular.hdf5",
    }


def _parquet(files: dict[str, Path], *more: str) -> list[str]:
    return [
        "dataset=parquet",
        f"dataset.docs={files['docs']}",
        f"dataset.queries={files['queries']}",
        *PARQUET,
        *more,
    ]


def _metrics(run_id: str) -> dict[str, float]:
    return mlflow.get_run(run_id).data.metrics


# One build thread: the HNSW graph, and so what it returns, is the same for the same vectors.
COMMON = (f"dim={DIM}", "engine.threads=1", "bench.repeats=1", "bench.batch=false")


@pytest.mark.slow
def test_the_same_data_through_parquet_and_hdf5_gives_the_same_metrics(make_cfg, exported):
    synthetic = runner.run(read_plan(make_cfg(*COMMON)))
    parquet = runner.run(read_plan(make_cfg(*COMMON, *_parquet(exported))))
    hdf5 = runner.run(
        read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={exported['hdf5']}"))
    )
    assert parquet.status == hdf5.status == "finished"
    assert synthetic.name.startswith("duckdb_vss-tiny-d32")
    assert parquet.name.startswith("duckdb_vss-docs-d32") and "tiny-d32-angular" in hdf5.name
    for name in SAME:
        assert parquet.metrics[name] == pytest.approx(synthetic.metrics[name], abs=1e-12), name
    for kind in ("paraphrase", "entity", "keyword"):
        name = f"ndcg_at_10.{kind}"
        assert parquet.metrics[name] == pytest.approx(synthetic.metrics[name], abs=1e-12)
    assert hdf5.metrics["recall_at_10"] == pytest.approx(synthetic.metrics["recall_at_10"])
    difficulty = [n for n in synthetic.metrics if n.startswith("difficulty.")]
    assert len(difficulty) == 8
    for name in difficulty:
        assert parquet.metrics[name] == pytest.approx(synthetic.metrics[name], rel=1e-5), name
        assert hdf5.metrics[name] == pytest.approx(synthetic.metrics[name], rel=1e-5), name
    # The file sets the sizes the run logs.
    params = mlflow.get_run(parquet.run_id).data.params
    assert (params["scale.n_docs"], params["scale.n_queries"]) == ("2000", "200")
    # An hdf5 file without labels scores no MRR/nDCG rather than zeros.
    assert "mrr_at_10" not in hdf5.metrics and "ndcg_at_10" not in hdf5.metrics


@pytest.mark.slow
def test_a_file_is_known_by_its_content_not_its_path(make_cfg, exported, tmp_path):
    first = runner.run(read_plan(make_cfg(*COMMON, *_parquet(exported))))
    moved = {role: tmp_path / f"moved-{path.name}" for role, path in exported.items()}
    for role, path in exported.items():
        shutil.copy(path, moved[role])
    again = runner.run(read_plan(make_cfg(*COMMON, *_parquet(moved))))
    assert again.status == "skipped" and again.run_id == first.run_id
    # One changed vector is other data.
    table = pq.read_table(moved["docs"])
    vectors = np.array(table.column("vector").to_pylist(), np.float32)
    vectors[0, 0] += 0.5
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM)
    pq.write_table(table.set_column(1, "vector", column), moved["docs"])
    changed = runner.run(read_plan(make_cfg(*COMMON, *_parquet(moved))))
    assert changed.status == "finished" and changed.run_id != first.run_id


@pytest.mark.slow
def test_hdf5_shipped_neighbours_are_checked_for_every_query_and_used(make_cfg, exported):
    outcome = runner.run(
        read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={exported['hdf5']}"))
    )
    metrics = outcome.metrics
    assert metrics["groundtruth.shipped_verified_queries"] == 200  # every query of the file
    assert metrics["groundtruth.shipped_agreement"] == 1.0
    assert metrics["groundtruth.shipped_rows_replaced"] == 0
    params = mlflow.get_run(outcome.run_id).data.params
    assert params["groundtruth"].startswith("the file's own")
    assert params["labels"].startswith("none")
    # A filter needs its own exact neighbours: the file's are unfiltered.
    filtered = runner.run(
        read_plan(
            make_cfg(
                *COMMON,
                "dataset=hdf5",
                f"dataset.path={exported['hdf5']}",
                "filter=attribute",
                "filter.selectivity=0.2",
                "filter.strategy=exact",
            )
        )
    )
    assert "groundtruth.shipped_agreement" not in filtered.metrics
    assert filtered.metrics["recall_at_10"] == 1.0


@pytest.mark.slow
def test_wrong_shipped_rows_are_replaced_by_exact_search_and_counted(
    make_cfg, exported, tmp_path, caplog
):
    path = tmp_path / "damaged.hdf5"
    shutil.copy(exported["hdf5"], path)
    with h5py.File(path, "r+") as f:
        neighbors = f["neighbors"][...]
        # Queries 0-29 get the next query's neighbours; 30-34 name their nearest ten times,
        # a row whose distances all pass the tie check (0.1 recall, as it was logged before).
        neighbors[:30] = neighbors[1:31].copy()
        neighbors[30:35] = neighbors[30:35, :1]
        f["neighbors"][...] = neighbors
    with caplog.at_level("INFO"):
        damaged = runner.run(read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={path}")))
    m = damaged.metrics
    assert m["groundtruth.shipped_verified_queries"] == 200
    assert m["groundtruth.shipped_rows_replaced"] == 35
    assert m["groundtruth.shipped_rows_duplicate_ids"] == 5
    # 165 right rows; each repeating row holds its query's nearest once (0.1); the 30 shifted
    # rows hold almost nothing of their queries' top 10.
    assert m["groundtruth.shipped_agreement"] == pytest.approx((165 + 5 * 0.1) / 200, abs=0.01)
    assert "agree with exact search on 165 of 200 queries; 35 rows disagree" in caplog.text
    # Scored against exact search: the file's own good copy gives the same recall.
    good = runner.run(
        read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={exported['hdf5']}"))
    )
    assert m["recall_at_10"] == pytest.approx(good.metrics["recall_at_10"], abs=1e-12)


def _counted_from_one(exported: dict[str, Path], tmp_path: Path) -> Path:
    """The export with every neighbour id one higher, as a file counting ids from 1 writes them
    (the last document's id wraps to 0, so the ids stay inside 'train'): not one row is right."""
    path = tmp_path / "from-one.hdf5"
    shutil.copy(exported["hdf5"], path)
    with h5py.File(path, "r+") as f:
        f["neighbors"][...] = (f["neighbors"][...] + 1) % len(f["train"])
    return path


# What a file whose every shipped row is wrong is told, under both settings.
NONE_AGREE = (
    "dataset 'neighbors': the file's neighbours agree with exact search on 0 of 200 queries "
    "checked (the file's rows hold {held} of the exact top-10 on average); likely causes: "
    "neighbours computed under another metric than hnsw.metric=cosine, ids counted from 1 "
    "instead of 0, or the neighbours of another file"
)


# Long (CI's time): CI runs the strict refusal through the CLI, and the fast load test both.
@pytest.mark.long
def test_a_file_whose_every_shipped_row_is_wrong_is_scored_by_exact_search_and_told_why(
    make_cfg, exported, tmp_path, caplog
):
    path = _counted_from_one(exported, tmp_path)
    with caplog.at_level("INFO"):
        wrong = runner.run(read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={path}")))
    assert wrong.status == "finished"
    assert wrong.metrics["groundtruth.shipped_rows_replaced"] == 200
    held = wrong.metrics["groundtruth.shipped_agreement"]
    assert held < 0.1
    # Said where the run loads its data, and again by a trial worker that loads it.
    said = {r.getMessage() for r in caplog.records if "dataset 'neighbors'" in r.getMessage()}
    assert said == {
        (
            f"ground truth: {path}: {NONE_AGREE.format(held=f'{held:.3f}')}; every row is replaced "
            "by exact search's, so recall is scored against exact search alone "
            "(dataset.shipped_neighbors=strict refuses such a file)"
        )
    }
    good = runner.run(
        read_plan(make_cfg(*COMMON, "dataset=hdf5", f"dataset.path={exported['hdf5']}"))
    )
    assert wrong.metrics["recall_at_10"] == pytest.approx(good.metrics["recall_at_10"], abs=1e-12)


@pytest.mark.slow
def test_strict_refuses_a_file_whose_shipped_rows_are_wrong_in_one_line(cli, exported, tmp_path):
    path = _counted_from_one(exported, tmp_path)
    result = cli(
        "dataset=hdf5", f"dataset.path={path}", "dataset.shipped_neighbors=strict", *COMMON
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    found = re.fullmatch(
        re.escape(f"vssbench: bad data file: {path}: {NONE_AGREE}").replace(
            re.escape("{held}"), r"(\d\.\d{3})"
        )
        + re.escape(
            "; dataset.shipped_neighbors=strict refuses neighbours that disagree with exact "
            "search (replace, the default, scores those queries against exact search's)"
        ),
        last,
    )
    assert found, result.stderr
    assert "trial " not in result.stderr  # refused before anything was timed
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["vssbench"])
    assert runs["status"].tolist() == ["FAILED"]


def _load_hdf5(path: Path, cache: Path, shipped_neighbors: str) -> Dataset:
    source = FileSource("hdf5", {"path": str(path)}, sources.NoSettings())
    spec = DataSpec(2000, 200, DIM, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), None, source=source)
    return load_dataset(replace(spec, shipped_neighbors=shipped_neighbors), cache)


def test_strict_refuses_one_wrong_row_and_takes_a_right_file(exported, tmp_path):
    """The rule: a row that disagrees beyond distance ties (or names a document twice) refuses
    a strict run, however many agree; a file whose every row agrees runs as under replace."""
    path = tmp_path / "one-wrong.hdf5"
    shutil.copy(exported["hdf5"], path)
    with h5py.File(path, "r+") as f:
        f["neighbors"][7] = f["neighbors"][8]
    with pytest.raises(DataFileError) as error:
        _load_hdf5(path, tmp_path / "cache", "strict")
    assert "agree with exact search on 199 of 200 queries; 1 rows disagree" in str(error.value)
    assert "likely causes" not in str(error.value) and "\n" not in str(error.value)
    # The ground truth was cached before the refusal: replace serves it without a new search.
    replaced = _load_hdf5(path, tmp_path / "cache", "replace")
    assert replaced.cache_hits["groundtruth"] and replaced.groundtruth["shipped_rows_replaced"] == 1
    right = _load_hdf5(exported["hdf5"], tmp_path / "cache", "strict")
    assert right.groundtruth["shipped_rows_replaced"] == 0


def _zero_rows(rows: list[int]):
    def change(table: pa.Table) -> pa.Table:
        vectors = np.array(table.column("vector").to_pylist(), np.float32)
        vectors[rows] = 0.0
        column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM)
        return table.set_column(table.column_names.index("vector"), "vector", column)

    return change


@pytest.mark.slow
def test_zero_vectors_are_refused_where_the_metric_cannot_compare_them(
    make_cfg, exported, tmp_path
):
    docs = _rewrite(exported["docs"], tmp_path / "docs.parquet", _zero_rows([3, 9]))
    queries = _rewrite(exported["queries"], tmp_path / "queries.parquet", _zero_rows([5]))
    files = {"docs": docs, "queries": exported["queries"]}
    with pytest.raises(DataFileError) as error:
        runner.run(read_plan(make_cfg(*COMMON, *_parquet(files))))
    assert str(error.value).startswith(
        f"{docs}: 2 of 2000 document vectors are all zeros (ids doc-0000003, doc-0000009): "
        "under hnsw.metric=cosine every distance to a zero vector is the same"
    )
    files = {"docs": exported["docs"], "queries": queries}
    with pytest.raises(DataFileError, match=re.escape(f"{queries}: 1 of 200 query vectors")):
        runner.run(read_plan(make_cfg(*COMMON, *_parquet(files), "hnsw.metric=ip")))
    # Under l2sq a zero vector is a point like any other.
    files = {"docs": docs, "queries": queries}
    plain = runner.run(read_plan(make_cfg(*COMMON, *_parquet(files), "hnsw.metric=l2sq")))
    assert plain.status == "finished" and plain.metrics["recall_at_10"] > 0.8


@pytest.mark.slow
def test_every_id_column_of_a_file_runs_artifacts_holds_its_own_ids(make_cfg, exported):
    hybrid = ("search=hybrid", "search.tokenizer=bigram")
    outcome = runner.run(read_plan(make_cfg(*COMMON, *_parquet(exported), *hybrid)))
    per_query = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, artifact_path="per_query.parquet"
        )
    )
    queries = pd.read_parquet(
        mlflow.artifacts.download_artifacts(
            run_id=outcome.run_id, artifact_path="timings/queries.parquet"
        )
    )
    own = set(pq.read_table(exported["docs"], columns=["id"]).column("id").to_pylist())
    columns = {c: per_query[c] for c in ("returned_ids", "vector_ids", "bm25_ids")}
    for name, column in {**columns, "timings ids": queries["ids"]}.items():
        found = {i for ids in column for i in ids}
        assert found and found <= own, name


@pytest.mark.slow
def test_a_run_without_labels_has_no_label_metrics_and_says_so(make_cfg, exported, caplog):
    with caplog.at_level("INFO"):
        outcome = runner.run(
            read_plan(
                make_cfg(
                    *COMMON,
                    "dataset=parquet",
                    f"dataset.docs={exported['docs']}",
                    f"dataset.queries={exported['queries']}",
                )
            )
        )
    assert not [n for n in outcome.metrics if "mrr" in n or "ndcg" in n or "relevant" in n]
    assert outcome.metrics["recall_at_10"] > 0.9
    assert "labels: the queries have none (dataset.columns.relevant)" in caplog.text


def _rewrite(source: Path, target: Path, change) -> Path:
    pq.write_table(change(pq.read_table(source)), target)
    return target


def _nan_vector(table: pa.Table) -> pa.Table:
    vectors = np.array(table.column("vector").to_pylist(), np.float32)
    vectors[7, 3] = np.nan
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])
    return table.set_column(table.column_names.index("vector"), "vector", column)


def _duplicate_id(table: pa.Table) -> pa.Table:
    ids = table.column("id").to_pylist()
    ids[5] = ids[4]
    return table.set_column(0, "id", pa.array(ids))


def _text(texts: list) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        kind = pa.binary() if isinstance(texts[0], bytes) else pa.string()
        column = pa.array((texts * len(table))[: len(table)], kind)
        return table.set_column(table.column_names.index("text"), "text", column)

    return change


def _null_first_vector(table: pa.Table) -> pa.Table:
    vectors = table.column("vector").to_pylist()
    vectors[0] = None
    column = pa.array(vectors, pa.list_(pa.float32()))
    return table.set_column(table.column_names.index("vector"), "vector", column)


def _short_query_vectors(table: pa.Table) -> pa.Table:
    short = pc.list_slice(table.column("vector"), 0, 16)
    return table.set_column(table.column_names.index("vector"), "vector", short)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "nan",
            "docs.parquet: column 'vector': 1 vectors hold NaN or infinite values (first: row 7)",
        ),
        ("duplicate", "docs.parquet: column 'id': ids are not unique ('doc-0000004' repeats)"),
        ("query_dim", "queries.parquet: column 'vector': has dim 16, the documents have dim 32"),
        ("missing", "docs.parquet: column 'body': is missing (dataset.columns.text)"),
        ("config_dim", "docs.parquet: vectors have dim 32, not dim=64; run with dim=32"),
        ("no_test", ".hdf5: dataset 'test': is missing; the file has"),
        ("metric", "its ground truth is for metric cosine, not hnsw.metric=l2sq"),
        ("null_first", "docs.parquet: column 'vector': 1 rows have no vector"),
        ("not_utf8", "docs.parquet: column 'text': row 0 is not UTF-8 text (invalid start byte"),
        ("empty_texts", "docs.parquet: column 'text': every text is empty: BM25 would have"),
    ],
)
@pytest.mark.slow
def test_each_bad_file_gets_one_line_naming_it_before_any_index(exported, tmp_path, case, message):
    docs, queries, h5 = exported["docs"], exported["queries"], exported["hdf5"]
    overrides = [f"dim={DIM}"]
    if case == "nan":
        docs = _rewrite(docs, tmp_path / "docs.parquet", _nan_vector)
    elif case == "duplicate":
        docs = _rewrite(docs, tmp_path / "docs.parquet", _duplicate_id)
    elif case == "query_dim":
        queries = _rewrite(queries, tmp_path / "queries.parquet", _short_query_vectors)
    elif case == "missing":
        overrides.append("dataset.columns.text=body")
    elif case == "config_dim":
        overrides = ["dim=64"]
    elif case == "no_test":
        h5 = tmp_path / "no-test.hdf5"
        shutil.copy(exported["hdf5"], h5)
        with h5py.File(h5, "r+") as f:
            del f["test"]
    elif case == "metric":
        overrides.append("hnsw.metric=l2sq")
    elif case == "null_first":
        docs = _rewrite(docs, tmp_path / "docs.parquet", _null_first_vector)
    elif case in ("not_utf8", "empty_texts"):
        text = [b"\xff\xfe\xc0"] if case == "not_utf8" else ["", " "]
        docs = _rewrite(docs, tmp_path / "docs.parquet", _text(text))
        overrides += ["search=hybrid", "search.tokenizer=bigram", *PARQUET]
    if case in ("no_test", "metric"):
        overrides += ["dataset=hdf5", f"dataset.path={h5}"]
    else:
        overrides += ["dataset=parquet", f"dataset.docs={docs}", f"dataset.queries={queries}"]
    cache = tmp_path / "cache"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[*overrides, f"cache_dir={cache}", f"tracking.dir={tmp_path / 'mlruns'}"],
        )
    with pytest.raises(DataFileError) as error:
        runner.run(read_plan(cfg))
    assert message in str(error.value) and "\n" not in str(error.value)
    # Nothing was built: no index of any engine, no vectors made from the bad file.
    built = [p.parent.name for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert not {"index", "vectors", "groundtruth"} & set(built), built


@pytest.mark.slow
def test_the_cli_names_a_bad_file_in_one_line_before_any_work(cli, tmp_path, exported):
    result = cli(
        "dataset=parquet",
        f"dataset.docs={exported['docs']}",
        f"dataset.queries={exported['queries']}",
        "dataset.columns.id=doc_id",
        f"dim={DIM}",
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        f"vssbench: bad data file: {exported['docs']}: column 'doc_id': is missing "
        "(dataset.columns.id); the file has id, vector, text, category, region"
    ), result.stderr
    assert not (tmp_path / "mlruns").exists()


def test_hybrid_on_a_file_needs_its_text_and_labels(make_cfg, exported):
    cfg = make_cfg(
        f"dim={DIM}",
        "search=hybrid",
        "dataset=parquet",
        f"dataset.docs={exported['docs']}",
        f"dataset.queries={exported['queries']}",
    )
    with pytest.raises(DataFileError, match=re.escape("search=hybrid: needs dataset.columns.text")):
        dataset.checked(cfg)


def test_the_noise_knob_makes_the_synthetic_data_harder(cache_dir):
    medians = {}
    for noise in (0.0, 0.5, 1.0):
        spec = DataSpec(
            2000, 200, DIM, "cosine", 10, 42, QueryMix(0.4, 0.3, 0.3), None, noise=noise
        )
        hardness = load_dataset(spec, cache_dir).difficulty
        medians[noise] = (np.median(hardness["rc_10"]), np.median(hardness["lid"]))
    rc = [medians[n][0] for n in (0.0, 0.5, 1.0)]
    lid = [medians[n][1] for n in (0.0, 0.5, 1.0)]
    assert rc[0] > rc[1] > rc[2] > 1.0, medians
    assert lid[0] < lid[1] < lid[2], medians


def test_a_run_name_says_when_the_data_is_not_the_default(make_cfg):
    assert "noise" not in identity.run_name(make_cfg())
    assert identity.run_name(make_cfg("dataset.noise=1.0")).startswith(
        "duckdb_vss-tiny-noise1-d128"
    )


@pytest.mark.parametrize("kind", sources.SOURCES)
def test_a_source_is_its_module_its_registry_entry_and_its_conf_file(make_cfg, kind):
    info = sources.SOURCES[kind]
    module = sources.source_module(kind)
    assert callable(module.check) and callable(module.read)
    settings = {f.name for f in fields(info.settings)}
    assert {*info.roles, *settings} <= {f.name for f in fields(DatasetConfig)}
    cfg = make_cfg(f"dataset={kind}")  # conf/dataset/<kind>.yaml, and DatasetKind has it
    assert cfg.dataset.name.value == kind
    with pytest.raises(DataFileError, match=f"dataset.{info.roles[0]}: is not set; dataset={kind}"):
        dataset.checked(cfg)
