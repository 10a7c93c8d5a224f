"""Write the synthetic corpus out as user data: a parquet documents file and queries file (ids,
vectors, text, labels, filter columns) and an ann-benchmarks hdf5 file (train, test, the exact
neighbours and their distances, the metric). The tests read these back through dataset=parquet
and dataset=hdf5; a user can start from them to shape their own files.

    uv run python scripts/export_dataset.py out/ scale=tiny dim=32 [dataset.noise=0.3 ...]

prints the command lines that run the written files.
"""

import argparse
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir

from vssbench.config import dataset
from vssbench.data.groundtruth import exact_topk
from vssbench.data.load import document_texts, load_dataset
from vssbench.data.sources.hdf5 import WRITTEN_AS

CONF = Path(__file__).resolve().parent.parent / "conf"
NEIGHBORS = 100  # neighbours per query in the hdf5 file, as ann-benchmarks ships


def _vectors(array: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(
        pa.array(np.asarray(array).reshape(-1)), array.shape[1]
    )


def export(out: Path, overrides: list[str]) -> dict[str, Path]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = dataset.checked(compose(config_name="config", overrides=overrides))
    spec = dataset.data_spec(cfg)
    data = load_dataset(spec, Path(cfg.cache_dir))
    out.mkdir(parents=True, exist_ok=True)
    # Ids of their own (not row numbers), so reading them back maps ids to rows.
    ids = np.array([f"doc-{i:07d}" for i in range(len(data.corpus))])
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

    metric = cfg.hnsw.metric.value
    neighbors, dist = exact_topk(
        data.query_vectors, data.doc_vectors, min(NEIGHBORS, len(ids)), metric
    )
    paths["hdf5"] = out / f"{cfg.scale.name}-d{cfg.dim}-{WRITTEN_AS[metric]}.hdf5"
    with h5py.File(paths["hdf5"], "w") as f:
        f.attrs["distance"] = WRITTEN_AS[metric]
        f.create_dataset("train", data=np.asarray(data.doc_vectors, np.float32))
        f.create_dataset("test", data=data.query_vectors.astype(np.float32))
        f.create_dataset("neighbors", data=neighbors.astype(np.int32))
        f.create_dataset("distances", data=dist.astype(np.float32))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to write the files to")
    parser.add_argument("overrides", nargs="*", help="configuration, e.g. scale=tiny dim=32")
    args = parser.parse_args()
    paths = export(args.out, args.overrides)
    dims = [o for o in args.overrides if o.startswith("dim=")] or ["dim=128"]
    metric = [o for o in args.overrides if o.startswith("hnsw.metric=")]
    common = " ".join([*dims, *metric])
    print(
        "uv run python -m vssbench dataset=parquet "
        f"dataset.docs={paths['docs']} dataset.queries={paths['queries']} "
        "dataset.columns.text=text dataset.columns.query_text=text "
        "dataset.columns.relevant=relevant dataset.columns.grades=grades "
        f"dataset.columns.kind=kind {common}"
    )
    print(f"uv run python -m vssbench dataset=hdf5 dataset.path={paths['hdf5']} {common}")


if __name__ == "__main__":
    main()
