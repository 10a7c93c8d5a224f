"""What identifies a run: its fingerprint (the finished-run lookup), its name and its flat params."""

import hashlib
import json
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vssbench.config import dataset
from vssbench.config.schema import RUN_CONTROL_KEYS, Config, DatasetConfig, DatasetKind
from vssbench.engines.registry import ENGINES, release

# Bump when a change to the benchmark makes its numbers incomparable with earlier runs: every
# finished run is then measured again (and LEAVES below becomes the new version's leaves).
# 4: qps and the latencies are estimates over trials and passes, no longer the best pass, and
# every run measures an ef curve (hnsw.ef_curve).
# 5: every timing runs in fresh worker processes (the first trial no longer in the run's own
# process, beside its tracking threads), in as many trials as bench.precision asks for.
BENCH_VERSION = "5"

# The settings every configuration had at bench_version 5, all hashed into the fingerprints of
# the runs finished since. A setting added later is hashed only when set away from its schema
# default, so adding one does not make every finished run look new.
LEAVES = frozenset(
    {
        *("bench.batch", "bench.clients", "bench.max_other_cpu_share", "bench.repeats"),
        *("dim", "k", "seed"),
        *("engine.late_materialization_max_rows", "engine.n_trees", "engine.name"),
        *("engine.num_partitions", "engine.reuse_index", "engine.threads"),
        *("filter.name", "filter.overfetch_factor", "filter.selectivity", "filter.strategy"),
        *("hnsw.M", "hnsw.ef_construction", "hnsw.ef_curve", "hnsw.ef_search", "hnsw.metric"),
        *("queries.entity", "queries.keyword", "queries.paraphrase", "queries.warmup"),
        *("scale.n_docs", "scale.n_queries", "scale.name"),
        *("search.alpha", "search.bm25", "search.candidates", "search.fusion"),
        *("search.min_bm25_hit_rate", "search.name", "search.rrf_k", "search.tokenizer"),
        *("workload.delete", "workload.initial", "workload.insert", "workload.kills"),
        *("workload.name", "workload.restarts", "workload.rounds", "workload.update"),
    }
)


def canonical(settings: dict, defaults: dict, prefix: str = "") -> dict:
    """`settings` without the leaves added since LEAVES that equal their default."""
    out = {}
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            inner = canonical(value, defaults.get(key, {}), path + ".")
            # A section added since LEAVES, all at its defaults, is not there either.
            if inner or any(leaf.startswith(path + ".") for leaf in LEAVES):
                out[key] = inner
        elif path in LEAVES or key not in defaults or value != defaults[key]:
            out[key] = value
    return out


def schema_defaults() -> dict:
    return OmegaConf.to_container(OmegaConf.structured(Config), enum_to_str=True)


def measured_settings(cfg: DictConfig) -> dict:
    """The resolved settings that affect results, the dataset's aside (it is known by content)."""
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    for key in (*NOT_IN_FINGERPRINT, "dataset", "embed"):
        data.pop(key, None)
    for key in EFFORT_KEYS:
        data["bench"].pop(key)
    return data


def fingerprint(cfg: DictConfig) -> str:
    """Hash of the resolved configuration that affects results, plus the benchmark version."""
    data = canonical(measured_settings(cfg), schema_defaults())
    # The data by what it is: a file's content hash, not its path; a file sets its own size.
    data["dataset"] = dataset.identity(cfg.dataset)
    if (model := dataset.embed_identity(cfg)) is not None:  # the model by content, not path
        data["embed"] = model
    if cfg.dataset.name != DatasetKind.synthetic_ko:
        data.pop("scale", None)
    # A peer measured with another release of its library is another measurement (usearch 2.26
    # is not the 2.12 inside vss); DuckDB's own engines are pinned with the project.
    if (library := release(cfg.engine.name.value)) is not None:
        data["engine_release"] = library
    data["bench_version"] = BENCH_VERSION
    return digest(data)


def digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]


def run_name(cfg: DictConfig) -> str:
    """E.g. duckdb_vss-100k-d512-vector-category-post-cosine-M16-efc128-ef64 or
    usearch-10k-d256-hybrid-kiwi-match_bm25-convex-...: sorts and groups by engine in the UI."""
    parts = [cfg.engine.name.value, cfg.scale.name, f"d{cfg.dim}", cfg.search.name.value]
    noise = cfg.dataset.noise
    if (model := dataset.embedder(cfg)) is not None:  # vectors from the user's model
        parts.insert(2, re.sub(r"[^A-Za-z0-9_.]+", "_", Path(model.name).name)[:40])
    elif cfg.dataset.name == DatasetKind.synthetic_ko and noise != DatasetConfig().noise:
        parts.insert(2, f"noise{noise:g}")  # other data than the default's
    if cfg.search.name.value == "hybrid":
        # The BM25 half: DuckDB's as search.bm25 writes it, or the engine's own full-text index.
        own = ENGINES[cfg.engine.name.value].native_hybrid
        bm25 = f"{cfg.engine.name.value}_fts" if own else cfg.search.bm25.value
        parts += [cfg.search.tokenizer.value, bm25, cfg.search.fusion.value]
    parts.append(cfg.filter.name.value)
    if cfg.filter.name.value == "attribute":
        parts[-1] += f"{cfg.filter.selectivity:g}"
    if cfg.filter.strategy.value != "none":
        parts.append(cfg.filter.strategy.value)
    h = cfg.hnsw
    ef = h.ef_search if isinstance(h.ef_search, int) else f"{min(h.ef_search)}-{max(h.ef_search)}"
    parts += [h.metric.value, f"M{h.M}", f"efc{h.ef_construction}", f"ef{ef}"]
    if cfg.workload.name.value != "static":  # what happened to the index, last
        parts.append(cfg.workload.name.value)
    return "-".join(parts)


def flat_params(cfg: DictConfig) -> dict[str, str]:
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    data.pop("tracking", None)
    out: dict[str, str] = {}

    def walk(prefix: str, node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            out[prefix] = str(node)

    walk("", data)
    return out


# Keys that do not change what a run measures; everything else goes into the run's fingerprint.
NOT_IN_FINGERPRINT = (*RUN_CONTROL_KEYS, "hpo")
# How hard a run tries (for undisturbed timings, for a narrow interval), not what it times: a run
# finished under any of these settings is the same measurement.
EFFORT_KEYS = ("retries", "retry_pause_s", "trials", "precision", "max_trials", "max_timing_s")
