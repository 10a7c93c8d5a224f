import time

import numpy as np
import pytest

from vssbench.measure.memory import MemoryGuardError, PeakRss, check_memory, estimate_mb
from vssbench.stopwatch import Stopwatch

# Peak RSS of the cold 12-run grid -m scale=10k,100k,250k dim=128,256,512,1024 (README, Memory).
MEASURED_PEAKS = {
    (10_000, 128): 467,
    (10_000, 1024): 585,
    (100_000, 128): 731,
    (100_000, 512): 1330,
    (100_000, 1024): 2434,
    (250_000, 128): 1283,
    (250_000, 512): 2545,
    (250_000, 1024): 4520,
}


@pytest.mark.parametrize(("n_docs", "dim"), list(MEASURED_PEAKS))
def test_estimate_is_not_below_a_measured_peak_nor_far_above(n_docs, dim):
    estimate = estimate_mb(n_docs, dim, 16, hybrid=False)
    assert MEASURED_PEAKS[n_docs, dim] <= estimate < 1.6 * MEASURED_PEAKS[n_docs, dim]


def test_hybrid_runs_need_more():
    assert estimate_mb(10_000, 128, 16, hybrid=True) > estimate_mb(10_000, 128, 16, hybrid=False)


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
