"""A run's scratch dir goes when the run ends; dirs of processes that are gone are removed."""

import subprocess
import tempfile

import psutil

from vssbench.track.scratch import remove_dead, scratch_dir


def test_dead_owners_dirs_are_removed_and_live_ones_kept(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    me = psutil.Process()
    live = tmp_path / f"{me.pid}-{me.create_time():.3f}"
    dead = tmp_path / f"{gone.pid}-{me.create_time():.3f}"
    reused = tmp_path / f"{me.pid}-{me.create_time() - 100:.3f}"  # same pid, another process
    for path in (live, dead, reused):
        (path / "spill").mkdir(parents=True)
    assert sorted(remove_dead(tmp_path)) == sorted([dead, reused])
    assert [p.name for p in tmp_path.iterdir()] == [live.name]


def test_temp_files_go_to_the_scratch_dir_which_is_removed_after(tmp_path):
    base = tmp_path / "scratch" / "host"
    with scratch_dir(base) as path:
        assert tempfile.gettempdir() == str(path)
        with open(tempfile.mkstemp()[1], "w") as f:
            f.write("x")
        assert len(list(path.iterdir())) == 1
    assert not path.exists() and tempfile.gettempdir() != str(path)
    assert list(base.iterdir()) == []  # the base dir stays: the next run makes its dir in it
