"""faiss: its HNSW index and its flat (exact) index; filters during the search through an
IDSelector in the search parameters."""

import logging
from pathlib import Path

# faiss' loader logs a failed import per instruction set it tries at INFO; this build
# dispatches by CPU inside one library (describe() logs faiss.compile_options).
logging.getLogger("faiss.loader").setLevel(logging.WARNING)

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from vssbench.engines.library import LibraryEngine, Result  # noqa: E402
from vssbench.engines.params import HnswBuild  # noqa: E402

# Cosine is inner product over unit vectors: faiss has no cosine metric.
FAISS_METRIC = {
    "l2sq": faiss.METRIC_L2,
    "cosine": faiss.METRIC_INNER_PRODUCT,
    "ip": faiss.METRIC_INNER_PRODUCT,
}


class _Faiss(LibraryEngine):
    suffix = ".faiss"
    pre_filter = "an IDSelectorBitmap in the search parameters"

    def _unit(self, vectors: np.ndarray) -> np.ndarray:
        if self._metric != "cosine":
            return vectors
        return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)

    def _new_index(self, dim: int, build: HnswBuild) -> faiss.Index:
        raise NotImplementedError

    def _build(self, vectors: np.ndarray, build: HnswBuild) -> faiss.Index:
        faiss.omp_set_num_threads(build.threads)
        index = self._new_index(vectors.shape[1], build)
        index.add(np.ascontiguousarray(self._unit(vectors), np.float32))
        return index

    def _save(self, index: faiss.Index, path: Path) -> None:
        faiss.write_index(index, str(path))

    def _load(self, path: Path, metric: str, dim: int) -> faiss.Index:
        self._metric = metric
        return faiss.read_index(str(path))

    def _params(self, selector: object = None) -> faiss.SearchParameters:
        return faiss.SearchParameters(sel=selector)

    def _set_ef(self, ef: int) -> None:
        self._ef = ef
        # One query is one thread; more only add OpenMP start-up to every call.
        faiss.omp_set_num_threads(1)
        self._plain = self._params()

    def _search(self, vector: np.ndarray, count: int) -> Result:
        dist, ids = self.index.search(self._unit(vector)[None, :], count, params=self._plain)
        keep = ids[0] >= 0
        return ids[0][keep], dist[0][keep]

    def _prepare_filter(self, keep: dict[object, np.ndarray]) -> None:
        self._selectors = {}
        for value, mask in keep.items():
            bits = np.packbits(mask, bitorder="little")
            # The selector points into bits: both are kept for the index's lifetime.
            self._selectors[value] = (
                bits,
                self._params(faiss.IDSelectorBitmap(len(bits) * 8, faiss.swig_ptr(bits))),
            )

    def _search_pre(self, vector: np.ndarray, count: int, value: object) -> Result:
        dist, ids = self.index.search(
            self._unit(vector)[None, :], count, params=self._selectors[value][1]
        )
        keep = ids[0] >= 0
        return ids[0][keep], dist[0][keep]

    def _batch(self, vectors: np.ndarray, count: int) -> np.ndarray:
        faiss.omp_set_num_threads(self.threads)
        try:
            _, ids = self.index.search(self._unit(vectors), count, params=self._plain)
        finally:
            faiss.omp_set_num_threads(1)
        return ids

    def index_info(self) -> dict[str, float]:
        return {**super().index_info(), "index_count": float(self.index.ntotal)}


class FaissHnsw(_Faiss):
    name = "faiss_hnsw"

    def _new_index(self, dim: int, build: HnswBuild) -> faiss.Index:
        index = faiss.IndexHNSWFlat(dim, build.M, FAISS_METRIC[build.metric])
        index.hnsw.efConstruction = build.ef_construction
        return index

    def _params(self, selector: object = None) -> faiss.SearchParameters:
        return faiss.SearchParametersHNSW(efSearch=self._ef, sel=selector)

    def describe(self) -> dict[str, str]:
        if self.index is None:
            return {}
        h = faiss.downcast_index(self.index).hnsw
        return {
            "faiss.compile_options": faiss.get_compile_options().strip(),
            "faiss.index": "IndexHNSWFlat",
            "faiss.M": str(h.nb_neighbors(1)),
            "faiss.efConstruction": str(h.efConstruction),
            "faiss.efSearch": str(getattr(self, "_ef", h.efSearch)),
        }


class FaissFlat(_Faiss):
    """Every vector compared: faiss' exact baseline (BLAS for batches)."""

    name = "faiss_flat"

    @property
    def uses_index(self) -> bool:
        return False

    def _new_index(self, dim: int, build: HnswBuild) -> faiss.Index:
        if FAISS_METRIC[build.metric] == faiss.METRIC_L2:
            return faiss.IndexFlatL2(dim)
        return faiss.IndexFlatIP(dim)

    def _empty(self, dim: int, build: HnswBuild, capacity: int) -> faiss.Index:
        # Ids of their own: a flat index alone numbers its vectors by position.
        return faiss.IndexIDMap2(self._new_index(dim, build))

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        unit = np.ascontiguousarray(self._unit(vectors), np.float32)
        self.index.add_with_ids(unit, np.asarray(ids, np.int64))

    def _remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(np.asarray(ids, np.int64))

    def query(self, vector: np.ndarray, value: object = None) -> Result:
        s = self.settings
        if s.column is None:
            return self._search(vector, s.limit)
        return self._search_pre(vector, s.limit, value)

    def describe(self) -> dict[str, str]:
        return {
            "faiss.compile_options": faiss.get_compile_options().strip(),
            "faiss.index": type(self.index).__name__ if self.index is not None else "",
        }
