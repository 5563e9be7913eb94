"""The drift report: PSI per field and of the score, as JSON and as one HTML file.

The HTML is self-contained (charts inline as SVG, styles inline, no script, no
CDN), so it can be mailed, attached to a ticket or opened on an air-gapped
machine. Charts are drawn with matplotlib, which only this offline tool needs.

Records come from ``credit_risk.records.reader``; the report uses those with
the fields it measures (``has_drift_fields``): ``time``, a finite
``default_probability`` and the 13 application fields, each of its type.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from credit_risk.drift.psi import (
    ACT_ABOVE,
    EPSILON,
    SCORE_FIELD,
    WATCH_FROM,
    Band,
    Bins,
    NumericBins,
    ReferenceBins,
    band_of,
    psi_terms,
)
from credit_risk.records.reader import ReadStats
from credit_risk.vocabulary import APPLICATION_FIELDS, CATEGORICAL_FIELDS

CHUNK: Final = 10_000
"""Records binned at a time: memory stays flat however many records there are."""
TOP_MOVERS: Final = 5
BAND_COLOURS: Final = {Band.STABLE: "#2e7d32", Band.WATCH: "#ef6c00", Band.ACT: "#c62828"}
REFERENCE_COLOUR: Final = "#90a4ae"
CURRENT_COLOUR: Final = "#1565c0"


@dataclass(frozen=True)
class FieldDrift:
    """PSI of one field, with the reference and current share of every bin."""

    name: str
    kind: str
    psi: float
    labels: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]
    terms: tuple[float, ...]
    """Each bin's part of the PSI."""

    @property
    def band(self) -> Band:
        """Stable, watch or act."""
        return band_of(self.psi)

    @property
    def top_bin(self) -> int:
        """The bin that moved the PSI most."""
        return int(np.argmax(self.terms))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "field": self.name,
            "kind": self.kind,
            "psi": self.psi,
            "band": str(self.band),
            "bins": [
                {"label": label, "reference_share": ref, "current_share": cur, "psi_term": term}
                for label, ref, cur, term in zip(
                    self.labels,
                    self.reference_shares,
                    self.current_shares,
                    self.terms,
                    strict=True,
                )
            ],
        }


@dataclass(frozen=True)
class DriftReport:
    """Every field's drift for one model over a set of decision records."""

    model_tag: str
    generated_at: dt.datetime
    since: dt.datetime | None
    stats: ReadStats
    fields: tuple[FieldDrift, ...]
    """The application fields, then the default probability."""

    @property
    def band(self) -> Band:
        """The worst band of any field or of the score."""
        return max((f.band for f in self.fields), key=lambda band: band.severity)

    @property
    def score(self) -> FieldDrift:
        """The default probability's drift."""
        return self.fields[-1]

    def top_movers(self, count: int = TOP_MOVERS) -> list[FieldDrift]:
        """The application fields of highest PSI, highest first."""
        return sorted(self.fields[:-1], key=lambda f: f.psi, reverse=True)[:count]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures, the same as the HTML shows."""
        return {
            "model_tag": self.model_tag,
            "generated_at": self.generated_at.isoformat(),
            "since": None if self.since is None else self.since.isoformat(),
            "band": str(self.band),
            "bands": {"stable_below": WATCH_FROM, "act_above": ACT_ABOVE, "epsilon": EPSILON},
            "records": self.stats.as_dict(),
            "score": self.score.as_dict(),
            "fields": [f.as_dict() for f in self.fields[:-1]],
            "top_movers": [f.name for f in self.top_movers()],
        }


def _kind(bins: Bins) -> str:
    if bins.name == SCORE_FIELD:
        return "score"
    return "numeric" if isinstance(bins, NumericBins) else "categorical"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def has_drift_fields(record: dict[str, Any]) -> bool:
    """Whether a record has what drift is measured on: a ``time``, a finite
    ``default_probability``, and an ``application`` with the 13 fields, labels as
    strings and numbers as numbers or ``null`` (the reader's ``usable`` check)."""
    application = record.get("application")
    if not (
        isinstance(record.get("time"), str)
        and _is_number(record.get("default_probability"))
        and isinstance(application, dict)
    ):
        return False
    for name in APPLICATION_FIELDS:
        if name not in application:
            return False
        value = application[name]
        if name in CATEGORICAL_FIELDS:
            if not isinstance(value, str):
                return False
        elif value is not None and not _is_number(value):
            return False
    return True


def count_bins(bins: ReferenceBins, records: Iterable[dict[str, Any]]) -> list[np.ndarray]:
    """Count per bin of every field (the default probability last) over the records
    (each passing ``has_drift_fields``)."""
    counts = [np.zeros(size, dtype=np.int64) for size in bins.sizes]
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        for position, field_bins in enumerate(bins.fields):
            if field_bins.name == SCORE_FIELD:
                values: list[Any] = [float(r["default_probability"]) for r in chunk]
            else:
                values = [r["application"][field_bins.name] for r in chunk]
            found = field_bins.indices(values)
            counts[position] += np.bincount(found, minlength=len(field_bins.shares))
    return counts


def measure(
    bins: ReferenceBins,
    records: Iterable[dict[str, Any]],
    *,
    model_tag: str,
    since: dt.datetime | None,
    stats: ReadStats,
) -> DriftReport:
    """The drift report of the records against the reference bins."""
    fields = []
    for field_bins, counts in zip(bins.fields, count_bins(bins, records), strict=True):
        total = counts.sum()
        terms = psi_terms(field_bins.shares, counts)
        fields.append(
            FieldDrift(
                name=field_bins.name,
                kind=_kind(field_bins),
                psi=float(terms.sum()),
                labels=field_bins.labels,
                reference_shares=tuple(field_bins.shares.tolist()),
                current_shares=tuple((counts / total if total else counts * 0.0).tolist()),
                terms=tuple(terms.tolist()),
            )
        )
    return DriftReport(
        model_tag=model_tag,
        generated_at=dt.datetime.now(dt.UTC),
        since=since,
        stats=stats,
        fields=tuple(fields),
    )


def write_json(report: DriftReport, path: Path) -> None:
    """Write the report's figures as JSON."""
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")


def _chart(drift: FieldDrift) -> str:
    """Reference against current share per bin, as an inline SVG element."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    shown = [
        i
        for i, (ref, cur) in enumerate(
            zip(drift.reference_shares, drift.current_shares, strict=True)
        )
        if ref > 0 or cur > 0
    ]
    positions = np.arange(len(shown))
    with rc_context({"svg.fonttype": "none", "font.size": 8, "svg.hashsalt": drift.name}):
        figure = Figure(figsize=(5.6, 2.3))
        axes = figure.subplots()
        axes.bar(
            positions - 0.2,
            [drift.reference_shares[i] for i in shown],
            0.4,
            label="reference",
            color=REFERENCE_COLOUR,
        )
        axes.bar(
            positions + 0.2,
            [drift.current_shares[i] for i in shown],
            0.4,
            label="current",
            color=CURRENT_COLOUR,
        )
        axes.set_xticks(positions, [drift.labels[i] for i in shown], rotation=30, ha="right")
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2)
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _badge(band: Band) -> str:
    return f'<span class="badge" style="background:{BAND_COLOURS[band]}">{band}</span>'


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _section(drift: FieldDrift) -> str:
    top = drift.top_bin
    return (
        f"<section><h3>{html.escape(drift.name)} <small>{drift.kind}</small> "
        f"PSI {drift.psi:.3f} {_badge(drift.band)}</h3>"
        f"<p>Largest move: {html.escape(drift.labels[top])}, "
        f"{_percent(drift.reference_shares[top])} → {_percent(drift.current_shares[top])}</p>"
        f"{_chart(drift)}</section>"
    )


_STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:24px;color:#212121;max-width:1140px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
h3{font-size:15px;margin:0 0 4px} h3 small{color:#757575;font-weight:normal}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #e0e0e0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(2,1fr);gap:14px}
section{border:1px solid #e0e0e0;border-radius:4px;padding:10px} section p{margin:2px 0;
font-size:12px;color:#555} svg{width:100%;height:auto} .meta{font-size:13px;color:#555}
"""


def render_html(report: DriftReport) -> str:
    """The report as one self-contained HTML page."""
    stats = report.stats
    others = ", ".join(f"{html.escape(tag)}: {n}" for tag, n in stats.other_models.most_common())
    movers = "".join(
        f"<tr><td>{html.escape(f.name)}</td><td class=n>{f.psi:.3f}</td><td>{_badge(f.band)}</td>"
        f"<td>{html.escape(f.labels[f.top_bin])}</td>"
        f"<td class=n>{_percent(f.reference_shares[f.top_bin])} → "
        f"{_percent(f.current_shares[f.top_bin])}</td></tr>"
        for f in report.top_movers()
    )
    ordered = sorted(report.fields[:-1], key=lambda f: f.psi, reverse=True)
    period = f"{_stamp(stats.first_time)} to {_stamp(stats.last_time)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift report: {html.escape(report.model_tag)}</title><style>{_STYLE}</style></head>
<body>
<h1>Drift report {_badge(report.band)}</h1>
<p class="meta">Model <b>{html.escape(report.model_tag)}</b> · {stats.used:,} decisions,
{period}{" (since " + _stamp(report.since) + ")" if report.since else ""} ·
generated {_stamp(report.generated_at)}<br>
PSI bands: &lt; {WATCH_FROM:.2f} stable, {WATCH_FROM:.2f} to {ACT_ABOVE:.2f} watch,
&gt; {ACT_ABOVE:.2f} act · read {stats.files} files, {stats.lines:,} lines;
skipped {stats.partial} partial and {stats.unreadable} unreadable lines,
{stats.before_since:,} records before --since, {sum(stats.other_models.values()):,}
of other models{": " + others if others else ""}</p>
<div class="grid"><div><h2>Score</h2>{_section(report.score)}</div>
<div><h2>Top movers</h2>
<table><tr><th>field</th><th>PSI</th><th>band</th><th>bin that moved most</th>
<th>reference → current</th></tr>{movers}</table></div></div>
<h2>Every field</h2>
<div class="grid">{"".join(_section(f) for f in ordered)}</div>
</body></html>
"""


def _stamp(moment: dt.datetime | None) -> str:
    return "n/a" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def write_html(report: DriftReport, path: Path) -> None:
    """Write the report as one self-contained HTML file."""
    path.write_text(render_html(report), encoding="utf-8")
