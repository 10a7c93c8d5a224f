"""Write the synthetic corpus out as user data: a parquet documents file and queries file (ids,
vectors, text, labels, filter columns), an ann-benchmarks hdf5 file (train, test, the exact
neighbours and their distances, the metric), and with --format beir a BEIR-layout dir (out/beir:
corpus.jsonl, queries.jsonl, qrels/test.tsv, and the vectors keyed by id in vectors/). The tests
read these back through dataset=parquet, hdf5 and beir; a user can start from them to shape
their own files.

    uv run python scripts/export_dataset.py out/ scale=tiny dim=32 [dataset.noise=0.3 ...]
    uv run python scripts/export_dataset.py out/ scale=tiny dim=32 --format beir

prints the command lines that run the written files.
"""

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from vssbench.config import dataset
from vssbench.data.groundtruth import exact_topk
from vssbench.data.load import Dataset, document_texts, load_dataset
from vssbench.data.sources import beir
from vssbench.data.sources.hdf5 import WRITTEN_AS

CONF = Path(__file__).resolve().parent.parent / "conf"
NEIGHBORS = 100  # neighbours per query in the hdf5 file, as ann-benchmarks ships
ALL = ("parquet", "hdf5", "beir")
FORMATS = ("parquet", "hdf5")  # written unless --format says otherwise


def _vectors(array: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(
        pa.array(np.asarray(array).reshape(-1)), array.shape[1]
    )


def export(out: Path, overrides: list[str], formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = dataset.checked(compose(config_name="config", overrides=overrides))
    spec = dataset.data_spec(cfg)
    data = load_dataset(spec, Path(cfg.cache_dir))
    out.mkdir(parents=True, exist_ok=True)
    # Ids of their own (not row numbers), so reading them back maps ids to rows.
    ids = np.array([f"doc-{i:07d}" for i in range(len(data.corpus))])
    paths = {}
    if "parquet" in formats:
        paths |= _parquet(out, data, ids)
    if "hdf5" in formats:
        paths |= _hdf5(out, data, cfg)
    if "beir" in formats:
        paths |= _beir(out / "beir", data, ids)
    return paths


def _parquet(out: Path, data: Dataset, ids: np.ndarray) -> dict[str, Path]:
    corpus = data.corpus
    docs = pa.table(
        {
            "id": ids,
            "vector": _vectors(data.doc_vectors),
            "text": document_texts(data.corpus_path),
            "category": corpus["category"].astype(str),
            "region": corpus["region"].astype(str),
        }
    )
    q = data.queries
    targets = q["target"].to_numpy()
    queries = pa.table(
        {
            "vector": _vectors(data.query_vectors),
            "text": q["text"],
            "relevant": [ids[r].tolist() for r in q["relevant"]],
            "grades": [g.tolist() for g in q["grades"]],
            "kind": q["kind"],
            "category": corpus["category"].to_numpy(dtype=str)[targets],
            "region": corpus["region"].to_numpy(dtype=str)[targets],
        }
    )
    paths = {"docs": out / "docs.parquet", "queries": out / "queries.parquet"}
    pq.write_table(docs, paths["docs"])
    pq.write_table(queries, paths["queries"])
    return paths


def _hdf5(out: Path, data: Dataset, cfg: DictConfig) -> dict[str, Path]:
    metric = cfg.hnsw.metric.value
    neighbors, dist = exact_topk(
        data.query_vectors, data.doc_vectors, min(NEIGHBORS, len(data.corpus)), metric
    )
    path = out / f"{cfg.scale.name}-d{cfg.dim}-{WRITTEN_AS[metric]}.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = WRITTEN_AS[metric]
        f.create_dataset("train", data=np.asarray(data.doc_vectors, np.float32))
        f.create_dataset("test", data=data.query_vectors.astype(np.float32))
        f.create_dataset("neighbors", data=neighbors.astype(np.int32))
        f.create_dataset("distances", data=dist.astype(np.float32))
    return {"hdf5": path}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")


def _beir(out: Path, data: Dataset, ids: np.ndarray) -> dict[str, Path]:
    """The BEIR layout: corpus.jsonl (title and body as BEIR's title and text, whose join is
    the corpus's own text), queries.jsonl, qrels/test.tsv with the grades as scores, and the
    vectors keyed by id in vectors/, the dir dataset=beir reads by default."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    (out / beir.VECTORS_DIR).mkdir(exist_ok=True)
    text = pd.read_parquet(data.corpus_path, columns=["title", "body"])
    _jsonl(
        out / "corpus.jsonl",
        [
            {"_id": i, "title": t, "text": b}
            for i, t, b in zip(ids, text["title"], text["body"], strict=True)
        ],
    )
    q = data.queries
    qids = [f"q-{i:05d}" for i in range(len(q))]
    _jsonl(
        out / "queries.jsonl", [{"_id": i, "text": t} for i, t in zip(qids, q["text"], strict=True)]
    )
    rows = [
        f"{qid}\t{ids[doc]}\t{grade:g}"
        for qid, relevant, grades in zip(qids, q["relevant"], q["grades"], strict=True)
        for doc, grade in zip(relevant, grades, strict=True)
    ]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    for part, names, vectors in (
        ("docs", ids, data.doc_vectors),
        ("queries", qids, data.query_vectors),
    ):
        table = pa.table(
            {"id": pa.array(names), "vector": _vectors(np.asarray(vectors, np.float32))}
        )
        pq.write_table(table, out / beir.VECTORS_DIR / beir.VECTOR_FILES[part])
    return {"beir": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write the files to")
    parser.add_argument("overrides", nargs="*", help="configuration, e.g. scale=tiny dim=32")
    parser.add_argument(
        "--format", default=",".join(FORMATS), help=f"comma-separated, of {', '.join(ALL)}"
    )
    args = parser.parse_args()
    formats = tuple(args.format.split(","))
    if unknown := set(formats) - set(ALL):
        parser.error(f"--format {args.format}: {', '.join(sorted(unknown))} is not one of {ALL}")
    paths = export(args.out, args.overrides, formats)
    dims = [o for o in args.overrides if o.startswith("dim=")] or ["dim=128"]
    metric = [o for o in args.overrides if o.startswith("hnsw.metric=")]
    common = " ".join([*dims, *metric])
    if "docs" in paths:
        print(
            "uv run python -m vssbench dataset=parquet "
            f"dataset.docs={paths['docs']} dataset.queries={paths['queries']} "
            "dataset.columns.text=text dataset.columns.query_text=text "
            "dataset.columns.relevant=relevant dataset.columns.grades=grades "
            f"dataset.columns.kind=kind {common}"
        )
    if "hdf5" in paths:
        print(f"uv run python -m vssbench dataset=hdf5 dataset.path={paths['hdf5']} {common}")
    if "beir" in paths:
        print(f"uv run python -m vssbench dataset=beir dataset.path={paths['beir']} {common}")


if __name__ == "__main__":
    main()
