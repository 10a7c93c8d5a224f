"""Real retrieval sets and real models: the synthetic corpus exported in the BEIR layout and read
back through dataset=beir, a tiny model2vec model made here encoding it (embed=model), and what
bad files are told."""

import importlib.util
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import export_dataset
from hydra import compose, initialize_config_dir

from vssbench.config.plan import read_plan
from vssbench.data.sources import beir
from vssbench.data.sources.files import DataFileError
from vssbench.report import quality
from vssbench.report.__main__ import main
from vssbench.run import runner

ROOT = Path(__file__).resolve().parents[1]
DIM = 32
# One build thread: the same vectors give the same graph, so the same answers.
COMMON = (f"dim={DIM}", "engine.threads=1", "bench.repeats=1", "bench.batch=false")
LABELS = ["ndcg_at_10", "mrr_at_10", "relevant_recall_at_10", "recall_at_10", "rows_returned_mean"]
needs_model2vec = pytest.mark.skipif(
    importlib.util.find_spec("model2vec") is None,
    reason="embed=model with a model2vec model needs the extra: uv sync --extra model2vec",
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The tiny corpus at dim 32 in the BEIR layout, written by the script as a user runs it."""
    out = export_dataset(tmp_path_factory, f"dim={DIM}", "--format", "beir")
    return out / "beir"


def _beir(path: Path, *more: str) -> list[str]:
    return ["dataset=beir", f"dataset.path={path}", *more]


def _per_query(run_id: str) -> pd.DataFrame:
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="per_query.parquet")
    return pd.read_parquet(local)


def test_the_layout_is_what_beir_ships(exported):
    assert sorted(p.name for p in exported.iterdir()) == [
        "corpus.jsonl",
        "qrels",
        "queries.jsonl",
        "vectors",
    ]
    first = json.loads((exported / "corpus.jsonl").read_text().splitlines()[0])
    assert set(first) == {"_id", "title", "text"} and first["_id"] == "doc-0000000"
    header = (exported / "qrels" / "test.tsv").read_text().splitlines()[0]
    assert header == "query-id\tcorpus-id\tscore"


HYBRID = ("search=hybrid", "k=100", "search.candidates=100")  # BEIR's recall@100 too


@pytest.mark.slow
# Hybrid on a BEIR set is long (CI's time): hybrid itself is tested on the built-in corpus.
@pytest.mark.parametrize(
    "search", [(), pytest.param(HYBRID, marks=pytest.mark.long)], ids=["vector", "hybrid"]
)
def test_a_beir_set_scores_as_the_built_in_corpus_and_keeps_its_own_ids(
    make_cfg, exported, tmp_path, search
):
    synthetic = runner.run(read_plan(make_cfg(*COMMON, *search)))
    beir = runner.run(read_plan(make_cfg(*COMMON, *search, *_beir(exported))))
    assert beir.status == "finished" and beir.name.startswith("duckdb_vss-beir-d32")
    labels = (
        LABELS
        if not search
        else [
            n.replace("_at_10", "_at_100") if n.startswith(("recall", "relevant")) else n
            for n in LABELS
        ]
    )
    halves = [
        f"{h}_{m}"
        for h in ("vector", "bm25", "hybrid")
        for m in (*LABELS[:2], "relevant_recall_at_100")
    ]
    names = labels + (halves if search else [])
    for name in names:
        assert beir.metrics[name] == pytest.approx(synthetic.metrics[name], abs=1e-12), name
    per_query = _per_query(beir.run_id)
    assert per_query["qid"].tolist()[:2] == ["q-00000", "q-00001"]
    columns = [c for c in per_query if c.endswith("_ids")]
    assert columns == (["returned_ids", "vector_ids", "bm25_ids"] if search else ["returned_ids"])
    for column in columns:
        returned = {i for ids in per_query[column] for i in ids}
        assert returned and all(i.startswith("doc-") for i in returned), column
    params = mlflow.get_run(beir.run_id).data.params
    assert (params["scale.n_docs"], params["scale.n_queries"]) == ("2000", "200")
    if search:  # the report's quality table: the BEIR run's row, not the built-in corpus's
        out = tmp_path / "report"
        main(["--tracking-uri", mlflow.get_tracking_uri(), "--out", str(out)])
        text = (out / "summary.md").read_text()
        section = text[text.index(f"## {quality.TITLE}") :].split("\n## ")[0]
        header, _, *rows = [
            line.split("|")[1:-1] for line in section.splitlines() if line.startswith("|")
        ]
        assert [r[0].strip() for r in rows] == [beir.name]
        shown = dict(zip([h.strip() for h in header], [c.strip() for c in rows[0]], strict=True))
        assert float(shown["nDCG@10 hybrid"]) == pytest.approx(
            beir.metrics["hybrid_ndcg_at_10"], abs=5e-3
        )
        assert float(shown["labels' recall@100"]) == pytest.approx(
            beir.metrics["relevant_recall_at_100"], abs=5e-3
        )


def _rewrite(source: Path, target: Path, name: str, change) -> Path:
    shutil.copytree(source, target)
    path = target / name
    path.write_bytes(change(path.read_bytes()))
    return target


def _lines(change):
    """A change to a file's lines: change(lines) -> lines, as bytes."""
    return lambda data: b"\n".join(change(data.split(b"\n")))


def _json_line(index: int, edit):
    def change(lines: list[bytes]) -> list[bytes]:
        row = json.loads(lines[index])
        edit(row)
        lines[index] = json.dumps(row, ensure_ascii=False).encode()
        return lines

    return _lines(change)


BAD = {
    "missing_id": (
        "corpus.jsonl",
        _json_line(3, lambda row: row.pop("_id")),
        "corpus.jsonl: line 4: field '_id' is missing",
    ),
    "duplicate_id": (
        "corpus.jsonl",
        _json_line(5, lambda row: row.update(_id="doc-0000002")),
        "corpus.jsonl: line 6: _id 'doc-0000002' repeats line 3",
    ),
    "empty_text": (
        "corpus.jsonl",
        _json_line(7, lambda row: row.update(title="", text=" ")),
        "corpus.jsonl: line 8: has neither title nor text",
    ),
    "not_utf8": (
        "queries.jsonl",
        _lines(lambda lines: [*lines[:2], b'{"_id": "q-x", "text": "\xff\xfe"}', *lines[2:]]),
        "queries.jsonl: line 3: is not UTF-8 text (invalid start byte at byte 24)",
    ),
    "unknown_doc": (
        "qrels/test.tsv",
        _lines(lambda lines: [*lines[:4], b"q-00001\tdoc-9999999\t1", *lines[4:]]),
        "test.tsv: line 5: names document 'doc-9999999', which is not in the set",
    ),
    "not_json": (
        "queries.jsonl",
        _lines(lambda lines: [lines[0], b"{not json", *lines[1:]]),
        "queries.jsonl: line 2: is not JSON (Expecting property name enclosed in double quotes)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_each_bad_file_gets_one_line_naming_file_and_line_before_any_work(exported, tmp_path, case):
    name, change, message = BAD[case]
    bad = _rewrite(exported, tmp_path / "set", name, change)
    cache = tmp_path / "cache"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                *COMMON,
                *_beir(bad),
                f"cache_dir={cache}",
                f"tracking.dir={tmp_path / 'm'}",
            ],
        )
    with pytest.raises(DataFileError) as error:
        read_plan(cfg)  # the plan reads every file: refused before the run is claimed
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)
    assert not cache.exists()


def test_a_vectors_file_without_a_document_is_refused_before_any_work(exported, tmp_path):
    bare = tmp_path / "set"
    shutil.copytree(exported, bare)
    vectors = bare / "vectors" / "corpus.parquet"
    pq.write_table(pq.read_table(vectors).slice(1), vectors)  # doc-0000000's row gone
    cache = tmp_path / "cache"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*COMMON, *_beir(bare), f"cache_dir={cache}"])
    with pytest.raises(DataFileError) as error:
        read_plan(cfg)
    assert str(error.value) == f"{vectors}: column 'id': has no vector for 'doc-0000000'"
    assert not cache.exists()


@pytest.fixture
def checks_cache(tmp_path) -> Path:
    """Checks cached in tmp_path/cache, as the command's entry (sweep/callbacks.py) sets up for
    its runs; set back to none after the test, as this process runs others."""
    root = tmp_path / "cache"
    beir.keep_checks_in(root)
    yield root
    beir.keep_checks_in(None)


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert len(old) == len(new) and data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))
    assert len(path.read_bytes()) == len(data)


def test_a_sets_checks_are_cached_by_its_files_size_and_content(
    exported, tmp_path, checks_cache, caplog
):
    """The plan reads a set's files: parsed and checked the first time, read from the cache the
    next; one file changed in content, not size, is parsed and checked again, and a bad edit of
    the same size is refused, not hidden by the verdict cached for the old content."""
    files = tmp_path / "set"
    shutil.copytree(exported, files)

    def plan():
        caplog.clear()
        with (
            caplog.at_level("INFO", logger="vssbench.data.sources.beir"),
            initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"),
        ):
            cfg = compose("config", overrides=[*COMMON, *_beir(files), f"cache_dir={tmp_path}"])
            return read_plan(cfg), caplog.text

    first, said = plan()
    assert "parsing and checking corpus.jsonl, queries.jsonl and test.tsv" in said
    assert len(list((checks_cache / beir.CHECKS).glob("*.check"))) == 1
    again, said = plan()
    assert "parsing" not in said, said
    assert "checks from the cache (a cache hit): corpus, qrels, queries, vectors_docs" in said
    assert (again.data.n_docs, again.data.n_queries) == (first.data.n_docs, first.data.n_queries)
    assert again.identity.fingerprint == first.identity.fingerprint

    # One query's words changed for others of as many bytes: the same size, another set.
    _same_size_edit(files / "queries.jsonl", "전기차".encode(), "수소차".encode())
    changed, said = plan()
    assert "parsing and checking" in said and "cache hit" not in said, said
    assert changed.identity.fingerprint != first.identity.fingerprint
    assert len(list((checks_cache / beir.CHECKS).glob("*.check"))) == 2
    # A score that is no number, in as many bytes: the old verdict does not hide it.
    _same_size_edit(files / "qrels" / "test.tsv", b"\t2\n", b"\tx\n")
    with pytest.raises(DataFileError, match=r"test\.tsv: line \d+: score 'x' is not a number"):
        plan()


# Long (CI's time): the fast test above reads the checks from the cache the same way.
@pytest.mark.long
def test_a_second_run_of_a_set_parses_none_of_its_files(cli, exported, tmp_path):
    """Two runs of one set from the command line, as a user runs them (Hydra's callbacks set the
    cache up): the second parses no file, its checks come from the cache, and it measures what
    the first did."""
    args = ("dataset=beir", f"dataset.path={exported}", *COMMON)
    first = cli(*args)
    second = cli(*args, "force=true")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "parsing and checking corpus.jsonl, queries.jsonl and test.tsv" in first.stdout
    assert "parsing and checking" not in second.stdout, second.stdout
    assert "checks from the cache (a cache hit)" in second.stdout
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["vssbench"], order_by=["attributes.start_time"])
    assert list(runs["status"]) == ["FINISHED", "FINISHED"]
    for column in ("metrics.ndcg_at_10", "metrics.recall_at_10", "params.scale.n_docs"):
        assert runs[column].iat[0] == runs[column].iat[1], column


def test_queries_without_labels_are_left_out_and_counted(exported, tmp_path, caplog):
    extra = b'{"_id": "q-unlabelled", "text": "\xec\x84\x9c\xec\x9a\xb8"}'
    more = _rewrite(exported, tmp_path / "set", "queries.jsonl", _lines(lambda ls: [*ls, extra]))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*COMMON, *_beir(more), f"cache_dir={tmp_path}"])
    with caplog.at_level("INFO"):
        plan = read_plan(cfg)
    assert plan.data.n_queries == 200
    assert "1 of 201 queries have no label in test.tsv: left out" in caplog.text


def test_a_set_without_vectors_names_the_ways_to_get_them(exported, tmp_path):
    bare = tmp_path / "set"
    shutil.copytree(exported, bare)
    shutil.rmtree(bare / "vectors")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*COMMON, *_beir(bare), f"cache_dir={tmp_path}"])
    with pytest.raises(DataFileError, match=r"has no vectors: give dataset\.vectors=DIR"):
        read_plan(cfg)


def _tiny_model(path: Path, texts: list[str], dim: int) -> Path:
    """A real model2vec StaticModel: a word-level tokenizer over the corpus's words, random
    (seeded) vectors, saved as model2vec saves one."""
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for t in texts for w in t.split()})
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    vectors = np.random.default_rng(7).standard_normal((len(vocab), dim)).astype(np.float32)
    StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def tiny_model(exported, tmp_path_factory) -> Path:
    if importlib.util.find_spec("model2vec") is None:
        pytest.skip("embed=model with a model2vec model needs the extra: uv sync --extra model2vec")
    rows = [json.loads(line) for line in (exported / "corpus.jsonl").read_text().splitlines()]
    queries = [
        json.loads(line)["text"] for line in (exported / "queries.jsonl").read_text().splitlines()
    ]
    texts = [f"{r['title']} {r['text']}" for r in rows] + queries
    return _tiny_model(tmp_path_factory.mktemp("model") / "tiny-m2v", texts, 24)


@needs_model2vec
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb_vss", "hnswlib"])
def test_a_model_encodes_once_and_runs_through_duckdb_and_a_peer(
    make_cfg, exported, tiny_model, engine, caplog
):
    if engine != "duckdb_vss" and importlib.util.find_spec(engine) is None:
        pytest.skip(f"engine={engine} needs the optional extra: uv sync --extra {engine}")
    model = ("embed=model", f"embed.model={tiny_model}", "dim=24")
    overrides = (*COMMON[1:], *_beir(exported, "dataset.vectors=null"), *model, f"engine={engine}")
    with caplog.at_level("INFO"):
        first = runner.run(read_plan(make_cfg(*overrides)))
    assert first.status == "finished" and first.metrics["recall_at_10"] > 0.5
    params = mlflow.get_run(first.run_id).data.params
    assert params["embed.backend"] == "model2vec" and params["embed.dim"] == "24"
    assert len(params["embed.model_sha256"]) == 64
    assert "-tiny_m2v-" in first.name  # run names use "-" between their parts
    with caplog.at_level("INFO"):
        caplog.clear()
        again = runner.run(read_plan(make_cfg(*overrides, "force=true")))
    assert "encoding documents" not in caplog.text  # the second run encodes nothing
    assert mlflow.get_run(again.run_id).data.params["cache_hit.doc_vectors"] == "True"
    assert again.metrics["ndcg_at_10"] == pytest.approx(first.metrics["ndcg_at_10"])


@needs_model2vec
def test_a_model_whose_dim_is_not_dim_is_refused_in_one_line(exported, tiny_model, tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                *_beir(exported),
                "embed=model",
                f"embed.model={tiny_model}",
                "dim=32",
                f"cache_dir={tmp_path}",
            ],
        )
    with pytest.raises(DataFileError) as error:
        read_plan(cfg)
    assert str(error.value) == (
        f"embed.model={tiny_model}: vectors have dim 24, not dim=32; run with dim=24"
    )


def test_a_sentence_transformers_model_is_read_and_encodes_with_its_prompts(tmp_path):
    """Where the extra is installed: a tiny model made here (word embeddings and mean pooling),
    saved with a query prompt, described from its files and encoded in batches."""
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip(
            "sentence-transformers is not installed (its extra pulls a multi-GB torch build): "
            "uv sync --extra sentence_transformers"
        )
    from sentence_transformers import SentenceTransformer, models
    from sentence_transformers.models.tokenizer import WhitespaceTokenizer

    from vssbench.data import embedding

    vocab = ["서울", "부산", "커피", "카페"]
    weights = np.random.default_rng(3).standard_normal((len(vocab), 12)).astype(np.float32)
    words = models.WordEmbeddings(WhitespaceTokenizer(vocab), weights)
    st = SentenceTransformer(modules=[words, models.Pooling(12)], prompts={"query": "q: "})
    st.save(str(tmp_path / "st"))
    spec = embedding.describe(str(tmp_path / "st"), batch_size=2)
    assert (spec.backend, spec.dim, dict(spec.prompts)) == (
        "sentence_transformers",
        12,
        {"query": "q: "},
    )
    vectors = embedding.encode(spec, ["서울 커피", "부산 카페", "커피"], "document")
    assert vectors.shape == (3, 12) and np.isfinite(vectors).all()
