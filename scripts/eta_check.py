"""How right a sweep's ETA was: each per-job line's ETA against the time the sweep really took
after it.

    uv run python scripts/eta_check.py SWEEP.log

SWEEP.log is what a sweep printed (`python -m vssbench -m ... 2>&1 | tee SWEEP.log`, or a pass
log of scripts/sweep_overhead.py). The sweep's end is the last job's line.
"""

import argparse
import re
from datetime import datetime
from pathlib import Path

LINE = re.compile(
    r"^\[(?P<when>[\d-]+ [\d:,]+)\]\[vssbench\]\[INFO\] - \[(?P<ended>\d+)/(?P<total>\d+)\] "
    r"(?P<name>\S+) .*?, (?:ETA (?P<eta>\d+) (?P<unit>min|s)|last job)$"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    lines = [m for m in map(LINE.match, parser.parse_args().log.read_text().splitlines()) if m]
    if not lines:
        raise SystemExit("no per-job lines in that log")
    when = [datetime.strptime(m["when"], "%Y-%m-%d %H:%M:%S,%f") for m in lines]
    end = when[-1]
    print(f"{'job':>7}  {'ETA':>8}  {'real':>8}  {'error':>6}  name")
    for m, at in zip(lines, when, strict=True):
        real = (end - at).total_seconds()
        if m["eta"] is None:
            continue
        eta = float(m["eta"]) * (60 if m["unit"] == "min" else 1)
        error = f"{(eta - real) / real:+.0%}" if real else "-"
        job = f"{m['ended']}/{m['total']}"
        print(f"{job:>7}  {eta / 60:>6.1f} m  {real / 60:>6.1f} m  {error:>6}  {m['name']}")


if __name__ == "__main__":
    main()
