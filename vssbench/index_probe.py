"""`python -m vssbench.index_probe FILE METRIC DIM`: prints the RSS (MB) a fresh process gains by
opening an index file and answering one query, i.e. the memory the loaded index takes."""

import sys
from pathlib import Path

import numpy as np

from vssbench.engine import attach_index_file, connect
from vssbench.monitor import rss_mb
from vssbench.search import vector_query


def main() -> None:
    path, metric, dim = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    con = connect(threads=1, late_materialization_max_rows=0)
    before = rss_mb()
    attach_index_file(con, path)
    # The index is read from the file when a query first uses it.
    sql = vector_query(metric, dim, "none").sql
    con.execute(sql, [np.ones(dim, np.float32), 1]).fetchall()
    print(f"{rss_mb() - before:.1f}")


if __name__ == "__main__":
    main()
