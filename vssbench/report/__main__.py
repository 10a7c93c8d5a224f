"""Cross-run report: the runs of an experiment as figures, tables and computed findings.

    uv run python -m vssbench.report [--experiment vssbench] [--tracking-uri URI] [--out DIR]
                                     [--all-versions] [key=value ...]

key=value filters select runs by a configuration column (scale, dim, engine, search, filter,
strategy, M, ef_construction, ef_search, metric, tokenizer, fusion, k), e.g.
`scale=100k engine=usearch`.
Writes report.html (figures embedded), the PNGs and summary.md into --out, and logs them as
artifacts of a `report-...` run in the same experiment.
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

import mlflow

from vssbench import faults
from vssbench.report import lifecycle
from vssbench.report.load import ReportError, load_curves, load_runs
from vssbench.report.render import write_report
from vssbench.report.summary import attach_curves, summarize
from vssbench.track import preflight, store


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vssbench.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--experiment", default="vssbench")
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db",
    )
    parser.add_argument("--out", type=Path, default=Path("report"))
    parser.add_argument(
        "--all-versions", action="store_true", help="include older benchmark versions"
    )
    parser.add_argument("filters", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    bad = [f for f in args.filters if "=" not in f]
    if bad:
        parser.error(f"filters are key=value, got {bad}")
    return args


def _log_report_run(experiment: str, filters: list[str], n_runs: int, files: list[Path]) -> str:
    """The written files as artifacts of a new `report-...` run; returns its name."""
    experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    name = f"report-{datetime.now():%Y%m%d-%H%M%S}"
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags={"kind": "report"}):
        mlflow.log_params({"filters": " ".join(filters) or "none", "runs": n_runs})
        for path in files:
            mlflow.log_artifact(str(path))
    return name


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        _report(args)
    except ReportError as error:
        raise SystemExit(f"vssbench.report: {error}") from None
    except Exception as error:
        raise SystemExit(faults.one_line(error, {"--out": args.out}, Path.cwd())) from None


def _report(args: argparse.Namespace) -> None:
    preflight.check_writable(f"--out {args.out}", args.out)  # before the runs are read
    location = store.StoreLocation(experiment=args.experiment, dir="mlruns", uri=args.tracking_uri)
    store.bound_requests(location)
    mlflow.set_tracking_uri(store.tracking_uri(location))
    filters = dict(f.split("=", 1) for f in args.filters)
    runs, left_out = load_runs(args.experiment, filters, args.all_versions)
    # Churn and restart runs measure another life of the index: a part of their own.
    static = runs[runs["workload"] == "static"]
    life = lifecycle.load(runs[runs["workload"] != "static"])
    summary = attach_curves(summarize(static), static, load_curves(static)) if len(static) else None
    title = f"vssbench report: {args.experiment}" + (
        f" ({' '.join(args.filters)})" if filters else ""
    )
    files = write_report(summary, static, left_out, args.out, title, life)
    name = _log_report_run(args.experiment, args.filters, len(runs), list(files.values()))
    print(f"report of {len(runs)} runs written to {args.out}/ and logged as MLflow run {name}")


if __name__ == "__main__":
    main()
