"""The report's files: a PNG per figure, report.html (figures embedded) and summary.md."""

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vssbench.report.figures import FIGURES
from vssbench.report.findings import findings
from vssbench.report.summary import table

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
        return f"{value:.4g}" if isinstance(value, float | np.floating) else str(value)

    rows = [" | ".join(map(str, frame.columns))]
    rows.append(" | ".join("---" for _ in frame.columns))
    rows += [" | ".join(cell(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(f"| {row} |" for row in rows)


def _figures(summary: pd.DataFrame, out: Path) -> tuple[dict[str, Path], list[str]]:
    """Each figure as a PNG in `out` and an HTML section embedding it; the PNGs by name."""
    files: dict[str, Path] = {}
    sections = []
    why = "Not enough runs for this figure"
    if summary["disturbed_runs"].sum():
        why += " (disturbed timings are left out)"
    for name, draw in FIGURES.items():
        fig = draw(summary)
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


def _html(
    title: str, intro: str, facts: list[str], sections: list[str], shown: pd.DataFrame, spread: bool
) -> str:
    items = (
        "".join(f"<li>{html.escape(f)}</li>" for f in facts)
        or "<li>No findings: too few runs.</li>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{STYLE}</head><body><h1>{html.escape(title)}</h1><p>{intro}</p>"
        f"<h2>Findings</h2><ul>{items}</ul>{''.join(sections)}"
        f"<h2>Per configuration (medians{', spread = max - min' if spread else ''})</h2>"
        f"{shown.to_html(index=False, float_format=lambda v: f'{v:.4g}')}</body></html>"
    )


def _markdown(title: str, intro: str, facts: list[str], shown: pd.DataFrame) -> str:
    lines = [
        f"# {title}",
        "",
        intro,
        "",
        "## Findings",
        "",
        *(f"- {f}" for f in facts),
        "",
        "## Per configuration (medians)",
        "",
        _markdown_table(shown),
        "",
    ]
    return "\n".join(lines)


def write_report(
    summary: pd.DataFrame, n_runs: int, left_out: int, out: Path, title: str
) -> dict[str, Path]:
    """PNGs, report.html and summary.md of `summary` (with its curves attached) in `out`;
    returns the written files by name."""
    out.mkdir(parents=True, exist_ok=True)
    facts = findings(summary)
    shown = table(summary)
    files, sections = _figures(summary, out)
    note = (
        f"{left_out} runs of older benchmark versions left out (--all-versions includes them)."
        if left_out
        else ""
    )
    intro = f"{n_runs} runs, {len(summary)} configurations. {note}"
    spread = bool((summary["runs"] > 1).any())
    files["html"] = out / "report.html"
    files["html"].write_text(_html(title, intro, facts, sections, shown, spread), encoding="utf-8")
    files["markdown"] = out / "summary.md"
    files["markdown"].write_text(_markdown(title, intro, facts, shown), encoding="utf-8")
    return files
