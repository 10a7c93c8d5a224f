"""The children of the crash test (workload/crash.py): `apply JOB` applies the round to the copy,
writing a marker after each commit; `check JOB OUT` reopens the copy and checks it."""

import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from vssbench import faults
from vssbench.data.groundtruth import exact_topk
from vssbench.engines.params import HEADLINE_EF, QuerySettings
from vssbench.engines.registry import engine_class
from vssbench.workload.crash import OPENED, CrashJob


def _open(job: CrashJob) -> object:
    eng = engine_class(job.engine)(job.threads, job.options)
    eng.reopen(job.path, job.corpus, job.metric, job.dim)
    return eng


def _mark(fd: int, name: str) -> None:
    os.write(fd, f"{name} {time.monotonic():.6f}\n".encode())


def apply(job: CrashJob) -> None:
    fd = os.open(job.markers, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    eng = _open(job)
    _mark(fd, OPENED)
    eng.delete(job.delete)
    _mark(fd, "delete")
    eng.update(job.update, job.update_vectors)
    _mark(fd, "update")
    eng.insert(job.insert, job.insert_vectors)
    _mark(fd, "insert")
    eng.checkpoint()
    _mark(fd, "checkpoint")
    eng.close()


def expected_states(job: CrashJob) -> list[set[int]]:
    """The live ids after none, one, two and all three of the round's changes."""
    live = set(job.live_before.tolist())
    after_delete = live - set(job.delete.tolist())
    return [live, after_delete, after_delete, after_delete | set(job.insert.tolist())]


def check(job: CrashJob) -> dict:
    """Whether the copy opens (and how long its WAL replay took), whether its rows are a state
    the round passes through, and whether its index agrees with its rows."""
    t = time.perf_counter()
    try:
        eng = _open(job)
    except Exception as error:
        _unless_no_space(error)
        return {"opened": False, "outcome": f"open failed: {str(error).splitlines()[0][:300]}"}
    out = {"opened": True, "open_s": time.perf_counter() - t}
    stage = "reading its rows"
    try:
        rows = eng.con.execute("SELECT id, vec FROM docs ORDER BY id").fetchnumpy()
        ids = np.asarray(rows["id"], np.int64)
        vectors = np.stack(rows["vec"]).astype(np.float32) if len(ids) else np.zeros((0, job.dim))
        found = set(ids.tolist())
        agree = any(found == s for s in expected_states(job))
        out.update({"rows": float(len(ids)), "rows_agree": agree})
        stage = "querying its index"
        out.update(_index_agreement(eng, job, ids, vectors, found))
    except Exception as error:
        _unless_no_space(error)
        out["outcome"] = f"failed {stage}: {str(error).splitlines()[0][:300]}"
        return out
    finally:
        eng.close()
    problems = [
        *(["rows are no state the round passes through"] if not out["rows_agree"] else []),
        *(
            [f"{out['returned_not_in_table']:.0f} returned rows not in the table"]
            if out["returned_not_in_table"]
            else []
        ),
        *(
            [f"{out['not_findable']:.0f} of {out['checked']:.0f} nearest rows not findable"]
            if out["not_findable"]
            else []
        ),
    ]
    out["outcome"] = "; ".join(problems) or "ok"
    return out


def _unless_no_space(error: Exception) -> None:
    """A full disk (a WAL replay checkpoints) is no recovery outcome: raised, it ends the child
    in faults.child_main and the run in its one line."""
    if faults.no_space(error) is not None:
        raise error


def _index_agreement(
    eng: object, job: CrashJob, ids: np.ndarray, vectors: np.ndarray, found: set[int]
) -> dict[str, float]:
    """Through the index: rows returned that the table does not hold, and of the rows exact
    search finds for the check queries, those a search with their own vector does not return."""
    eng.set_query(QuerySettings(ef_search=HEADLINE_EF, limit=job.k))
    eng.explain(job.queries[0])  # fails unless the query uses the HNSW index
    nearest, _ = exact_topk(job.queries, vectors, job.k, job.metric)
    wanted = np.unique(nearest[nearest >= 0])
    returned = [eng.ids(eng.query(q)) for q in job.queries]
    foreign = sum(int(i) not in found for r in returned for i in r)
    missed = [int(ids[j]) for j in wanted if int(ids[j]) not in set(eng.ids(eng.query(vectors[j])))]
    return {
        "returned_not_in_table": float(foreign),
        "checked": float(len(wanted)),
        "not_findable": float(len(missed)),
        # Of those, rows the round updated (an UPDATE is a delete and an insert in the index).
        "not_findable_updated": float(np.isin(missed, job.update).sum()),
    }


def main(argv: list[str]) -> None:
    job = pickle.loads(Path(argv[1]).read_bytes())
    if argv[0] == "apply":
        apply(job)
    else:
        Path(argv[2]).write_bytes(pickle.dumps(check(job)))


if __name__ == "__main__":
    faults.child_main(lambda: main(sys.argv[1:]))
