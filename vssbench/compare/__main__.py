"""Compare two sets of stored runs, configuration by configuration: QPS and p99 as ratios, recall
as a paired difference, each with a 95% interval, a test and a verdict, or "undecided" where
the evidence reaches none.

    uv run python -m vssbench.compare BASELINE CANDIDATE [--tracking-uri URI] [--out DIR]
                                      [--precision PCT] [--fail-above PCT] [--ignore KEY ...]
    uv run python -m vssbench.compare --run 'BASELINE OVERRIDES' 'CANDIDATE OVERRIDES'
                                      [COMMON OVERRIDES ...] [--trials N] [--max-pairs N]
                                      [--budget-s S] [--precision PCT] [--out DIR]

Each side is an experiment's name, a sweep (its parent run's id or name), one run's id, or an
MLflow filter string over every experiment (e.g. "params.hnsw.M = '32'"). Runs are paired on
every configuration key except run control and the keys with one value on each side that
differ between the sides (those are what is compared); the output names them. Stored runs are
compared with an unpaired test (Welch's t on the logs of their trials).
With --run, vssbench measures the two sides itself: BASELINE and CANDIDATE are override sets
(e.g. 'hnsw.ef_search=48' 'hnsw.ef_search=64' scale=100k dim=128), timed in pairs of trials,
each a fresh process on the cached index, the two of a pair next to each other in time (A B,
B A, ...) so that the machine's drift falls on both; it adds pairs until the QPS ratio's 95%
interval is within ±--precision, --max-pairs or --budget-s, and tests each pair's ratio (a
paired t-test); the comparison is logged in the configuration's experiment.

A verdict (faster, slower, higher or lower recall) needs a significant test; "no significant
difference" needs, beside no significant test, an interval within ±--precision; otherwise the
row says "undecided: ±x% after n".

Exit status: 0; with --fail-above, 0 only when no measure got significantly worse beyond it and
every measure it gates on (qps, p99, batch_qps, recall) was compared and decided. 1 when a
regression exceeds --fail-above; 3 when none does but a gated measure was not compared or stayed
undecided (the output names them in one line); 2 on an error. 1 wins over 3.
"""

import argparse
import contextlib
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    "-> 0.93 is 2 points); significant means Holm-adjusted p < 0.05. Exit 3 when none does but "
    "a gated measure was not compared or is undecided"
)
# Starting points, to be calibrated on the machine (scripts/compare_check.py): on the project's
# VM a 100k trial takes about 10 s, so 30 pairs are 60 trials, 600 s.
MAX_PAIRS = 30
BUDGET_S = 600.0
REGRESSION, UNSETTLED = 1, 3  # exit statuses of the gate


def _parser() -> argparse.ArgumentParser:
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
        "--precision",
        type=float,
        default=verdicts.PRECISION,
        metavar="PCT",
        help="the ± a 95%% interval must be within for 'no significant difference' (percent of a "
        "timing, percentage points of recall), and with --run the QPS ratio's ± to measure "
        f"pairs until (default {verdicts.PRECISION:g})",
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
    _run_options(parser)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options of --run: how many pairs of trials, and for how long."""
    parser.add_argument(
        "--run", action="store_true", help="measure the two sides here, in pairs of trials"
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=5,
        metavar="N",
        help="with --run: the pairs of trials to measure at least (default 5, at least 2)",
    )
    parser.add_argument(
        "--max-pairs",
        type=int,
        default=MAX_PAIRS,
        metavar="N",
        help=f"with --run: the pairs to measure at most (default {MAX_PAIRS}, to be calibrated)",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=BUDGET_S,
        metavar="S",
        help=f"with --run: add no pairs beyond S seconds of measuring (default {BUDGET_S:g}, to "
        "be calibrated); the --trials pairs are measured whatever they take",
    )


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.overrides and not args.run:
        parser.error(f"overrides {args.overrides} are for --run; sides name stored runs")
    if args.run and args.trials < 2:
        parser.error(f"--trials must be at least 2 (an interval needs two), got {args.trials}")
    if args.run and args.max_pairs < args.trials:
        parser.error(f"--max-pairs ({args.max_pairs}) is below --trials ({args.trials})")
    if args.precision <= 0 or args.budget_s < 0:
        parser.error("--precision is a percentage > 0 and --budget-s seconds >= 0")
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


@dataclass(frozen=True)
class Compared:
    """What either mode hands on to the table: where to log, the pairs' evidence, the lines
    before the table, files to log beside it, and metrics of the measuring (--run)."""

    experiment_id: str
    pairs: list[tuple[str, evidence.Evidence, evidence.Evidence]]
    intro: list[str]
    saved: list[Path] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


def _log_run(
    args: argparse.Namespace,
    compared: Compared,
    table: list[verdicts.Row],
    gate: tuple[list[verdicts.Row], list[verdicts.Row]],
    files: list[Path],
) -> str:
    """The comparison as a `compare-...` run (tag kind=compare) in the candidate's experiment;
    `gate` is what --fail-above found: the regressions and the unsettled rows."""
    failed, unsettled = gate
    name = f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    tags = {
        "kind": "compare",
        "compare.baseline": args.baseline,
        "compare.candidate": args.candidate,
    }
    run = {"max_pairs": args.max_pairs, "budget_s": args.budget_s} if args.run else {}
    with mlflow.start_run(experiment_id=compared.experiment_id, run_name=name, tags=tags):
        mlflow.log_params(
            {
                "baseline": args.baseline[:500],
                "candidate": args.candidate[:500],
                "fail_above": "none" if args.fail_above is None else f"{args.fail_above:g}",
                "precision": f"{args.precision:g}",
                "ignore": " ".join(args.ignore) or "none",
                **run,
            }
        )
        mlflow.log_metrics(
            {
                "pairs": len({row.pair for row in table}),
                "significant_changes": sum(row.decision == verdicts.CHANGED for row in table),
                "undecided": sum(row.decision == verdicts.UNDECIDED for row in table),
                "regressions": len(failed),
                "unsettled": len(unsettled),
                **compared.metrics,
            }
        )
        for path in [*files, *compared.saved]:
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


def _measured(args: argparse.Namespace) -> Compared:
    """--run: both sides measured here, in pairs of trials until decided or out of pairs or time."""
    common = [*args.overrides]
    if args.tracking_uri:
        common.append(f"tracking.uri={args.tracking_uri}")
    plans = [_plan([*common, *shlex.split(side)]) for side in (args.baseline, args.candidate)]
    experiment_id = store.prepare(plans[1].tracking.location)
    until = interleaved.Until(args.precision, args.trials, args.max_pairs, args.budget_s)
    with _progress_on_stderr():
        done = interleaved.measure(plans, until)
    b, c = (side.evidence for side in done.sides)
    busy_above = min(plan.timing.guard.max_share for plan in plans)
    intro = [
        f"baseline: {args.baseline}",
        f"candidate: {args.candidate}",
        f"both: {' '.join(args.overrides) or 'the defaults'}",
        f"measured here: {done.pairs} pairs of trials in {done.seconds:.0f} s (at least "
        f"{args.trials}, at most {args.max_pairs}, adding none after {args.budget_s:g} s), each "
        "trial in a fresh process on the cached index, a pair's two next to each other in time "
        "(A B, B A, ...)",
        f"stopped: {done.stopped}",
        interleaved.machine_load(done, busy_above),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = {"run_pairs": done.pairs, "run_seconds": done.seconds}
    pairs = [(f"{args.baseline} vs {args.candidate}", b, c)]
    return Compared(experiment_id, pairs, intro, interleaved.save(done, args.out), metrics)


@contextlib.contextmanager
def _progress_on_stderr() -> Iterator[None]:
    """vssbench's progress lines (each batch of pairs) on stderr while measuring."""
    logger = logging.getLogger("vssbench")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _stored(args: argparse.Namespace) -> Compared:
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
    return Compared(candidate.experiment_id, loaded, output.intro(baseline, candidate, paired))


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # MLflow draws a progress bar on stderr for every artifact it downloads.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    compared = (_measured if args.run else _stored)(args)
    table = verdicts.rows(compared.pairs, args.precision)
    failed = verdicts.regressions(table, args.fail_above)
    unsettled = verdicts.unsettled(table, args.fail_above)
    notes = [
        *output.legend(table, args.precision),
        *output.gate(failed, unsettled, args.fail_above),
    ]
    print(output.text(compared.intro, table, notes))
    title = f"vssbench compare: {args.baseline} -> {args.candidate}"
    files = output.write(args.out, title, compared.intro, table, notes)
    name = _log_run(args, compared, table, (failed, unsettled), files)
    print(f"\nwritten to {args.out}/ and logged as MLflow run {name}")
    if failed or unsettled:
        raise SystemExit(REGRESSION if failed else UNSETTLED)


if __name__ == "__main__":
    main()
