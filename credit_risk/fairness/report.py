"""A fairness table as one self-contained HTML page (the chart inline as SVG, no
script), as JSON, and as the Markdown table of the model card."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Final

import orjson

from credit_risk.fairness.table import FOUR_FIFTHS, MIN_GROUP
from credit_risk.model.metadata import FairnessTable, GroupFairness

_BAR: Final = "#1565c0"
_FLAG: Final = "#c62828"
_CSS: Final = """
body{font:14px system-ui,sans-serif;margin:24px auto;max-width:980px;color:#212121}
h1{font-size:22px} .note{color:#555;font-size:13px} table{border-collapse:collapse;
font-size:13px;margin:8px 0} th,td{padding:3px 9px;border-bottom:1px solid #e0e0e0;
text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#fff;background:#c62828;border-radius:3px;padding:1px 6px}
"""
COLUMNS: Final = (
    "group",
    "applications",
    "approved",
    "approval rate",
    "impact ratio",
    "default rate",
    "mean predicted",
)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ratio(row: GroupFairness) -> str:
    if row.adverse_impact_ratio is None:
        return f"too few (< {MIN_GROUP})"
    return f"{row.adverse_impact_ratio:.2f}" + (" below 4/5" if row.below_four_fifths else "")


def cells(row: GroupFairness) -> tuple[str, ...]:
    """A group's figures as the tables show them, in ``COLUMNS`` order."""
    return (
        f"{row.group}: {row.value}",
        f"{row.applications:,}",
        f"{row.approved:,}",
        _percent(row.approval_rate),
        _ratio(row),
        _percent(row.default_rate),
        _percent(row.mean_predicted),
    )


def markdown_table(table: FairnessTable) -> str:
    """The table in Markdown, for the model card."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in table.rows]
    return "\n".join(lines)


def html_table(table: FairnessTable) -> str:
    """The table in HTML, a flagged ratio marked."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in table.rows:
        tds = []
        for index, cell in enumerate(cells(row)):
            text = html.escape(cell)
            if index == 4 and row.below_four_fifths:
                text = f'<span class="flag">{text}</span>'
            tds.append(f'<td class="n">{text}</td>' if index else f"<td>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def approval_chart(table: FairnessTable) -> str:
    """Approval rate per group as horizontal bars, with each kind's four-fifths line."""
    bar_height, label_width, width = 22, 150, 420
    height = bar_height * len(table.rows) + 28
    parts = [f'<svg width="{label_width + width + 60}" height="{height}" role="img">']
    best: dict[str, float] = {}
    for row in table.rows:
        if row.adverse_impact_ratio:
            best[row.group] = row.approval_rate / row.adverse_impact_ratio
    for i, row in enumerate(table.rows):
        y = 8 + i * bar_height
        length = row.approval_rate * width
        colour = _FLAG if row.below_four_fifths else _BAR
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12">{html.escape(row.group)}: '
            f"{html.escape(row.value)}</text>"
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="15" '
            f'fill="{colour}"/><text x="{label_width + length + 4:.1f}" y="{y + 15}" '
            f'font-size="12">{row.approval_rate:.0%}</text>'
        )
        if row.group in best:
            x = label_width + FOUR_FIFTHS * best[row.group] * width
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + bar_height - 1}" '
                'stroke="#212121" stroke-dasharray="3,2"/>'
            )
    parts.append(
        f'<text x="{label_width}" y="{height - 4}" font-size="11" fill="#555">approval rate; '
        "dashed: four fifths of the most favoured group of the kind</text></svg>"
    )
    return "".join(parts)


def render_html(table: FairnessTable, *, title: str, note: str = "") -> str:
    """The whole page."""
    flagged = table.flagged
    verdict = (
        f"{len(flagged)} group(s) below four fifths: "
        + ", ".join(f"{row.group} {row.value}" for row in flagged)
        if flagged
        else "No group below four fifths of its most favoured group."
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{table.decisions:,} decisions ({html.escape(table.population)}). "
        f"{html.escape(verdict)}</p>{approval_chart(table)}{html_table(table)}"
        f"<p class='note'>{html.escape(note)}</p></body></html>"
    )


def write_report(table: FairnessTable, output: Path, *, title: str, note: str = "") -> None:
    """``fairness.html`` and ``fairness.json`` into ``output`` (created if needed)."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "fairness.json").write_bytes(
        orjson.dumps(table.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    )
    (output / "fairness.html").write_text(render_html(table, title=title, note=note))
