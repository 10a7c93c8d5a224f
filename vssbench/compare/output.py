"""The comparison as text for the console, and as compare.md and compare.html in a folder.
Pure but for `write`: rows and lines in, strings out."""

import html
from pathlib import Path

from vssbench.compare import pairing, sides
from vssbench.compare.verdicts import SAME, SHORT_TEST, Row
from vssbench.measure import intervals

COLUMNS = (
    "pair",
    "measure",
    "baseline",
    "candidate",
    "change [95% CI]",
    "p",
    "p Holm",
    "test",
    "n",
    "verdict",
)
# What each test is over, in the legend's order.
_TESTS = {
    intervals.PAIRED_T: "timings of compare --run: one log ratio per pair",
    intervals.WELCH: "timings of stored runs: over trials, or over passes when a run has one trial",
    intervals.WILCOXON: "recall",
}
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
    "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}</style>"
)


def _estimate(estimate: intervals.Estimate | None, ratio: bool) -> str:
    """A timing as its value and the interval's larger side in percent; recall as value and
    the interval's half width."""
    if estimate is None:
        return ""
    if ratio:
        side = max(estimate.high / estimate.value - 1, 1 - estimate.low / estimate.value)
        value = estimate.value
        # Four significant digits, but 12090 rather than 1.209e+04.
        shown = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
        return f"{shown} ±{100 * side:.1f}%"
    return f"{estimate.value:.4f} ±{(estimate.high - estimate.low) / 2:.4f}"


def _change(row: Row) -> str:
    """A timing's ratio as a percent change, recall's difference in percentage points."""
    d = row.change
    if d is None:
        return ""
    if row.ratio:
        low, value, high = (100 * (x - 1) for x in (d.low, d.value, d.high))
        return f"{value:+.1f}% [{low:+.1f}%, {high:+.1f}%]"
    low, value, high = (100 * x for x in (d.low, d.value, d.high))
    return f"{value:+.2f} pp [{low:+.2f}, {high:+.2f}]"


def _p(p: float | None) -> str:
    return "" if p is None else f"{p:.2g}"


def cells(row: Row) -> list[str]:
    """The row's cells, in COLUMNS order."""
    tested = row.change is not None
    return [
        row.pair,
        row.measure,
        _estimate(row.baseline, row.ratio),
        _estimate(row.candidate, row.ratio),
        _change(row),
        _p(row.change.p) if tested else "",
        _p(row.p_holm),
        SHORT_TEST.get(row.change.test, row.change.test) if tested else "",
        row.n,
        row.verdict,
    ]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def intro(baseline: sides.Side, candidate: sides.Side, paired: pairing.Pairing) -> list[str]:
    """Which runs each side holds, what was paired on, and what was left unpaired."""
    lines = [
        f"{role}: {side.description}, {_count(len(side.runs), 'configuration')}"
        + "".join(f"; {note}" for note in side.notes)
        for role, side in (("baseline", baseline), ("candidate", candidate))
    ]
    left = [
        f"{key} ({b} vs {c}: differs between the sides)" for key, (b, c) in paired.differing.items()
    ]
    left += [f"{key} (--ignore)" for key in paired.ignored]
    left.append(f"run control ({', '.join(sides.RUN_CONTROL)})")
    lines.append(f"paired on every configuration key but {'; '.join(left)}")
    tags = pairing.tag_differences(baseline.runs, candidate.runs)
    if tags:
        apart = "; ".join(f"{name} ({b} vs {c})" for name, (b, c) in tags.items())
        lines.append(f"the sides also differ in {apart}")
    for role, unpaired in (
        ("baseline", paired.baseline_only),
        ("candidate", paired.candidate_only),
    ):
        if unpaired:
            lines.append(f"only in the {role}, not compared: {', '.join(unpaired)}")
    return lines


def gate(failed: list[Row], unsettled: list[Row], fail_above: float | None) -> list[str]:
    """What --fail-above found, a line each: the regressions beyond it, and the gated measures
    it could not judge (exit 1 and 3); or that it passed (exit 0)."""
    if fail_above is None:
        return []
    head = f"--fail-above {fail_above:g}:"
    if not failed and not unsettled:
        return [
            f"{head} no significant change for the worse beyond it, every gated measure measured"
        ]
    lines = []
    if failed:
        worse = ", ".join(
            f"{row.pair} {row.measure} {_change(row).split(' [')[0]}" for row in failed
        )
        lines.append(
            f"{head} {_count(len(failed), 'significant change')} for the worse beyond it: {worse}"
        )
    if unsettled:
        which = ", ".join(f"{row.pair} {row.measure} ({row.verdict})" for row in unsettled)
        lines.append(
            f"{head} cannot pass: {_count(len(unsettled), 'gated measure')} not compared or "
            f"undecided: {which}"
        )
    return lines


def legend(table: list[Row], precision: float) -> list[str]:
    """What the columns mean: the change, the interval, the tests the table holds, the
    adjustment and the rule of a verdict."""
    tests = sum(row.change is not None for row in table)
    held = {row.change.test for row in table if row.change is not None}
    return [
        "change: candidate against baseline; timings as a ratio in percent, recall in "
        "percentage points (pp); the 95% interval is the test's own, before adjustment.",
        f"p Holm: the p-value adjusted by Holm's method over the table's {tests} tests; the "
        f"verdict is significant below {1 - intervals.LEVEL:.2g}.",
        *(f"{SHORT_TEST[test]}: {test} ({over})." for test, over in _TESTS.items() if test in held),
        f"verdict: a direction where significant; {SAME} where not and the interval is within "
        f"±{precision:g}% (recall: ±{precision:g} pp); undecided where not and it is wider "
        "(more trials would tell).",
    ]


def text(intro: list[str], table: list[Row], notes: list[str]) -> str:
    """The console's view: the intro, the table in aligned columns, the notes."""
    grid = [list(COLUMNS), *(cells(row) for row in table)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in grid
    ]
    return "\n".join([*intro, "", *lines, "", *notes])


def markdown(title: str, intro: list[str], table: list[Row], notes: list[str]) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    rows = [line(list(COLUMNS)), line(["---"] * len(COLUMNS)), *(line(cells(r)) for r in table)]
    paragraphs = [part for line in intro for part in (line, "")]
    bullets = [f"- {item}" for item in notes]
    return "\n".join([f"# {title}", "", *paragraphs, *rows, "", *bullets, ""])


def to_html(title: str, intro: list[str], table: list[Row], notes: list[str]) -> str:
    def line(tag: str, values: list[str]) -> str:
        return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"

    body = line("th", list(COLUMNS)) + "".join(line("td", cells(row)) for row in table)
    paragraphs = "".join(f"<p>{html.escape(item)}</p>" for item in intro)
    items = "".join(f"<li>{html.escape(item)}</li>" for item in notes)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{STYLE}</head><body><h1>{html.escape(title)}</h1>{paragraphs}<table>{body}</table>"
        f"<ul>{items}</ul></body></html>"
    )


def write(
    out: Path, title: str, intro: list[str], table: list[Row], notes: list[str]
) -> list[Path]:
    """compare.md and compare.html in `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "compare.md", out / "compare.html"
    md.write_text(markdown(title, intro, table, notes))
    page.write_text(to_html(title, intro, table, notes))
    return [md, page]
