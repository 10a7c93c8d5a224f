"""Capacity planner: how build time, index memory, file size, peak RSS and QPS at a recall
target grow with the number of documents, fitted on a store's finished runs as a power law
y = a * n^b, and predicted with an interval for the sizes you ask.

    uv run python -m vssbench.capacity [--n 10m,100m] [--dim 128] [--engine duckdb_vss]
                                       [--M 16] [--ef-construction 128] [--recall 0.95]
                                       [--pool-dims]
                                       [--holdout N,... | --fit-sizes N,N,...]
                                       [--experiment vssbench] [--tracking-uri URI]
                                       [key=value ...]

Sizes are plain counts or with a suffix: 4000, 250k, 10m, 1e6. --holdout N,... fits without
the runs of those sizes, --fit-sizes N,N,... on those sizes alone; either prints the prediction
beside the measured values of every size left out. key=value filters keep runs as the report's
do (e.g. host=node-a). A dim without runs is fitted jointly as a * n^b * dim^c over the dims
measured, when there are two or more (--pool-dims fits that way always); with one, the
planner refuses.

Exit status: 0, or 2 on an error.
"""

import argparse
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import mlflow

from vssbench import faults
from vssbench.capacity import load, observations, output, plan
from vssbench.config.schema import Config, EngineChoice, HnswConfig, TrackingConfig
from vssbench.engines.registry import ENGINES
from vssbench.measure.definitions import RECALL
from vssbench.report.load import ReportError
from vssbench.track import store

SUFFIXES = {"k": 10**3, "m": 10**6, "b": 10**9}


def parse_count(text: str) -> int:
    """A number of documents: 4000, 250k, 10m, 1.5m, 1e6; a ValueError for anything else."""
    digits = text.strip().lower()
    scale = SUFFIXES.get(digits[-1:], 1)
    if digits[-1:] in SUFFIXES:
        digits = digits[:-1]
    try:
        value = Decimal(digits) * scale
    except InvalidOperation:
        raise ValueError(
            f"not a number of documents: {text!r} (e.g. 4000, 250k, 10m, 1e6)"
        ) from None
    if not value.is_finite() or value < 1 or value != value.to_integral_value():
        raise ValueError(f"not a whole positive number of documents: {text!r}")
    return int(value)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vssbench.capacity",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tracking = TrackingConfig()
    parser.add_argument("--n", default="", help="sizes to predict, comma-separated: 1m,10m")
    default = " (default: %(default)s)"
    parser.add_argument("--dim", type=int, default=Config().dim, help="dim to predict" + default)
    parser.add_argument("--engine", default=EngineChoice().name.value, help="engine" + default)
    parser.add_argument("--M", type=int, default=HnswConfig().M, help="hnsw.M" + default)
    parser.add_argument(
        "--ef-construction",
        type=int,
        default=HnswConfig().ef_construction,
        help="hnsw.ef_construction" + default,
    )
    parser.add_argument("--recall", type=float, default=0.95, help="QPS's recall@k" + default)
    parser.add_argument(
        "--pool-dims",
        action="store_true",
        help="fit a * n^b * dim^c over every dim measured, even where --dim has runs: two "
        "sizes at several dims then give an interval",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--holdout", metavar="N,...", help="fit without the runs of these sizes: 250k"
    )
    group.add_argument("--fit-sizes", metavar="N,N,...", help="fit on these sizes alone")
    parser.add_argument("--experiment", default=tracking.experiment, help="experiment" + default)
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help=f"default: MLFLOW_TRACKING_URI, else sqlite:///{tracking.dir}/mlflow.db",
    )
    parser.add_argument("filters", nargs="*", metavar="key=value")
    return parser.parse_args(argv)


def _error(message: str) -> None:
    print(f"vssbench.capacity: {message}", file=sys.stderr)
    raise SystemExit(2)


def _counts(text: str | None, option: str) -> list[int]:
    try:
        return [parse_count(part) for part in (text or "").split(",") if part.strip()]
    except ValueError as error:
        _error(f"{option}: {error}")


def _checked(args: argparse.Namespace) -> argparse.Namespace:
    """The options turned into values, or a one-line error before any run is read."""
    if args.engine not in ENGINES:
        _error(f"unknown engine {args.engine!r}; engines: {', '.join(ENGINES)}")
    if not 0 < args.recall <= 1:
        _error(f"--recall is a recall@k target in (0, 1], got {args.recall:g}")
    bad = [f for f in args.filters if "=" not in f]
    if bad:
        _error(f"filters are key=value, got {' '.join(bad)}")
    return argparse.Namespace(
        **vars(args),
        sizes=_counts(args.n, "--n"),
        left_out=_counts(args.holdout, "--holdout"),
        only=_counts(args.fit_sizes, "--fit-sizes"),
    )


def _store(uri_option: str | None) -> str:
    try:
        return store.existing_uri(uri_option, TrackingConfig().dir)
    except store.TrackingError as error:
        _error(str(error))


def _plan(args: argparse.Namespace, uri: str) -> str:
    """Read the runs, fit, predict: the text to print."""
    family = f"{args.engine} M {args.M} ef_construction {args.ef_construction}"
    filters = dict(f.split("=", 1) for f in args.filters)
    runs = observations.family(
        load.runs(args.experiment, filters), args.engine, args.M, args.ef_construction
    )
    dims = sorted(runs["dim"].unique().tolist())
    kind = plan.variables(dims, args.dim, family, args.pool_dims)
    chosen = load.with_file_size(
        runs if kind == plan.ACROSS_DIMS else runs[runs["dim"] == args.dim]
    )
    obs = observations.observations(chosen, load.curves(chosen), args.recall)
    present = sorted(obs["n"].unique().tolist())
    fitted = plan.fit_sizes(present, args.left_out, args.only)
    checked = sorted(set(obs.loc[obs["dim"] == args.dim, "n"]) - set(fitted))
    wanted = observations.quantities(args.recall)
    rows = plan.rows(obs, wanted, args.dim, kind, fitted, sorted({*args.sizes, *checked}))
    k = int(runs["k"].iloc[0])
    scope = output.Scope(
        family=family,
        dim=args.dim,
        kind=kind,
        dims=sorted(obs.loc[obs["n"].isin(fitted), "dim"].unique().tolist()),
        fitted=fitted,
        checked=checked,
        recall=f"{wanted[-1].name} ({RECALL.label.format(k=k)})",
        source=f"experiment {args.experiment!r} at {uri}",
    )
    return output.text(scope, rows)


def main(argv: list[str] | None = None) -> None:
    args = _checked(_parse(sys.argv[1:] if argv is None else argv))
    uri = _store(args.tracking_uri)
    mlflow.set_tracking_uri(uri)
    try:
        print(_plan(args, uri))
    except (ReportError, observations.CapacityError) as error:
        _error(str(error))
    except Exception as error:
        raise SystemExit(faults.one_line(error, {}, Path.cwd())) from None


if __name__ == "__main__":
    main()
