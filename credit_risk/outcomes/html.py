"""The back-test as one self-contained HTML page (charts inline as SVG, no script),
and as JSON. The charts are drawn as SVG text here, so that the command needs no
plotting library."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from credit_risk.outcomes.backtest import BacktestReport, Segment, Verdict

_VERDICT_COLOURS: Final = {
    Verdict.SOUND: "#2e7d32",
    Verdict.WATCH: "#ef6c00",
    Verdict.ACT: "#c62828",
}
"""The drift report's colours (credit_risk.drift.report.BAND_COLOURS), not imported:
that module pulls in the model store's pydantic types, 4 s of start-up here."""
_WIDTH, _HEIGHT, _PAD = 480, 260, 44
_INK: Final = "#1565c0"
_GUIDE: Final = "#90a4ae"

_CSS: Final = """
body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1140px;color:#212121}
h1{font-size:22px} h2{font-size:17px;margin:26px 0 6px} .note{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:4px 0} th,td{padding:3px 9px;
border-bottom:1px solid #e0e0e0;text-align:left} td.n{text-align:right;
font-variant-numeric:tabular-nums} .verdict{color:#fff;border-radius:3px;padding:1px 6px}
.charts{display:flex;gap:16px;flex-wrap:wrap} figure{margin:0;border:1px solid #e0e0e0;
border-radius:4px;padding:8px} figcaption{font-size:12px;color:#555}
"""


def _colour(verdict: Verdict | None) -> str:
    return "#9e9e9e" if verdict is None else _VERDICT_COLOURS[verdict]


def _badge(verdict: Verdict | None) -> str:
    text = "too few" if verdict is None else str(verdict)
    return f'<span class="verdict" style="background:{_colour(verdict)}">{text}</span>'


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def errorbar_svg(
    points: Sequence[tuple[float, float, float, float, str]],
    *,
    x_label: str,
    y_label: str,
    limits: tuple[float, float],
    diagonal: bool = False,
    x_ticks: Sequence[tuple[float, str]] = (),
) -> str:
    """An SVG chart of points (x, y, low, high, colour) with vertical interval bars."""
    low, high = limits
    span = (high - low) or 1.0

    def sx(x: float) -> float:
        return _PAD + (x - low) / span * (_WIDTH - 2 * _PAD)

    def sy(y: float) -> float:
        return _HEIGHT - _PAD - (y - low) / span * (_HEIGHT - 2 * _PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" font-size="11" font-family="sans-serif">',
        f'<line x1="{_PAD}" y1="{sy(low)}" x2="{_WIDTH - _PAD}" y2="{sy(low)}" stroke="#757575"/>',
        f'<line x1="{_PAD}" y1="{sy(low)}" x2="{_PAD}" y2="{sy(high)}" stroke="#757575"/>',
    ]
    for step in range(5):
        value = low + span * step / 4
        parts.append(
            f'<text x="{_PAD - 4}" y="{sy(value) + 4:.1f}" text-anchor="end">{value:.2f}</text>'
        )
        if not x_ticks:
            parts.append(
                f'<text x="{sx(value):.1f}" y="{_HEIGHT - _PAD + 14}" '
                f'text-anchor="middle">{value:.2f}</text>'
            )
    for x, label in x_ticks:
        parts.append(
            f'<text x="{sx(x):.1f}" y="{_HEIGHT - _PAD + 14}" '
            f'text-anchor="middle">{html.escape(label)}</text>'
        )
    if diagonal:
        parts.append(
            f'<line x1="{sx(low)}" y1="{sy(low)}" x2="{sx(high)}" y2="{sy(high)}" '
            f'stroke="{_GUIDE}" stroke-dasharray="4 3"/>'
        )
    for x, y, bottom, top, colour in points:
        if not all(math.isfinite(v) for v in (x, y)):
            continue
        if math.isfinite(bottom) and math.isfinite(top):
            parts.append(
                f'<line x1="{sx(x):.1f}" y1="{sy(bottom):.1f}" x2="{sx(x):.1f}" '
                f'y2="{sy(top):.1f}" stroke="{colour}" stroke-width="2"/>'
            )
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{colour}"/>')
    parts.append(
        f'<text x="{_WIDTH / 2}" y="{_HEIGHT - 8}" text-anchor="middle">{x_label}</text>'
        f'<text x="12" y="{_HEIGHT / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_HEIGHT / 2})">{y_label}</text></svg>'
    )
    return "".join(parts)


def _calibration_chart(model: Segment) -> str:
    points = [
        (b.expected, b.realised, b.interval[0], b.interval[1], _colour(b.verdict))
        for b in model.bands
        if b.n
    ]
    top = max([0.1] + [max(p[0], p[1], p[3]) for p in points if math.isfinite(p[3])])
    return errorbar_svg(
        points,
        x_label="expected default rate (mean probability)",
        y_label="realised default rate",
        limits=(0.0, min(1.0, top * 1.05)),
        diagonal=True,
    )


def _vintage_chart(report: BacktestReport) -> str:
    points = [
        (
            float(i),
            v.discrimination.auc,
            *v.discrimination.auc_interval,
            _INK,
        )
        for i, v in enumerate(report.vintages)
    ]
    aucs = [p for point in points for p in point[1:4] if math.isfinite(p)]
    low = min([0.5, *aucs])
    count = len(report.vintages)
    # The x axis is the vintage's index on the AUC scale, so that both share limits.
    scaled = [
        (low + (i + 0.5) / count * (1 - low), y, b, t, c)
        for i, (_, y, b, t, c) in enumerate(points)
    ]
    ticks = [(p[0], v.name) for p, v in zip(scaled, report.vintages, strict=True)]
    return errorbar_svg(
        scaled,
        x_label="vintage (month of decision)",
        y_label="realised AUC",
        limits=(low, 1.0),
        x_ticks=ticks,
    )


class _Figure(str):
    """A table cell holding a figure: right-aligned."""


def _row(*cells: str) -> str:
    """One ``<tr>``: each cell's HTML, figures (``_Figure``) right-aligned."""
    tds = "".join(
        f"<td class=n>{cell}</td>" if isinstance(cell, _Figure) else f"<td>{cell}</td>"
        for cell in cells
    )
    return f"<tr>{tds}</tr>"


def _table(headings: str, rows: Iterable[str]) -> str:
    """A table with these comma-separated headings over these ``<tr>`` rows."""
    cells = "".join(f"<th>{html.escape(h.strip())}</th>" for h in headings.split(","))
    return f"<table><tr>{cells}</tr>{''.join(rows)}</table>"


def _interval(low: float | None, high: float | None) -> str:
    return f"{_rate(low)} to {_rate(high)}"


def _models_table(report: BacktestReport) -> str:
    rows = (
        _row(
            html.escape(m.name),
            _badge(m.verdict(report.thresholds)),
            _Figure(f"{m.discrimination.n:,}"),
            _Figure(f"{m.discrimination.defaults:,}"),
            _Figure(
                f"{_number(m.discrimination.auc)} [{_number(m.discrimination.auc_interval[0])}, "
                f"{_number(m.discrimination.auc_interval[1])}]"
            ),
            _Figure(_number(m.discrimination.gini)),
            _Figure(
                f"{_number(m.discrimination.ks)} [{_number(m.discrimination.ks_interval[0])}, "
                f"{_number(m.discrimination.ks_interval[1])}]"
            ),
            _Figure(_rate(m.expected)),
            _Figure(_rate(m.realised)),
            _Figure(f"{m.hosmer_lemeshow.statistic:.1f} (p {m.hosmer_lemeshow.p_value:.2g})"),
            html.escape(", ".join(m.failing_bands()) or "-"),
        )
        for m in (*report.models, *report.vintages)
    )
    return _table(
        "model / vintage, verdict, outcomes, defaults, AUC [95%], Gini, KS [95%], expected, "
        "realised, Hosmer-Lemeshow, failing bands",
        rows,
    )


def _bands_table(model: Segment) -> str:
    rows = (
        _row(
            b.label,
            _Figure("-" if b.score_range is None else f"{b.score_range[0]}-{b.score_range[1]}"),
            _Figure(f"{b.n:,}"),
            _Figure(f"{b.defaults:,}"),
            _Figure(_rate(b.expected)),
            _Figure(_rate(b.realised)),
            _Figure(_interval(*b.interval)),
            _badge(b.verdict),
        )
        for b in model.bands
    )
    return _table(
        "probability band, scores, outcomes, defaults, expected, realised, realised interval, "
        "verdict",
        rows,
    )


def _fairness_table(report: BacktestReport) -> str:
    rows = (
        _row(
            g.group,
            html.escape(g.value),
            _Figure(f"{g.decided:,}"),
            _Figure(f"{g.approved:,}"),
            _Figure(f"{g.defaults:,}"),
            _Figure(_rate(g.rate)),
            _Figure(_interval(*g.interval)),
        )
        for g in report.fairness
    )
    return _table(
        "group, , with outcome, approved, defaults, default rate among approved, 95% interval",
        rows,
    )


def render_html(report: BacktestReport) -> str:
    """The report as one self-contained HTML page."""
    t = report.thresholds
    counts = report.counts
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report.reasons()) or "<li>none</li>"
    calibration = "".join(
        f"<figure>{_calibration_chart(m)}<figcaption>{html.escape(m.name)}: realised against "
        f"expected per band, {t.band_watch:.0%} Jeffreys interval</figcaption></figure>"
        for m in report.models
    )
    bands = "".join(f"<h3>{html.escape(m.name)}</h3>{_bands_table(m)}" for m in report.models)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Outcomes back-test</title>
<style>{_CSS}</style></head><body>
<h1>Outcomes back-test {_badge(report.verdict)}</h1>
<p class="note">{counts.get("joined", 0):,} decisions with their outcome, of
{counts.get("decisions", 0):,} decisions recorded and {counts.get("outcomes", 0):,} outcomes
stored · {counts.get("unknown", 0):,} outcomes without a decision record ·
{counts.get("duplicates", 0):,} duplicate records counted once ·
{counts.get("partial", 0):,} partial lines skipped ·
{counts.get("conflicts", 0):,} conflicting outcomes set aside ·
generated {report.generated_at:%Y-%m-%d %H:%M UTC}</p>
<p class="note">Thresholds: AUC below {t.auc_watch:.2f} watch, below {t.auc_act:.2f} act; a
band whose expected rate is outside its realised rate's Jeffreys interval at
{t.band_watch:.1%} watch, at {t.band_act:.1%} act (bands of {t.min_band}+ outcomes);
Hosmer-Lemeshow p below {t.hl_watch:g} watch.</p>
<h2>What set the verdict</h2><ul>{reasons}</ul>
<h2>Discrimination and calibration, per model and vintage</h2>{_models_table(report)}
<div class="charts">{calibration}<figure>{_vintage_chart(report)}<figcaption>realised AUC per
vintage, 95% bootstrap interval</figcaption></figure></div>
<h2>Calibration by score band</h2>{bands}
<h2>Fairness groups (shown, not judged)</h2>{_fairness_table(report)}
</body></html>
"""


def _strict(value: object) -> object:
    """``value`` with every NaN as ``None``: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def write_report(report: BacktestReport, output: Path) -> None:
    """Write ``outcomes.json`` and ``outcomes.html`` into ``output``."""
    output.mkdir(parents=True, exist_ok=True)
    figures = json.dumps(_strict(report.as_dict()), indent=2, allow_nan=False)
    (output / "outcomes.json").write_text(figures + "\n")
    (output / "outcomes.html").write_text(render_html(report), encoding="utf-8")
