"""hnswlib: the reference HNSW implementation; filters during the search with a Python function."""

from pathlib import Path

import hnswlib
import numpy as np

from vssbench.engines.library import LibraryEngine, Result
from vssbench.engines.params import HnswBuild

# hnswlib's ip distance is 1 - dot: the same order as DuckDB's negative inner product.
SPACE = {"l2sq": "l2", "cosine": "cosine", "ip": "ip"}


class Hnswlib(LibraryEngine):
    name = "hnswlib"
    suffix = ".hnsw"
    pre_filter = "hnswlib's filter function, called for every candidate"

    def _build(self, vectors: np.ndarray, build: HnswBuild) -> hnswlib.Index:
        index = hnswlib.Index(space=SPACE[build.metric], dim=vectors.shape[1])
        index.init_index(
            max_elements=len(vectors), M=build.M, ef_construction=build.ef_construction
        )
        index.add_items(vectors, np.arange(len(vectors)), num_threads=build.threads)
        return index

    def _empty(self, dim: int, build: HnswBuild, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space=SPACE[build.metric], dim=dim)
        # allow_replace_deleted: an insert may take the slot of a deleted element.
        index.init_index(
            max_elements=capacity,
            M=build.M,
            ef_construction=build.ef_construction,
            allow_replace_deleted=True,
        )
        return index

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_items(vectors, ids, num_threads=self.threads, replace_deleted=True)

    def _remove(self, ids: np.ndarray) -> None:
        for label in ids.tolist():  # hnswlib marks one element per call
            self.index.mark_deleted(label)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """The vector of an existing label replaced in place (and relinked). Not with
        replace_deleted=True: that moves the label into a deleted element's slot and leaves its
        old element searchable under the same label, which a later delete does not reach
        (measured: deleted rows returned from the second round on)."""
        self.index.add_items(vectors, ids, num_threads=self.threads, replace_deleted=False)

    def compact(self) -> str:
        """hnswlib has no compaction: deleted elements stay marked until an insert reuses them."""
        return ""

    def _save(self, index: hnswlib.Index, path: Path) -> None:
        index.save_index(str(path))

    def _load(self, path: Path, metric: str, dim: int) -> hnswlib.Index:
        index = hnswlib.Index(space=SPACE[metric], dim=dim)
        index.load_index(str(path))
        return index

    def _set_ef(self, ef: int) -> None:
        self.index.set_ef(ef)

    def _search(self, vector: np.ndarray, count: int) -> Result:
        ids, dist = self.index.knn_query(vector, k=count, num_threads=1)
        return ids[0], dist[0]

    def _prepare_filter(self, keep: dict[object, np.ndarray]) -> None:
        # A list lookup per value (a Python bool per id) is the cheapest callable hnswlib can call.
        self._allowed = {v: mask.tolist().__getitem__ for v, mask in keep.items()}

    def _search_pre(self, vector: np.ndarray, count: int, value: object) -> Result:
        # knn_query raises when fewer than count ids pass the filter and are reached; what it
        # found is lost. Counted (failed_queries) and answered with no rows, as a user gets.
        try:
            ids, dist = self.index.knn_query(
                vector, k=count, num_threads=1, filter=self._allowed[value]
            )
        except RuntimeError:
            self.failed_queries.add(vector.tobytes())
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return ids[0], dist[0]

    def _batch(self, vectors: np.ndarray, count: int) -> np.ndarray:
        ids, _ = self.index.knn_query(vectors, k=count, num_threads=self.threads)
        return ids.astype(np.int64)

    def describe(self) -> dict[str, str]:
        i = self.index
        if i is None:
            return {}
        return {
            "hnswlib.M": str(i.M),
            "hnswlib.ef_construction": str(i.ef_construction),
            "hnswlib.ef": str(i.ef),
        }

    def index_info(self) -> dict[str, float]:
        return {**super().index_info(), "index_count": float(self.index.get_current_count())}
