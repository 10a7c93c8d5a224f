import logging

from vssbench.progress import Progress


def test_logs_each_tenth_with_an_eta_even_for_uneven_steps(caplog):
    caplog.set_level(logging.INFO, logger="vssbench")
    progress = Progress("ground truth", 100)
    for done in range(0, 100, 7):  # 0, 7, ..., 98: crosses the marks 10, 20, ..., 90
        progress.update(done)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 9
    assert lines[0].startswith("ground truth: 14/100") and "ETA" in lines[0]


def test_small_totals_stay_quiet(caplog):
    caplog.set_level(logging.INFO, logger="vssbench")
    progress = Progress("queries", 200, min_total=1000)
    for done in range(201):
        progress.update(done)
    assert caplog.records == []
