"""One further trial of a run in a fresh process: `python -m vssbench.run.trial_worker PLAN OUT`
measures the pickled plan on its cached index and pickles its Trial (run/trials.py) to OUT."""

import logging
import pickle
import platform
import sys
from pathlib import Path

from vssbench.run.measurement import measure
from vssbench.run.trials import Trial
from vssbench.stopwatch import Stopwatch
from vssbench.track.scratch import scratch_dir


def main(plan_file: str, out: str) -> None:
    # The run's process logs each trial; a worker says only what went wrong.
    logging.basicConfig(level=logging.WARNING, format="trial: %(levelname)s %(message)s")
    plan = pickle.loads(Path(plan_file).read_bytes())
    with scratch_dir(plan.cache_dir / "scratch" / platform.node()):
        result = measure(plan, Stopwatch())
    trial = Trial(result.timings, result.head_series, result.head_ef_series)
    Path(out).write_bytes(pickle.dumps(trial))


if __name__ == "__main__":
    main(*sys.argv[1:])
