import time

import numpy as np
import pytest

from vssbench.monitor import MemoryGuardError, PeakRss, check_memory, estimate_mb
from vssbench.stopwatch import Stopwatch


def test_estimate_grows_with_data_and_hybrid():
    small = estimate_mb(10_000, 128, 16, hybrid=False)
    assert 400 < small < 600  # measured peak 465 MB
    assert 1000 < estimate_mb(100_000, 512, 16, hybrid=False) < 1800  # measured 1402 MB
    assert estimate_mb(10_000, 128, 16, hybrid=True) > small


def test_guard_divides_memory_among_jobs():
    check_memory(1000, concurrent_jobs=2, available=4000)
    with pytest.raises(MemoryGuardError, match="needs about 3000 MB but 2000 MB is available"):
        check_memory(3000, concurrent_jobs=2, available=4000)


def test_a_single_run_is_not_told_to_lower_n_jobs():
    with pytest.raises(MemoryGuardError) as refused:
        check_memory(5000, concurrent_jobs=1, available=4000)
    assert "n_jobs" not in str(refused.value) and "force_memory=true" in str(refused.value)


def test_peak_is_attributed_to_the_stage_that_held_it():
    watch = Stopwatch()
    with PeakRss(interval=0.01, label=lambda: watch.current) as peak:
        with watch.stage("small"):
            time.sleep(0.1)
        with watch.stage("big"):
            block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
            time.sleep(0.1)
            del block
    assert peak.by_label["big"] > peak.by_label["small"] + 150
    assert peak.peak_mb == max(peak.by_label.values())
