"""usearch, the HNSW library DuckDB's vss extension is built on, with the same parameters: the
control that separates DuckDB's SQL and client cost from the graph search itself."""

from pathlib import Path

import numpy as np
from usearch.index import Index

from vssbench.engines.library import LibraryEngine, Result
from vssbench.engines.params import HnswBuild

# vss maps its metrics to these usearch metrics (l2sq is the squared distance in both).
METRIC = {"l2sq": "l2sq", "cosine": "cos", "ip": "ip"}


class USearch(LibraryEngine):
    name = "usearch"
    suffix = ".usearch"

    def _new(self, dim: int, metric: str, build: HnswBuild | None = None) -> Index:
        extra = {}
        if build is not None:
            extra = {"connectivity": build.M, "expansion_add": build.ef_construction}
        # f32 like vss's default; multi=False: one vector per key.
        return Index(ndim=dim, metric=METRIC[metric], dtype="f32", **extra)

    def _build(self, vectors: np.ndarray, build: HnswBuild) -> Index:
        index = self._new(vectors.shape[1], build.metric, build)
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors, threads=build.threads)
        return index

    def _save(self, index: Index, path: Path) -> None:
        index.save(str(path))

    def _load(self, path: Path, metric: str, dim: int) -> Index:
        index = self._new(dim, metric)
        index.load(str(path))  # into memory, as vss holds its index
        return index

    def _set_ef(self, ef: int) -> None:
        self.index.expansion_search = ef

    def _search(self, vector: np.ndarray, count: int) -> Result:
        found = self.index.search(vector, count, threads=1)
        return found.keys, found.distances

    def _batch(self, vectors: np.ndarray, count: int) -> np.ndarray:
        found = self.index.search(vectors, count, threads=self.threads)
        keys = found.keys.astype(np.int64)
        # Rows with fewer than count matches are padded; counts says how many are real.
        keys[np.arange(count)[None, :] >= found.counts[:, None]] = -1
        return keys

    def describe(self) -> dict[str, str]:
        i = self.index
        if i is None:
            return {}
        return {
            "usearch.connectivity": str(i.connectivity),
            # The file does not keep expansion_add: the build's value.
            "usearch.expansion_add": str(self.build.ef_construction if self.build else ""),
            "usearch.expansion_search": str(i.expansion_search),
            "usearch.dtype": str(i.dtype),
        }

    def index_info(self) -> dict[str, float]:
        return {
            **super().index_info(),
            "index_count": float(len(self.index)),
            "index_levels": float(self.index.max_level + 1),
        }
