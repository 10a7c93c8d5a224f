"""How long a sweep's jobs left will take: each job's cost expected from its overrides (a prior
in seconds on the project's VM), scaled to what this sweep's finished jobs took."""

from dataclasses import dataclass, replace
from statistics import mean

from vssbench.engines.registry import ENGINES

FINISHED = "finished"

# The prior: a job's seconds on the project's 2-core VM, as measured there (docs/results.md).
# A run's work besides its index build: duckdb_vss jobs of a nine-engine sweep on that VM
# (2026-12-05), data and index cached, took 9-11 s at 10k x 128 and 17-18 s at 10k x 512. Of
# that, timing 500 queries (an ef curve of 4 points, the batch) grows with dim and with the
# queries (scale.n_queries: 10,000 at 1m); set-up, plots and logging do not.
SETUP_S = 3.0
QUERY_S = 4.0  # per 500 queries, and QUERY_S_PER_DIM per dim
QUERY_S_PER_DIM = 0.021
# duckdb_vss's HNSW build at 100k x 128 (DuckDB's own cost: 31.2 s).
BUILD_S = 31.2
# Builds grew x14.9 (d128) and x15.0 (d512) from 10k to 100k documents: n^1.18 fits both, where
# n ln n gives x12.5 and n x10.
BUILD_EXPONENT = 1.18
# Builds grew x2.90 (10k) and x2.94 (100k) from d128 to d512: (dim + 72) fits both.
DIM_OFFSET = 72
# A hybrid run also times 1,550 hybrid queries per 500 (50 warm-up, 3 passes), whose BM25 half
# took 11.8 ms at 10k and 35.6 ms at 100k (p50, match_bm25): 9.2 ms + 0.26 ms per 1,000
# documents each.
HYBRID_S = 14.0  # per 500 queries, and HYBRID_S_PER_DOC per document
HYBRID_S_PER_DOC = 4.1e-4
# The first hybrid job on a corpus tokenizes it (kiwi: 13 s at 10k, 89 s at 100k, 250 s at 250k
# in the 48-run grid of 2026-12-05); the later ones read the tokens from the cache.
TOKENS_S_PER_DOC = 1.0e-3
# An engine's index-dependent work against duckdb_vss's build (peer engines at 100k x 128 and x
# 512): its build, paid by the first job with that index, or for the exact engines their scan of
# every row per timed query (duckdb_exact at 36 and 11 QPS), paid by every job. An engine not
# listed counts as duckdb_vss.
ENGINE_SHARE = {
    "duckdb_vss": 1.0,
    "usearch": 0.3,
    "hnswlib": 0.3,
    "faiss_hnsw": 0.3,
    "lancedb": 0.4,
    "annoy": 0.07,
    "faiss_flat": 0.2,
    "sqlite_vec": 1.4,
    "duckdb_exact": 1.4,
}


@dataclass(frozen=True)
class JobKey:
    """What a job's cost depends on; finished jobs with the same key predict each other."""

    n_docs: int
    n_queries: int
    dim: int
    search: str
    engine: str
    builds: bool = True  # the sweep's first job with its index; later ones reuse it from the cache
    tokenizes: bool = False  # the sweep's first hybrid job on its corpus and tokenizer


# Overrides that leave a job's index as it is (a key, or its part before the first dot); any
# other override may change it, so a job that differs in one counts as building its own index.
SAME_INDEX = ("search", "filter", "bench", "k", "queries", "hpo", "hnsw.ef_search", "hnsw.ef_curve")
# Overrides that leave a hybrid job's tokens as they are (search.tokenizer does not: job_keys
# keeps it).
SAME_TOKENS = ("filter", "bench", "k", "queries", "hpo", "dim", "hnsw", "search")


Ended = tuple[JobKey, str, float]  # an ended job: its key, its status and its measured seconds


def job_key(overrides: list[str], base: JobKey, scales: dict[str, tuple[int, int]]) -> JobKey:
    """A job's key from its overrides (`scale=100k dim=512 ...`); what they leave out is `base`'s
    (`scales`: each scale option's n_docs and n_queries)."""
    values = _values(overrides)
    n_docs, n_queries = scales.get(values.get("scale", ""), (base.n_docs, base.n_queries))
    dim = values.get("dim", "")
    return JobKey(
        n_docs=n_docs,
        n_queries=n_queries,
        dim=int(dim) if dim.isdigit() else base.dim,
        search=values.get("search", base.search),
        engine=values.get("engine", base.engine),
    )


def job_keys(
    planned: list[list[str]], base: JobKey, scales: dict[str, tuple[int, int]]
) -> list[JobKey]:
    """The planned jobs' keys, in launch order: only the first job with an index builds it, and
    only the first hybrid job on a corpus tokenizes it; the jobs after them find both cached."""
    indexes: set[frozenset] = set()
    corpora: set[frozenset] = set()
    keys = []
    for overrides in planned:
        key = job_key(overrides, base, scales)
        values = _values(overrides)
        index = _kept(values, SAME_INDEX)
        tokens = _kept(values, SAME_TOKENS) | {("search.tokenizer", values.get("search.tokenizer"))}
        hybrid = key.search == "hybrid"
        keys.append(
            replace(key, builds=index not in indexes, tokenizes=hybrid and tokens not in corpora)
        )
        indexes.add(index)
        if hybrid:
            corpora.add(tokens)
    return keys


def _values(overrides: list[str]) -> dict[str, str]:
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def _kept(values: dict[str, str], same: tuple[str, ...]) -> frozenset:
    """The overrides not named in `same` (by key or by the part before its first dot)."""
    return frozenset(
        (k, v) for k, v in values.items() if k not in same and k.split(".")[0] not in same
    )


def prior_s(key: JobKey) -> float:
    """Seconds the job is expected to take on the project's VM, before anything is measured."""
    scans = ENGINES[key.engine].exact if key.engine in ENGINES else False
    build = (
        BUILD_S
        * (key.n_docs / 100_000) ** BUILD_EXPONENT
        * (key.dim + DIM_OFFSET)
        / (128 + DIM_OFFSET)
    )
    if not (key.builds or scans):
        build = 0.0
    queries = QUERY_S + QUERY_S_PER_DIM * key.dim
    tokens = TOKENS_S_PER_DOC * key.n_docs if key.tokenizes else 0.0
    if key.search == "hybrid":
        queries += HYBRID_S + HYBRID_S_PER_DOC * key.n_docs
    share = ENGINE_SHARE.get(key.engine, 1.0)
    return SETUP_S + tokens + key.n_queries / 500 * queries + share * build


def left_s(ended: list[Ended], left: list[JobKey], workers: int = 1) -> float:
    """Seconds the jobs `left` will take, `workers` at a time: each one the mean of the finished
    jobs with its key, else its prior times the rate fitted on the finished jobs (1 before any
    finished). Skipped and failed jobs say nothing of a full job's cost; a job left may yet be
    skipped, which cannot be known, so it counts in full."""
    timed: dict[JobKey, list[float]] = {}
    for key, status, seconds in ended:
        if status == FINISHED:
            timed.setdefault(key, []).append(seconds)
    rate = _rate([(prior_s(key), s) for key, times in timed.items() for s in times])
    total = sum(mean(timed[key]) if key in timed else rate * prior_s(key) for key in left)
    return total / max(min(workers, len(left)), 1)


def _rate(pairs: list[tuple[float, float]]) -> float:
    """Measured over expected seconds, least squares through 0 over (prior, measured) pairs: it
    weighs the larger jobs, which the jobs left mostly are, above the many small ones."""
    if not pairs:
        return 1.0
    return sum(p * m for p, m in pairs) / sum(p * p for p, _ in pairs)


def even_spread_s(elapsed_s: float, n_ended: int, n_left: int) -> float:
    """The wall time so far spread evenly over the jobs that ended, for the jobs left."""
    return elapsed_s / n_ended * n_left if n_ended else 0.0


def workers(n_jobs: int | None, cpus: int) -> int:
    """Jobs run at once under a launcher's n_jobs (joblib: -1 is one per core, -2 all but one);
    a launcher without it (Ray, submitit) counts as one, not knowing its cluster."""
    if not n_jobs:
        return 1
    return n_jobs if n_jobs > 0 else max(cpus + 1 + n_jobs, 1)
