"""Annoy (Spotify): a forest of random-projection trees, built once and memory-mapped from its
file. Its query knob search_k (the candidates a query inspects) is hnsw.ef_search x
engine.n_trees, so ef = k is Annoy's own default and a list of ef values is a curve over
search_k on one build. hnsw.M and hnsw.ef_construction do not shape it."""

from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

from vssbench.engines.library import LibraryEngine, Result
from vssbench.engines.params import HEADLINE_EF, HnswBuild, effective_ef_search
from vssbench.engines.registry import AnnoyOptions
from vssbench.engines.seam import Unsupported

# Annoy's distances keep the order of vssbench's (which it recomputes itself): angular is
# sqrt(2 - 2 cos), euclidean the root of l2sq, dot the inner product, largest first.
METRIC = {"cosine": "angular", "l2sq": "euclidean", "ip": "dot"}
SEARCH_K_MAX = 2**31 - 1  # get_nns_by_vector takes search_k as a C int


class Annoy(LibraryEngine):
    name = "annoy"
    suffix = ".annoy"

    def __init__(self, threads: int, options: AnnoyOptions | None = None) -> None:
        super().__init__(threads)
        self.n_trees = (AnnoyOptions() if options is None else options).n_trees
        self.search_k = self._search_k_at(HEADLINE_EF)  # until set_query sets the point's

    def index_options(self) -> dict[str, object]:
        return {"n_trees": self.n_trees}

    def _build(self, vectors: np.ndarray, build: HnswBuild) -> AnnoyIndex:
        index = AnnoyIndex(vectors.shape[1], METRIC[build.metric])
        # Row by row as lists: Annoy reads a vector element by element, slow on a numpy row,
        # and the whole matrix as lists would take 8 times its memory in Python floats.
        for i, row in enumerate(vectors):
            index.add_item(i, row.tolist())
        index.build(self.n_trees, n_jobs=build.threads)
        return index

    def _save(self, index: AnnoyIndex, path: Path) -> None:
        index.save(str(path))

    def _load(self, path: Path, metric: str, dim: int) -> AnnoyIndex:
        index = AnnoyIndex(dim, METRIC[metric])
        index.load(str(path))  # memory-mapped, pages read as queries touch them: Annoy's way
        return index

    def _search_k_at(self, ef: int) -> int:
        return min(ef * self.n_trees, SEARCH_K_MAX)

    def _set_ef(self, ef: int) -> None:
        # The beam widened to the rows asked for, as the other engines search and the run
        # records (effective_ef_search): overfetch's 100 rows inspect 100 x n_trees candidates.
        self.search_k = self._search_k_at(effective_ef_search(ef, self.settings.rows_asked or 0))

    def _search(self, vector: np.ndarray, count: int) -> Result:
        # Fewer than count items when the inspected candidates hold fewer: a short result.
        ids, dist = self.index.get_nns_by_vector(
            vector.tolist(), count, search_k=self.search_k, include_distances=True
        )
        return np.asarray(ids, np.int64), np.asarray(dist, np.float32)

    def batch(self, vectors: np.ndarray) -> AbstractContextManager[str]:
        raise Unsupported("Annoy has no batch query: its Python API answers one vector per call")

    # client() is the engine itself: get_nns_by_vector releases the GIL around a search that
    # only reads the mapped file (annoymodule.cc, py_an_get_nns_by_vector; annoylib.h,
    # _get_all_nns is const), so threads search one index at once.

    def describe(self) -> dict[str, str]:
        if self.index is None:
            return {}
        return {
            "annoy.n_trees": str(self.n_trees),
            "annoy.search_k": str(self.search_k),
            "annoy.metric": METRIC[self._metric],
        }

    def index_info(self) -> dict[str, float]:
        return {
            **super().index_info(),
            "index_count": float(self.index.get_n_items()),
            # As Annoy's load finds the roots, scanning from the file's end for nodes with every
            # item below them: a tiny index can read back more (10 items in 5 trees: 9).
            "index_trees": float(self.index.get_n_trees()),
        }
