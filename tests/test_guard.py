"""The disturbance guard on real passes: the run-queue wait of the timing thread is measured when
busy processes crowd its core, a disturbed pass is warmed up again before it is retried, and a
series logs its retries in one line."""

import contextlib
import logging
import math
import os
import subprocess
import sys
from collections.abc import Iterator

import duckdb
import numpy as np
import pytest

from vssbench.measure import timing
from vssbench.run import timings

LINUX = os.path.isdir(timing.TASKS)
needs_proc = pytest.mark.skipif(not LINUX, reason="the run-queue wait is read from Linux's /proc")

# Says when it spins, so that no pass is timed before the busy process is running.
SPIN = "print('spinning', flush=True)\nwhile True: pass"


@contextlib.contextmanager
def crowded(busy: int = 2) -> Iterator[None]:
    """The calling thread and `busy` spinning processes pinned to one core: the thread gets at
    most 1 / (busy + 1) of it, whatever else the machine runs (other test workers only add to
    the crowd), so it waits runnable for about busy / (busy + 1) of its time or more. Unpinned, the
    kernel may leave the thread alone on a core and both spinners on the other."""
    core = max(os.sched_getaffinity(0))
    mine = os.sched_getaffinity(0)  # the calling thread's own (pid 0 is this thread)
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE) for _ in range(busy)
    ]
    try:
        for s in spinners:
            os.sched_setaffinity(s.pid, {core})
            assert s.stdout.readline() == b"spinning\n"
        os.sched_setaffinity(0, {core})
        yield
    finally:
        os.sched_setaffinity(0, mine)
        for s in spinners:
            s.kill()
            s.wait()
            s.stdout.close()


@pytest.fixture(scope="module")
def step():
    """A real query on one DuckDB thread, so all of its work runs in the timing thread."""
    con = duckdb.connect(config={"threads": 1})
    yield lambda i: con.execute("SELECT sum(i * ?) FROM range(50000) t(i)", [i]).fetchall()
    con.close()


@needs_proc
def test_a_pass_whose_core_is_crowded_records_its_wait(step):
    quiet = timing.timed_pass(step, 100, "quiet")
    with crowded():
        busy = timing.timed_pass(step, 100, "busy")
    # Two spinners on its core leave the timing thread a third of it: a wait of about 2/3 of
    # the pass, never below 1/2 however busy the rest of the machine is. The quiet pass, on a
    # free core or beside another test worker, waits less.
    assert busy.wait_share > 0.4, (busy.wait_s, busy.elapsed_s)
    assert busy.wait_s > quiet.wait_s >= 0, (busy.wait_s, quiet.wait_s)


@needs_proc
def test_a_disturbed_pass_is_warmed_up_again_and_the_series_logs_one_line(step, caplog):
    events: list[str] = []

    def run_pass() -> timing.TimedPass:
        """The first attempt is timed on a crowded core, so it is disturbed on purpose."""
        events.append("pass")
        with crowded() if events.count("pass") == 1 else contextlib.nullcontext():
            return timing.timed_pass(step, 60, "guarded")

    def warm_up() -> None:
        events.append("warm")
        timing.warm_up(step, 5)

    guard = timing.Guard(max_share=0.3, retries=3, pause_s=0.05)
    with caplog.at_level(logging.INFO, logger=timing.__name__):
        timed = timing.repeated(run_pass, warm_up, 3, guard, "guarded")

    first = timed.passes[0]
    assert first.attempts >= 2  # the crowded attempt was redone
    # Whatever else this machine did to later attempts: a warm-up before the series and before
    # every retry, none before a pass that follows an undisturbed one.
    expected = ["warm"]
    for p in timed.passes:
        expected += ["pass"] + ["warm", "pass"] * (p.attempts - 1)
    assert events == expected
    retried = sum(p.attempts > 1 for p in timed.passes)
    left = guard.retries - sum(p.attempts - 1 for p in timed.passes)
    lines = [r.getMessage() for r in caplog.records if r.name == timing.__name__]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"guarded: {retried} of 3 passes retried (other processes up to ")
    assert "waited runnable up to " in lines[0] and lines[0].endswith(f"), {left} retries left")


def test_an_undisturbed_series_logs_nothing(step, caplog):
    guard = timing.Guard(max_share=1e9, retries=3, pause_s=0)  # nothing counts as disturbed
    with caplog.at_level(logging.INFO, logger=timing.__name__):
        timed = timing.repeated(
            lambda: timing.timed_pass(step, 5, "calm"), lambda: None, 2, guard, "calm"
        )
    assert [p.attempts for p in timed.passes] == [1, 1]
    assert not [r for r in caplog.records if r.name == timing.__name__]


def test_every_kind_of_pass_records_its_process_and_wait():
    con = duckdb.connect(config={"threads": 2})
    query = "SELECT sum(i) FROM range(20000) t(i)"
    cursors = [con.cursor() for _ in range(2)]
    passes = {
        "one client": timing.timed_pass(lambda i: con.execute(query).fetchall(), 20, "one"),
        "clients": timing.concurrent_pass(
            [lambda i, c=c: c.execute(query).fetchall() for c in cursors], 20
        ),
        # DuckDB answers in its own threads too: the wait of every thread of the process.
        "batch": timing.batch_pass(lambda: con.execute(query).fetchall()),
    }
    con.close()
    for kind, p in passes.items():
        assert p.pid == os.getpid(), kind
        if LINUX:
            assert p.wait_s >= 0 and math.isfinite(p.wait_share), (kind, p.wait_s)
        else:
            assert math.isnan(p.wait_s), kind
    frame = timings.passes_frame([[timing.Timing([p], "x")] for p in passes.values()])
    assert (frame["pid"] == os.getpid()).all()
    # NaN where /proc is missing, and equal to itself here
    np.testing.assert_array_equal(frame["wait_s"], [p.wait_s for p in passes.values()])
    np.testing.assert_array_equal(frame["wait_share"], [p.wait_share for p in passes.values()])


def test_the_guard_redoes_a_pass_on_either_share_and_falls_back_without_the_wait():
    def made(other: float, wait_s: float) -> timing.TimedPass:
        """A pass of 1 s as the harness records it, with the shares given."""
        return timing.TimedPass([], np.zeros(0, np.int64), 1.0, other, 0.05, wait_s=wait_s)

    guard = timing.Guard(max_share=0.1, retries=1, pause_s=0)
    assert not guard.disturbed(made(0.05, 0.05))
    assert guard.disturbed(made(0.2, 0.05))  # other processes took the CPU
    assert guard.disturbed(made(0.05, 0.2))  # the timing thread waited for it
    assert not guard.disturbed(made(0.05, math.nan))  # not measured: the CPU share decides
    assert guard.disturbed(made(0.2, math.nan))
