"""The swap-set report as one self-contained HTML page (tables, an inline SVG chart) and
its JSON. Charts are drawn with matplotlib, which only this offline tool needs."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Final

import numpy as np

from credit_risk.governance.swaps import ACT_ABOVE, STATUSES, WATCH_FROM, SwapReport, Verdict

VERDICT_COLOURS: Final = {
    Verdict.SMALL: "#2e7d32",
    Verdict.WATCH: "#ef6c00",
    Verdict.LARGE: "#c62828",
}
CHART_COLOUR: Final = "#1565c0"
_STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:24px;color:#212121;max-width:1140px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:24px}
table{border-collapse:collapse;font-size:13px} td,th{padding:4px 10px;text-align:left;
border-bottom:1px solid #e0e0e0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(2,1fr);gap:18px} svg{width:100%;height:auto}
.meta{font-size:13px;color:#555} td.swap-in{background:#e8f5e9} td.swap-out{background:#ffebee}
"""


def write_json(report: SwapReport, path: Path) -> None:
    """Write the report's figures as JSON."""
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def _badge(verdict: Verdict) -> str:
    colour = VERDICT_COLOURS[verdict]
    return f'<span class="badge" style="background:{colour}">{verdict.name.lower()}</span>'


def _shift_chart(report: SwapReport) -> str:
    """The challenger's score minus the champion's, per decision, as an inline SVG."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    shifts = np.asarray(report.score_shifts)
    with rc_context({"svg.fonttype": "none", "font.size": 8, "svg.hashsalt": "swaps"}):
        figure = Figure(figsize=(5.6, 2.4))
        axes = figure.subplots()
        axes.hist(shifts, bins=40, color=CHART_COLOUR)
        axes.axvline(0, color="#212121", linewidth=0.8)
        axes.set_xlabel("challenger's score - champion's score (points)")
        axes.set_ylabel("decisions")
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _cell_class(champion: str, challenger: str) -> str:
    if challenger == STATUSES[0] and champion != STATUSES[0]:
        return "n swap-in"
    if champion == STATUSES[0] and challenger != STATUSES[0]:
        return "n swap-out"
    return "n"


def _table(report: SwapReport) -> str:
    head = "".join(f"<th>challenger {s}</th>" for s in STATUSES)
    rows = ""
    for a in STATUSES:
        cells = ""
        for b in STATUSES:
            known, defaults = report.defaults[a][b]
            rate = f"<br><small>default {defaults / known:.1%} of {known}</small>" if known else ""
            cells += (
                f'<td class="{_cell_class(a, b)}">{report.cells[a][b]:,} '
                f"({report.share(a, b):.1%}){rate}</td>"
            )
        rows += f"<tr><th>champion {a}</th>{cells}</tr>"
    return f"<table><tr><th></th>{head}</tr>{rows}</table>"


def _fields(report: SwapReport) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.name)}</td><td>{m.kind}</td>"
        f"<td class=n>{html.escape(m.everyone)}</td><td class=n>{html.escape(m.swap_in)}</td>"
        f"<td class=n>{html.escape(m.swap_out)}</td></tr>"
        for m in report.fields
    )
    return (
        "<table><tr><th>field</th><th></th><th>all</th><th>swap-in</th><th>swap-out</th></tr>"
        f"{rows}</table>"
    )


def render_html(report: SwapReport, generated: str) -> str:
    """The report as one self-contained HTML page."""
    figures = report.as_dict()
    champion_rate, challenger_rate = report.approval_rates
    shift = figures["score_shift"]
    swapped = (report.swap_in + report.swap_out) / report.decisions
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Swap set: {html.escape(report.challenger)}</title><style>{_STYLE}</style></head>
<body>
<h1>Swap set {_badge(report.verdict)}</h1>
<p class="meta">Champion <b>{html.escape(report.champion)}</b>, challenger
<b>{html.escape(report.challenger)}</b> · {report.decisions:,} decisions scored by both,
{report.first_time or "n/a"} to {report.last_time or "n/a"} · {report.skipped:,} records
without a scored challenger skipped · generated {generated}<br>
Swapped (in + out) {swapped:.1%}: under {WATCH_FROM:.0%} small, {WATCH_FROM:.0%} to
{ACT_ABOVE:.0%} watch, above {ACT_ABOVE:.0%} large</p>
<div class="grid"><div><h2>Champion by challenger</h2>{_table(report)}
<p class="meta">Approval rate: champion {champion_rate:.1%}, challenger {challenger_rate:.1%}.
Swap-in (green: the challenger approves, the champion does not) {report.swap_in:,};
swap-out (red: the reverse) {report.swap_out:,}.</p></div>
<div><h2>Score shift</h2>{_shift_chart(report)}
<p class="meta">Mean {shift["mean"]:+.1f} points, median {shift["median"]:+.1f};
{shift["changed"]:.0%} of scores changed.</p></div></div>
<h2>Who moves</h2>
<p class="meta">Numeric fields: medians; categories: the value most over-represented in
each set, and its share there.</p>
{_fields(report)}
</body></html>
"""


def write_html(report: SwapReport, path: Path, generated: str) -> None:
    """Write the report as one self-contained HTML file."""
    path.write_text(render_html(report, generated), encoding="utf-8")
