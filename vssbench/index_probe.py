"""`python -m vssbench.index_probe ENGINE FILE METRIC DIM`: prints the RSS (MB) a fresh process
gains by opening an engine's index file and answering one query, i.e. the memory the loaded
index takes."""

import sys
from pathlib import Path

import numpy as np

from vssbench.engines.params import QuerySettings
from vssbench.engines.registry import engine_class
from vssbench.monitor import rss_mb


def main() -> None:
    name, path, metric, dim = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    eng = engine_class(name)(threads=1)
    before = rss_mb()
    # The index is read from the file when a query first uses it.
    eng.attach(path, metric, dim)
    eng.set_query(QuerySettings(ef_search=64, limit=1))
    eng.query(np.ones(dim, np.float32))
    print(f"{rss_mb() - before:.1f}")


if __name__ == "__main__":
    main()
