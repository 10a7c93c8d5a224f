"""Is the interleaved compare sensitive, and quiet when nothing differs? `compare --run` of two
identical sides N times (how often it claims a difference), then of ef 48 against ef 64 (is the
difference found, and how wide is the ratio's interval), on one cached index.

    uv run python -m vssbench scale=100k dim=128          # builds and caches the index once
    uv run python scripts/compare_check.py --null 20      # on a quiet machine
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURES = ("qps", "p99", "batch_qps", "recall@10")


def _compare(baseline: str, candidate: str, trials: int, common: list[str], out: Path) -> list:
    """The table rows compare printed, each as (measure, change and interval, verdict)."""
    command = [sys.executable, "-m", "vssbench.compare", "--run", baseline, candidate, *common]
    done = subprocess.run(
        [*command, "--trials", str(trials), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"compare failed: {done.stderr.strip().splitlines()[-1]}")
    rows = []
    for line in done.stdout.splitlines():
        parts = line.split("  ")
        cells = [p.strip() for p in parts if p.strip()]
        if len(cells) > 2 and cells[1].split()[0] in MEASURES:
            rows.append((cells[1], cells[4], cells[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=20, help="repetitions of identical sides")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    common = args.overrides or ["scale=100k", "dim=128", "hnsw.ef_curve=[]"]
    out = Path(tempfile.mkdtemp(prefix="compare-check-"))
    claimed = 0
    for number in range(args.null):
        started = time.perf_counter()
        rows = _compare("hnsw.ef_search=64", "hnsw.ef_search=64", args.trials, common, out)
        differs = [r for r in rows if r[2] != "no significant difference"]
        claimed += bool(differs)
        took = time.perf_counter() - started
        print(f"identical sides {number + 1}: {took:.0f}s {rows}", flush=True)
    print(f"identical sides: {args.null - claimed} of {args.null} say no significant difference")
    started = time.perf_counter()
    rows = _compare("hnsw.ef_search=48", "hnsw.ef_search=64", args.trials, common, out)
    print(f"ef 48 -> ef 64 ({time.perf_counter() - started:.0f}s):")
    for row in rows:
        print("  ", *row)


if __name__ == "__main__":
    main()
