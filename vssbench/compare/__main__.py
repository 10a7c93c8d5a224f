"""Compare two sets of stored runs, configuration by configuration: QPS and p99 as ratios, recall
as a paired difference, each with a 95% interval, a test and a verdict.

    uv run python -m vssbench.compare BASELINE CANDIDATE [--tracking-uri URI] [--out DIR]
                                      [--fail-above PCT] [--ignore KEY ...]
    uv run python -m vssbench.compare --run 'BASELINE OVERRIDES' 'CANDIDATE OVERRIDES'
                                      [COMMON OVERRIDES ...] [--trials N] [--out DIR]

Each side is an experiment's name, a sweep (its parent run's id or name), one run's id, or an
MLflow filter string over every experiment (e.g. "params.hnsw.M = '32'"). Runs are paired on
every configuration key except run control and the keys with one value on each side that
differ between the sides (those are what is compared); the output names them.
With --run, vssbench measures the two sides itself: BASELINE and CANDIDATE are override sets
(e.g. 'hnsw.ef_search=48' 'hnsw.ef_search=64' scale=100k dim=128), each side timed in --trials
fresh processes on its cached index, the sides alternating in time (A B, B A, ...) so that the
machine's drift falls on both; the comparison is logged in the configuration's experiment.

Exit status: 0, or 1 when --fail-above finds a regression beyond it, 2 on an error.
"""

import argparse
import os
import shlex
import sys
from datetime import datetime
from pathlib import Path

import mlflow
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from vssbench.compare import evidence, interleaved, output, pairing, sides, verdicts
from vssbench.config import paths
from vssbench.config.checks import ConfigError
from vssbench.config.plan import read_plan
from vssbench.config.schema import TrackingConfig
from vssbench.data.sources.files import DataFileError
from vssbench.run.plan import RunPlan
from vssbench.track import store

CONF = Path(__file__).resolve().parents[2] / "conf"

FAIL_ABOVE_HELP = (
    "exit 1 when a significant change for the worse exceeds PCT: QPS lower or p99 higher by "
    "more than PCT percent, or recall@k lower by more than PCT percentage points (recall 0.95 "
    "-> 0.93 is 2 points); significant means Holm-adjusted p < 0.05"
)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vssbench.compare",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    side = "an experiment, sweep, run id or MLflow filter"
    parser.add_argument("baseline", help=f"{side}; with --run, the baseline's overrides")
    parser.add_argument(
        "candidate",
        help=f"{side}; the comparison is logged in its experiment; with --run, its overrides",
    )
    parser.add_argument(
        "overrides", nargs="*", help="with --run: overrides both sides share (scale=100k ...)"
    )
    parser.add_argument(
        "--run", action="store_true", help="measure the two sides here, interleaved in time"
    )
    parser.add_argument(
        "--trials", type=int, default=5, help="with --run: trials per side (default 5)"
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("compare"),
        metavar="DIR",
        help="where compare.md and compare.html go (default: compare/)",
    )
    parser.add_argument(
        "--fail-above", type=float, default=None, metavar="PCT", help=FAIL_ABOVE_HELP
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="a configuration key not to pair on (repeatable), e.g. engine.threads",
    )
    args = parser.parse_args(argv)
    if args.overrides and not args.run:
        parser.error(f"overrides {args.overrides} are for --run; sides name stored runs")
    if args.run and args.trials < 2:
        parser.error(f"--trials must be at least 2 (an interval needs two), got {args.trials}")
    if args.fail_above is not None and args.fail_above < 0:
        parser.error(f"--fail-above is a percentage >= 0, got {args.fail_above:g}")
    unknown = [key for key in args.ignore if key not in sides.DEFAULTS]
    if unknown:
        parser.error(f"--ignore takes configuration keys, not {unknown}")
    return args


def _error(message: str) -> None:
    print(f"vssbench.compare: {message}", file=sys.stderr)
    raise SystemExit(2)


def _store(uri_option: str | None) -> str:
    try:
        return store.existing_uri(uri_option, TrackingConfig().dir)
    except store.TrackingError as error:
        _error(str(error))


def _log_run(
    experiment_id: str, args: argparse.Namespace, table: list, failed: list, files: list[Path]
) -> str:
    """The comparison as a `compare-...` run (tag kind=compare) in the candidate's experiment."""
    name = f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    tags = {
        "kind": "compare",
        "compare.baseline": args.baseline,
        "compare.candidate": args.candidate,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, tags=tags):
        mlflow.log_params(
            {
                "baseline": args.baseline[:500],
                "candidate": args.candidate[:500],
                "fail_above": "none" if args.fail_above is None else f"{args.fail_above:g}",
                "ignore": " ".join(args.ignore) or "none",
            }
        )
        mlflow.log_metrics(
            {
                "pairs": len({row.pair for row in table}),
                "significant_changes": sum(row.significant for row in table),
                "regressions": len(failed),
            }
        )
        for path in files:
            mlflow.log_artifact(str(path))
    return name


def _plan(overrides: list[str]) -> RunPlan:
    """A side's run plan, composed as `python -m vssbench` would compose it."""
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=overrides)
        return read_plan(paths.anchored(cfg, Path.cwd()))
    except (ConfigError, DataFileError, HydraException) as error:
        _error(f"{' '.join(overrides)}: {error}")


def _measured(args: argparse.Namespace) -> tuple[str, list, list[str], list[Path]]:
    """--run: both sides measured here; the experiment, the pairs, the intro, saved passes."""
    common = [*args.overrides]
    if args.tracking_uri:
        common.append(f"tracking.uri={args.tracking_uri}")
    plans = [_plan([*common, *shlex.split(side)]) for side in (args.baseline, args.candidate)]
    experiment_id = store.prepare(plans[1].tracking.location)
    measured = interleaved.measure(plans, args.trials)
    pairs = [(f"{args.baseline} vs {args.candidate}", measured[0].evidence, measured[1].evidence)]
    intro = [
        f"baseline: {args.baseline}",
        f"candidate: {args.candidate}",
        f"both: {' '.join(args.overrides) or 'the defaults'}",
        f"measured here: {args.trials} trials per side, each in a fresh process on the cached "
        "index, alternating in time (A B, B A, ...)",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    return experiment_id, pairs, intro, interleaved.save(measured, args.out)


def _stored(args: argparse.Namespace) -> tuple[str, list, list[str], list[Path]]:
    """Stored runs: the candidate's experiment, the pairs and the intro."""
    mlflow.set_tracking_uri(_store(args.tracking_uri))
    try:
        baseline, candidate = sides.resolve(args.baseline), sides.resolve(args.candidate)
        paired = pairing.pair(baseline.runs, candidate.runs, args.ignore)
    except (sides.SideError, pairing.PairingError) as error:
        _error(str(error))
    loaded = [
        (p.label, evidence.load(p.baseline), evidence.load(p.candidate)) for p in paired.pairs
    ]
    return candidate.experiment_id, loaded, output.intro(baseline, candidate, paired), []


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # MLflow draws a progress bar on stderr for every artifact it downloads.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    experiment_id, loaded, intro, saved = (_measured if args.run else _stored)(args)
    table = verdicts.rows(loaded)
    failed = verdicts.regressions(table, args.fail_above)
    notes = [*output.legend(table), *output.gate(failed, args.fail_above)]
    print(output.text(intro, table, notes))
    title = f"vssbench compare: {args.baseline} -> {args.candidate}"
    files = output.write(args.out, title, intro, table, notes)
    name = _log_run(experiment_id, args, table, failed, [*files, *saved])
    print(f"\nwritten to {args.out}/ and logged as MLflow run {name}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
