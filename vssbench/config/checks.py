"""Checks of a composed configuration that its types cannot express: ranges, combinations, what
the chosen engine runs; a ConfigError naming the first bad key, before any work."""

import os
import re
from dataclasses import fields
from urllib.parse import urlparse

from omegaconf import DictConfig, ListConfig

from vssbench.config.schema import (
    Config,
    DatasetKind,
    EmbedKind,
    FilterKind,
    FilterStrategy,
    SearchKind,
)
from vssbench.data.sources import SOURCES
from vssbench.engines.registry import (
    ENGINES,
    OPTION_FIELDS,
    MissingEngine,
    check_installed,
    option_owners,
)


class ConfigError(ValueError):
    """A configuration value out of range; the message names the key."""

    kind = "bad configuration"  # how the one-line message before it calls the problem


def _check(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value}: {why}")


# Names that end up in run names, file names and the report's HTML.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


def _unknown_keys(cfg: DictConfig, schema: object, prefix: str = "") -> list[str]:
    """Keys the schema does not have, e.g. a typo added with `+hnsw.m=32`."""
    out = []
    for key in cfg:
        path = f"{prefix}{key}"
        if not hasattr(schema, str(key)):
            out.append(path)
        elif isinstance(cfg[key], DictConfig):
            out += _unknown_keys(cfg[key], getattr(schema, str(key)), path + ".")
    return out


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first bad key, before any work is done."""
    if unknown := _unknown_keys(cfg, Config()):
        raise ConfigError(f"{unknown[0]}: is not a setting (a typo?)")
    _check_names(cfg)
    _check_tracking(cfg.tracking)
    _check_data(cfg)
    _check_hpo(cfg.hpo)
    _check_sizes(cfg)
    _check_hnsw(cfg.hnsw)
    _check_bench(cfg.bench, cfg.engine)
    _check_engine(cfg.engine)
    _check_queries(cfg.queries, cfg.scale.n_queries)
    _check_engine_runs(cfg)
    _check_filter(cfg.filter)
    _check_search(cfg.search, cfg.k, cfg.scale.n_docs)
    _check_workload(cfg)
    _check_embed(cfg)
    # Last, after everything the engine cannot run at all: installing it would not help there.
    try:
        check_installed(cfg.engine.name.value)
    except MissingEngine as missing:
        raise ConfigError(str(missing)) from None


def _check_names(cfg: DictConfig) -> None:
    for key, value in (
        ("scale.name", cfg.scale.name),
        ("tracking.experiment", cfg.tracking.experiment),
    ):
        _check(
            SAFE_NAME.fullmatch(str(value)) is not None,
            key,
            repr(value),
            "must be 1-64 letters, digits, '_', '.' or '-'",
        )


def _check_tracking(t: DictConfig) -> None:
    if t.uri:
        scheme = urlparse(str(t.uri)).scheme
        _check(
            scheme in TRACKING_SCHEMES,
            "tracking.uri",
            t.uri,
            f"must start with one of {', '.join(s + ':' for s in TRACKING_SCHEMES)}",
        )
    _check(t.heartbeat_s > 0, "tracking.heartbeat_s", t.heartbeat_s, "must be > 0")
    _check(
        t.stale_s >= 4 * t.heartbeat_s,
        "tracking.stale_s",
        t.stale_s,
        f"must be at least 4 heartbeats ({4 * t.heartbeat_s:g}): a live run must not pass for dead",
    )
    _check(t.settle_s >= 0, "tracking.settle_s", t.settle_s, "must be >= 0")
    _check(0 <= t.retries <= 10, "tracking.retries", t.retries, "must be 0-10 (MLflow's limit)")
    _check(t.request_timeout_s >= 1, "tracking.request_timeout_s", t.request_timeout_s, ">= 1")
    _check(
        t.system_metrics_interval_s >= 0,
        "tracking.system_metrics_interval_s",
        t.system_metrics_interval_s,
        "must be >= 0 (0 turns system metrics off)",
    )


def _check_data(cfg: DictConfig) -> None:
    """What the data is made from: the seed and the dataset's own settings."""
    _check(cfg.seed >= 0, "seed", cfg.seed, "must be >= 0")
    _check(
        0 <= cfg.dataset.noise <= 10, "dataset.noise", cfg.dataset.noise, "must be between 0 and 10"
    )


def _check_hpo(hpo: DictConfig) -> None:
    _check(0 <= hpo.min_recall <= 1, "hpo.min_recall", hpo.min_recall, "must be between 0 and 1")


def _check_sizes(cfg: DictConfig) -> None:
    """The corpus, the queries, the vectors and k fit together, and with what the filter keeps."""
    n_docs = cfg.scale.n_docs
    _check(n_docs >= 100, "scale.n_docs", n_docs, "must be at least 100")
    _check(
        1 <= cfg.scale.n_queries <= n_docs,
        "scale.n_queries",
        cfg.scale.n_queries,
        f"must be between 1 and scale.n_docs ({n_docs})",
    )
    _check(2 <= cfg.dim <= 4096, "dim", cfg.dim, "must be between 2 and 4096")
    _check(1 <= cfg.k <= n_docs, "k", cfg.k, f"must be between 1 and scale.n_docs ({n_docs})")
    selectivity = cfg.filter.selectivity
    _check(0 < selectivity <= 1, "filter.selectivity", selectivity, "must be in (0, 1]")
    if cfg.filter.name == FilterKind.attribute:
        kept = round(selectivity * n_docs)
        _check(
            cfg.k <= kept,
            "k",
            cfg.k,
            f"must be at most the {kept} documents filter.selectivity={selectivity} keeps",
        )
    # category and region keep about a tenth of the documents: k must fit into one value.
    elif cfg.filter.name != FilterKind.none:
        _check(
            cfg.k <= n_docs // 20,
            "k",
            cfg.k,
            f"with a filter must be at most {n_docs // 20} (5% of scale.n_docs)",
        )


def _check_hnsw(hnsw: DictConfig) -> None:
    _check(2 <= hnsw.M <= 512, "hnsw.M", hnsw.M, "must be between 2 and 512")
    _check(
        1 <= hnsw.ef_construction <= 4096,
        "hnsw.ef_construction",
        hnsw.ef_construction,
        "must be between 1 and 4096",
    )
    ef = hnsw.ef_search
    listed = [ef] if isinstance(ef, int) else list(ef) if isinstance(ef, ListConfig) else None
    _check(
        bool(listed) and all(isinstance(e, int) and 1 <= e <= 4096 for e in listed),
        "hnsw.ef_search",
        ef,
        "must be an int between 1 and 4096, or a list of them, e.g. [16,32,64,128]",
    )
    _check(
        all(isinstance(e, int) and 1 <= e <= 4096 for e in hnsw.ef_curve),
        "hnsw.ef_curve",
        list(hnsw.ef_curve),
        "must be a list of ints between 1 and 4096, e.g. [16,32,64,128], or []",
    )


def _check_bench(bench: DictConfig, engine: DictConfig) -> None:
    _check(1 <= bench.repeats <= 100, "bench.repeats", bench.repeats, "must be between 1 and 100")
    _check(2 <= bench.trials <= 100, "bench.trials", bench.trials, "must be between 2 and 100")
    _check(
        bench.trials <= bench.max_trials <= 1000,
        "bench.max_trials",
        bench.max_trials,
        f"must be between bench.trials ({bench.trials}) and 1000",
    )
    _check(
        bench.precision > 0,
        "bench.precision",
        bench.precision,
        "must be a share above 0, e.g. 0.05 for +-5%",
    )
    _check(
        bench.max_timing_s > 0, "bench.max_timing_s", bench.max_timing_s, "must be above 0 seconds"
    )
    _check(0 <= bench.retries <= 20, "bench.retries", bench.retries, "must be between 0 and 20")
    _check(
        0 <= bench.retry_pause_s <= 600,
        "bench.retry_pause_s",
        bench.retry_pause_s,
        "must be between 0 and 600 seconds",
    )
    _check(
        len(bench.clients) > 0 and all(1 <= c <= 64 for c in bench.clients),
        "bench.clients",
        list(bench.clients),
        "must be a list of client counts between 1 and 64, e.g. [1,2,4]",
    )
    _check(
        not ENGINES[engine.name.value].max_clients_is_threads
        or max(bench.clients) <= engine.threads,
        "bench.clients",
        list(bench.clients),
        f"at most engine.threads ({engine.threads}) clients: more concurrent searches than "
        "the index's build threads crash this vss build",
    )
    _check(
        0 < bench.max_other_cpu_share <= 1,
        "bench.max_other_cpu_share",
        bench.max_other_cpu_share,
        "must be in (0, 1]",
    )


def _check_engine(engine: DictConfig) -> None:
    """The threads, and every engine option (engines/registry.py): in its range, and left at its
    default unless the chosen engine has it."""
    cores = os.cpu_count() or 1
    _check(
        1 <= engine.threads <= cores,
        "engine.threads",
        engine.threads,
        f"must be between 1 and this machine's {cores} cores",
    )
    own = {option.name for option in fields(ENGINES[engine.name.value].options)}
    for name, option in OPTION_FIELDS.items():
        key, value = f"engine.{name}", engine[name]
        if "at_least" in option.metadata:
            _check(value >= option.metadata["at_least"], key, value, option.metadata["why"])
        _check(
            name in own or value == option.default,
            key,
            str(value).lower() if isinstance(value, bool) else value,  # as an override writes it
            f"applies to engine={' or '.join(option_owners(name))} only",
        )


def _check_queries(queries: DictConfig, n_queries: int) -> None:
    _check(
        0 <= queries.warmup <= n_queries,
        "queries.warmup",
        queries.warmup,
        f"must be between 0 and scale.n_queries ({n_queries}): warm-up reuses the queries",
    )
    shares = [queries.paraphrase, queries.entity, queries.keyword]
    _check(
        min(shares) >= 0 and sum(shares) > 0,
        "queries",
        shares,
        "query kind shares must be >= 0 with a positive sum",
    )


def _check_engine_runs(cfg: DictConfig) -> None:
    """The chosen engine runs the filter strategy, the metric and the search."""
    name = cfg.engine.name.value
    engine = ENGINES[name]
    strategy = cfg.filter.strategy.value
    if cfg.filter.name != FilterKind.none:
        _check(
            strategy in engine.strategies,
            "filter.strategy",
            strategy,
            f"engine={name} runs filter.strategy {' or '.join(engine.strategies)}",
        )
    metric = cfg.hnsw.metric.value
    _check(
        metric in engine.metrics,
        "hnsw.metric",
        metric,
        f"engine={name} computes hnsw.metric {' or '.join(engine.metrics)}",
    )
    if cfg.search.name == SearchKind.hybrid:
        _check(
            engine.full_text,
            "search",
            "hybrid",
            f"engine={name} has no full-text search; hybrid runs with "
            + ", ".join(n for n, e in ENGINES.items() if e.full_text),
        )


def _check_filter(filter_cfg: DictConfig) -> None:
    # With a filter, a strategy of none is refused above: no engine runs filter.strategy=none.
    if filter_cfg.name == FilterKind.none:
        _check(
            filter_cfg.strategy == FilterStrategy.none,
            "filter.strategy",
            filter_cfg.strategy.value,
            "needs filter=category, region or attribute (filter=none has no strategy)",
        )
    _check(
        filter_cfg.overfetch_factor >= 1,
        "filter.overfetch_factor",
        filter_cfg.overfetch_factor,
        "must be at least 1",
    )


def _check_search(search: DictConfig, k: int, n_docs: int) -> None:
    _check(search.rrf_k >= 1, "search.rrf_k", search.rrf_k, "must be at least 1")
    _check(0 <= search.alpha <= 1, "search.alpha", search.alpha, "must be between 0 and 1")
    if search.name == SearchKind.hybrid:  # a vector run never reads search.candidates
        _check(
            k <= search.candidates <= n_docs,
            "search.candidates",
            search.candidates,
            f"must be between k ({k}) and scale.n_docs ({n_docs})",
        )
    _check(
        0 <= search.min_bm25_hit_rate <= 1,
        "search.min_bm25_hit_rate",
        search.min_bm25_hit_rate,
        "must be between 0 and 1",
    )


def _check_embed(cfg: DictConfig) -> None:
    embed, dataset = cfg.embed, cfg.dataset.name.value
    _check(embed.batch_size >= 1, "embed.batch_size", embed.batch_size, "must be at least 1")
    threads = embed.threads
    _check(threads is None or threads >= 1, "embed.threads", threads, "must be at least 1")
    if embed.name != EmbedKind.model:
        _check(embed.model is None, "embed.model", embed.model, "applies to embed=model only")
    if embed.name == EmbedKind.synthetic:
        return
    if embed.name == EmbedKind.model:
        _check(
            bool(embed.model), "embed.model", embed.model, "needs a local model dir (embed=model)"
        )
    encodable = dataset == DatasetKind.synthetic_ko or SOURCES[dataset].encodable
    _check(
        encodable,
        "embed",
        embed.name.value,
        f"dataset={dataset} brings its own vectors; embed={embed.name.value} encodes the text of "
        + ", ".join(["synthetic_ko", *(n for n, s in SOURCES.items() if s.encodable)]),
    )


def _check_workload(cfg: DictConfig) -> None:
    """The workload's knobs in range and runnable by the chosen engine, search and filter."""
    w, name = cfg.workload, cfg.workload.name.value
    if name == "static":
        return
    engine = cfg.engine.name.value
    why = ENGINES[engine].cannot.get(name)
    _check(why is None, "workload", name, f"engine={engine} cannot run it: {why}")
    _check(
        cfg.search.name == SearchKind.vector,
        "search",
        cfg.search.name.value,
        f"workload={name} measures the vector index; search=hybrid runs with workload=static "
        "(DuckDB's FTS index is not updated by inserts)",
    )
    _check(
        cfg.filter.name == FilterKind.none,
        "filter",
        cfg.filter.name.value,
        f"workload={name} measures unfiltered queries; filters run with workload=static",
    )
    if name == "restart":
        _check(w.restarts >= 1, "workload.restarts", w.restarts, "must be at least 1")
        _check(
            cfg.engine.get("reuse_index", True),
            "engine.reuse_index",
            False,
            "workload=restart opens the cached index file; it needs engine.reuse_index=true",
        )
        return
    _check_churn(w, list(cfg.bench.clients), engine, cfg.engine.get("reuse_index", False))


def _check_churn(w: DictConfig, clients: list, engine: str, file_backed: bool) -> None:
    _check(0 < w.initial < 1, "workload.initial", w.initial, "must be between 0 and 1")
    _check(w.rounds >= 1, "workload.rounds", w.rounds, "must be at least 1")
    for key in ("insert", "delete", "update"):
        _check(0 <= w[key] < 1, f"workload.{key}", w[key], "must be at least 0 and below 1")
    inserted = w.initial + w.rounds * w.insert
    _check(
        inserted <= 1 + 1e-9,
        "workload.insert",
        w.insert,
        f"workload.initial + workload.rounds x workload.insert is {inserted:g}: more documents "
        "than the dataset has",
    )
    _check(w.kills >= 0, "workload.kills", w.kills, "must be 0 or more")
    if w.kills:
        _check(
            ENGINES[engine].crash_test and file_backed,
            "workload.kills",
            w.kills,
            "the crash test needs an index in a database file: "
            + ", ".join(n for n, e in ENGINES.items() if e.crash_test)
            + " with engine.reuse_index=true",
        )
    _check(
        clients == [1],
        "bench.clients",
        clients,
        "workload=churn times one client at the headline ef (its state lives in one process)",
    )
