"""One trial of a run in a fresh process: `python -m vssbench.run.trial_worker JOB OUT TO FROM`
opens the pickled job's cached data and index, times every point and pickles what it found (a
Measurement for the first trial, a Trial for the others: run/trials.py) to OUT, or the error
that stopped it (exit 3). Before each timed series it writes a byte to the pipe TO and waits for
one from FROM: the run's process lets its own threads act then, and never while a pass runs
here."""

import logging
import os
import pickle
import platform
import sys
from dataclasses import replace
from pathlib import Path

from vssbench import faults
from vssbench.run.measurement import Measurement, measure
from vssbench.run.trials import FAILED, LOG_FORMAT, Job, Trial, TrialError
from vssbench.stopwatch import Stopwatch
from vssbench.track.scratch import scratch_dir


def main(job_file: str, out: str, to_parent: str, from_parent: str) -> None:
    job: Job = pickle.loads(Path(job_file).read_bytes())
    # The run's process logs each trial, and what the first one said (trials._relay): the
    # others would repeat it, so they say only what went wrong.
    logging.basicConfig(level=logging.INFO if job.score else logging.WARNING, format=LOG_FORMAT)
    try:
        found = _measured(job, int(to_parent), int(from_parent))
    except Exception as error:  # raised again in the run's process, as if raised there
        if faults.no_space(error) is not None:
            raise  # OUT is on the disk that filled: faults.child_main reports it by exit status
        Path(out).write_bytes(pickle.dumps(sendable(error)))
        raise SystemExit(FAILED) from None
    Path(out).write_bytes(pickle.dumps(found))


def _measured(job: Job, send: int, wait: int) -> Measurement | Trial:
    def between() -> None:
        os.write(send, b".")
        os.read(wait, 1)

    timed = replace(job.plan.timing, rotation=job.number - 1, between=between)
    plan = replace(job.plan, timing=timed)
    with scratch_dir(plan.cache_dir / "scratch" / platform.node()):
        result = measure(plan, Stopwatch())
    return result if job.score else Trial(result.timings, result.head_series, result.head_ef_series)


def sendable(error: Exception) -> Exception:
    """The error itself when it survives pickling (its class keeps its one-line message in the
    run's process), else a TrialError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return TrialError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    faults.child_main(lambda: main(*sys.argv[1:]))
