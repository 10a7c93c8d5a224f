"""The report's files: a PNG per figure, report.html (figures embedded) and summary.md, each
with the findings, the factors table (factors.py) and the per-configuration table."""

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vssbench.report import lifecycle, quality
from vssbench.report.factors import Explained, factor_table, which_setting_matters
from vssbench.report.figures import FIGURES
from vssbench.report.findings import findings
from vssbench.report.lifecycle import Lifecycle
from vssbench.report.summary import number, table
from vssbench.report.tables import tables as fact_tables

FACTORS_TITLE = "Which setting matters"
FACTORS_INTRO = (
    "Share of the variation among the runs that each swept factor explains (type 2 ANOVA of an "
    "OLS fit, statsmodels; factors as categories; only factors that vary): of log QPS over the "
    "runs with a timing (busy ones included where their configuration has no other), and of "
    "recall over all runs."
)

STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px}</style>"
)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else number(value)
        return str(value)

    rows = [" | ".join(map(str, frame.columns))]
    rows.append(" | ".join("---" for _ in frame.columns))
    rows += [" | ".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(f"| {row} |" for row in rows)


def _figures(
    summary: pd.DataFrame | None, life: Lifecycle, out: Path
) -> tuple[dict[str, Path], list[str]]:
    """Each figure as a PNG in `out` and an HTML section embedding it; the PNGs by name."""
    files: dict[str, Path] = {}
    sections = []
    why = "Not enough runs for this figure"
    drawn = {name: (lambda draw=draw: draw(summary)) for name, draw in FIGURES.items()}
    if summary is None:
        drawn = {}
    if not life.rounds.empty:
        drawn[lifecycle.FIGURE] = lambda: lifecycle.figure(life)
    for name, draw in drawn.items():
        fig = draw()
        if fig is None:
            # An earlier report's figure must not pass for this one's.
            (out / f"{name}.png").unlink(missing_ok=True)
            sections.append(f"<h2>{name}</h2><p>{why}.</p>")
            continue
        data = _png(fig)
        path = out / f"{name}.png"
        path.write_bytes(data)
        files[name] = path
        encoded = base64.b64encode(data).decode()
        sections.append(f'<h2>{name}</h2><img alt="{name}" src="data:image/png;base64,{encoded}">')
    return files, sections


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=number, na_rep="")


def _html(title: str, intro: str, facts: list[str], sections: list[str], tables: str) -> str:
    items = (
        "".join(f"<li>{html.escape(f)}</li>" for f in facts)
        or "<li>No findings: too few runs.</li>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{STYLE}</head><body><h1>{html.escape(title)}</h1><p>{intro}</p>"
        f"<h2>Findings</h2><ul>{items}</ul>{''.join(sections)}{tables}</body></html>"
    )


def _tables_html(results: list[Explained], shown: pd.DataFrame, spread: bool) -> str:
    """The factors section and the per-configuration table, as HTML."""
    factors = factor_table(results)
    notes = "".join(f"<li>{html.escape(r.note)}</li>" for r in results)
    return (
        f"<h2>{FACTORS_TITLE}</h2><p>{html.escape(FACTORS_INTRO)}</p><ul>{notes}</ul>"
        + (_html_table(factors) if factors is not None else "")
        + f"<h2>Per configuration (medians{', spread = max - min' if spread else ''}; "
        "[95% interval])</h2>" + _html_table(shown)
    )


def _markdown(
    title: str,
    intro: str,
    facts: list[str],
    results: list[Explained],
    shown: pd.DataFrame | None,
    more_tables: dict[str, pd.DataFrame],
) -> str:
    lines = [f"# {title}", "", intro, "", "## Findings", "", *(f"- {f}" for f in facts), ""]
    if shown is not None:
        factors = factor_table(results)
        lines += [
            f"## {FACTORS_TITLE}",
            "",
            FACTORS_INTRO,
            "",
            *(f"- {r.note}" for r in results),
            "",
            *([_markdown_table(factors), ""] if factors is not None else []),
            "## Per configuration (medians; [95% interval])",
            "",
            _markdown_table(shown),
            "",
        ]
    for heading, frame in more_tables.items():
        lines += [f"## {heading}", "", _markdown_table(frame), ""]
    return "\n".join(lines)


def write_report(
    summary: pd.DataFrame | None,
    runs: pd.DataFrame,
    left_out: int,
    out: Path,
    title: str,
    life: Lifecycle = lifecycle.NONE,
) -> dict[str, Path]:
    """PNGs, report.html and summary.md of the static runs' `summary` (with its curves attached;
    None when there are none) and `runs`, and of the workload runs' `life`, in `out`; returns
    the written files by name."""
    out.mkdir(parents=True, exist_ok=True)
    facts = [*(findings(summary) if summary is not None else []), *lifecycle.findings(life)]
    shown = table(summary) if summary is not None else None
    results = which_setting_matters(runs) if summary is not None else []
    files, sections = _figures(summary, life, out)
    note = (
        f"{left_out} runs of older benchmark versions left out (--all-versions includes them)."
        if left_out
        else ""
    )
    workload_runs = len(life.churn) + len(life.restarts)
    counted = (
        f"{len(runs)} runs, {len(summary)} configurations"
        if summary is not None
        else "No static runs"
    )
    intro = (
        f"{counted}{f'; {workload_runs} churn and restart runs' if workload_runs else ''}. {note}"
    )
    labelled = quality.table(runs) if len(runs) else None
    more_tables = {
        **(fact_tables(summary) if summary is not None else {}),
        **({quality.TITLE: labelled} if labelled is not None else {}),
        **lifecycle.tables(life),
    }
    tables = (
        _tables_html(results, shown, bool((summary["runs"] > 1).any())) if shown is not None else ""
    )
    tables += "".join(f"<h2>{html.escape(h)}</h2>" + _html_table(f) for h, f in more_tables.items())
    files["html"] = out / "report.html"
    files["html"].write_text(_html(title, intro, facts, sections, tables), encoding="utf-8")
    files["markdown"] = out / "summary.md"
    files["markdown"].write_text(
        _markdown(title, intro, facts, results, shown, more_tables), encoding="utf-8"
    )
    return files
