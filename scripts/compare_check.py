"""Is the paired compare sensitive, and quiet when nothing differs? `compare --run` of two
identical sides N times (how often it claims a difference, how often it stays undecided, and
how many pairs it took), then of ef 48 against ef 64 (is the difference found, how wide is the
ratio's interval, after how many pairs), on one cached index. `--simulate` instead checks the
stopping rule itself on drawn numbers, without measuring: how often the paired t-test claims a
difference between identical sides when pairs are added until the interval is within ±precision.

    uv run python -m vssbench scale=100k dim=128          # builds and caches the index once
    uv run python scripts/compare_check.py --null 20      # on a quiet machine
    uv run python scripts/compare_check.py --simulate 10000
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vssbench.compare import verdicts
from vssbench.compare.interleaved import Until, next_batch
from vssbench.measure import intervals

MEASURES = ("qps", "p99", "batch_qps", "recall@10")
SAME = verdicts.SAME


def _compare(baseline: str, candidate: str, options: list[str], common: list[str], out: Path):
    """The pairs compare measured, and its table rows, each as (measure, change, verdict)."""
    command = [sys.executable, "-m", "vssbench.compare", "--run", baseline, candidate, *common]
    done = subprocess.run([*command, *options, "--out", str(out)], capture_output=True, text=True)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"compare failed: {done.stderr.strip().splitlines()[-1]}")
    rows = []
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"\s{2,}", line.strip())]
        if len(cells) > 2 and cells[1].split()[0] in MEASURES:
            rows.append((cells[1], cells[4], cells[-1]))
    pairs = re.search(r"measured here: (\d+) pairs", done.stdout)
    return int(pairs.group(1)) if pairs else 0, rows


def _null(args: argparse.Namespace, options: list[str], common: list[str], out: Path) -> None:
    """Identical sides, args.null times: verdicts claimed, rows left undecided, pairs taken."""
    claimed = undecided = 0
    for number in range(args.null):
        started = time.perf_counter()
        pairs, rows = _compare("hnsw.ef_search=64", "hnsw.ef_search=64", options, common, out)
        claimed += any(v != SAME and not v.startswith("undecided") for _, _, v in rows)
        undecided += any(v.startswith("undecided") for _, _, v in rows)
        took = time.perf_counter() - started
        print(f"identical sides {number + 1}: {pairs} pairs, {took:.0f}s {rows}", flush=True)
    print(
        f"identical sides: {claimed} of {args.null} claim a difference, {undecided} leave a "
        "measure undecided"
    )


def _simulated(spread: float, until: Until, rng: np.random.Generator) -> tuple[bool, int]:
    """One comparison of identical sides whose pairs' log ratios spread by `spread`: whether
    the paired t-test called it significant, and after how many pairs."""
    logs = list(rng.standard_normal(until.least) * spread)
    while True:
        b, c = np.ones(len(logs)), np.exp(logs)
        ratio = intervals.paired_ratio(b, c)
        width = verdicts.half_width(ratio, ratio=True)
        needed = intervals.pairs_needed(b, c, until.precision, until.most)
        step = next_batch(until, len(logs), width, needed, spent_s=float(len(logs)))
        if isinstance(step, str):
            return ratio.p < 1 - intervals.LEVEL, len(logs)
        logs += list(rng.standard_normal(step) * spread)


def _simulate(repetitions: int, until: Until) -> None:
    rng = np.random.default_rng(4)
    for spread in (0.03, 0.05, 0.07, 0.1, 0.13):
        runs = [_simulated(spread, until, rng) for _ in range(repetitions)]
        false = np.mean([significant for significant, _ in runs])
        pairs = np.mean([n for _, n in runs])
        print(f"pairs' log ratios spread by {spread}: {false:.1%} significant, {pairs:.1f} pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=20, help="repetitions of identical sides")
    parser.add_argument("--trials", type=int, default=5, help="compare's least pairs")
    parser.add_argument("--max-pairs", type=int, default=30)
    parser.add_argument("--budget-s", type=float, default=600.0)
    parser.add_argument("--precision", type=float, default=verdicts.PRECISION)
    parser.add_argument(
        "--simulate", type=int, default=0, metavar="N", help="N drawn comparisons per spread"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.simulate:
        until = Until(args.precision, args.trials, args.max_pairs, budget_s=float("inf"))
        _simulate(args.simulate, until)
        return
    options = ["--trials", str(args.trials), "--max-pairs", str(args.max_pairs)]
    options += ["--budget-s", f"{args.budget_s:g}", "--precision", f"{args.precision:g}"]
    common = args.overrides or ["scale=100k", "dim=128", "hnsw.ef_curve=[]"]
    out = Path(tempfile.mkdtemp(prefix="compare-check-"))
    _null(args, options, common, out)
    started = time.perf_counter()
    pairs, rows = _compare("hnsw.ef_search=48", "hnsw.ef_search=64", options, common, out)
    print(f"ef 48 -> ef 64 ({pairs} pairs, {time.perf_counter() - started:.0f}s):")
    for row in rows:
        print("  ", *row)


if __name__ == "__main__":
    main()
