"""The model card: what a model is for, what it was trained on and how well it does,
what it scores and what it must not, what is proven of it, and how fair its
decisions are, written from the stored metadata alone (Markdown and HTML).

``train.py`` writes both beside the booster in the store entry (``save_to_store``);
the service serves them at ``/model/card`` and links them from the page. Every
figure is the metadata's, formatted here: a test reads each one back.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Final

from credit_risk.fairness.report import markdown_table
from credit_risk.features import FEATURE_NAMES
from credit_risk.model import CARD_HTML, CARD_MARKDOWN
from credit_risk.model.metadata import ModelMetadata
from credit_risk.policy import PROTECTED_FIELDS
from credit_risk.vocabulary import APPLICATION_FIELDS

__all__ = ["CARD_HTML", "CARD_MARKDOWN", "card_html", "card_markdown", "readable_params"]

_DIRECTION_WORDS: Final = {
    -1: "more never raises the default risk",
    1: "more never lowers the default risk",
}
_WHY_UNSCORED: Final = {
    "marital": "a prohibited basis under Regulation B (12 CFR 1002.6(b)(1)); kept in the "
    "records to measure fairness",
}


def readable_params(params: dict[str, Any]) -> dict[str, Any]:
    """The recipe's parameters, constraints by feature name instead of by column."""
    readable = dict(params)
    monotone = params.get("monotone_constraints")
    if isinstance(monotone, str) and monotone.strip("()"):
        senses = [int(v) for v in monotone.strip("()").split(",")]
        readable["monotone_constraints"] = ", ".join(
            f"{name} {sense:+d}" for name, sense in zip(FEATURE_NAMES, senses, strict=True) if sense
        )
    groups = params.get("interaction_constraints")
    if isinstance(groups, str) and groups.strip("[]"):
        readable["interaction_constraints"] = " | ".join(
            ", ".join(FEATURE_NAMES[i] for i in group) if len(group) < 5 else "every other feature"
            for group in json.loads(groups)
        )
    return readable


def _auc(value: float) -> str:
    return f"{value:.4f}"


def _scored_section(metadata: ModelMetadata) -> list[str]:
    proofs = metadata.proofs
    unscored = [name for name in APPLICATION_FIELDS if name not in proofs.scored_fields]
    lines = [
        "## Fields",
        "",
        f"- Scored: {', '.join(proofs.scored_fields)}.",
        f"- Not scored: {', '.join(unscored) or 'none'}.",
    ]
    for name in unscored:
        why = _WHY_UNSCORED.get(
            name,
            "declared protected by the policy"
            if name in proofs.protected_fields
            else "no tree splits on it",
        )
        lines.append(f"  - {name}: {why}.")
    served_anyway = [name for name in proofs.scored_fields if name in PROTECTED_FIELDS]
    if proofs.scored_protected_fields or served_anyway:
        scored = sorted({*proofs.scored_protected_fields, *served_anyway})
        lines.append(
            f"- **Scores protected fields: {', '.join(scored)}.** The service refuses to "
            "serve this model unless CREDIT_RISK_ALLOW_SCORED_PROTECTED names them."
        )
    return lines


def _proofs_section(metadata: ModelMetadata) -> list[str]:
    proofs = metadata.proofs
    lines = [
        "## Proven on the trees",
        "",
        "For every application the API accepts, not a sample: `credit_risk.model.audit.proofs` "
        "checks the trees after training, and training fails when a property does not hold.",
        "",
    ]
    lines += [
        f"- {name}: {_DIRECTION_WORDS[direction]}, everything else equal."
        for name, direction in proofs.directions.items()
    ]
    elderly = "holds" if proofs.elderly_rule else "is NOT proven"
    lines.append(
        f"- Regulation B's elderly rule {elderly}: the model reads {proofs.age_read_as}, in "
        "trees of its own, and an older applicant is never riskier; an applicant aged 62 "
        "or more never gets a higher default probability than at a younger age, and age "
        "is never among their reasons."
    )
    return lines


def card_markdown(tag: str, metadata: ModelMetadata) -> str:
    """The card in Markdown."""
    policy = metadata.policy
    low, high = metadata.test_auc_interval
    baseline = metadata.baseline
    lines = [
        f"# Model card: {tag}",
        "",
        "## Intended use",
        "",
        "Decides consumer loan applications (APPROVED, MAYBE for a loan officer's review, "
        "DECLINED) with the default probability, a score and up to four principal reasons for "
        "an adverse-action notice. Users: a lender's loan officers, apps and batch jobs, "
        "through the credit-risk service. Not for: applicants outside the training ranges "
        "without review (the answer flags them), other products than the one trained on, "
        "or any decision without a person accountable for the policy.",
        "",
        "## Data",
        "",
        f"- {metadata.n_rows:,} applications, {metadata.data_source}, "
        f"sha256 `{metadata.data_sha256}`.",
        f"- Trained at {metadata.trained_at}, XGBoost {metadata.xgboost_version}.",
        "",
        *_scored_section(metadata),
        "",
        "## Recipe",
        "",
        "```",
        *(f"{name}: {value}" for name, value in readable_params(metadata.params).items()),
        "```",
        "",
        "## Performance",
        "",
        f"- Repeated cross-validation (5x5) AUC {_auc(metadata.cv_auc)} "
        f"(standard deviation over folds {_auc(metadata.cv_auc_std)}).",
        f"- Held-out AUC (the course's test split, a fit on its train split) "
        f"{_auc(metadata.test_auc)}, 95% bootstrap interval {_auc(low)} to {_auc(high)}.",
        f"- Brier score {metadata.brier:.4f}, log loss {metadata.log_loss:.4f}.",
        f"- The course's recipe, evaluated the same way: CV AUC {_auc(baseline.cv_auc)}, "
        f"held-out AUC {_auc(baseline.test_auc)}.",
        "",
        "Calibration on the held-out split, by decile of predicted probability:",
        "",
        "| decile | applications | mean predicted | observed default rate |",
        "|---|---|---|---|",
        *(
            f"| {i} | {row.n} | {row.mean_predicted:.3f} | {row.observed_rate:.3f} |"
            for i, row in enumerate(metadata.calibration, start=1)
        ),
        "",
        *_proofs_section(metadata),
        "",
        "## Fairness on the held-out split",
        "",
        f"{metadata.fairness.decisions:,} decisions by policy {policy.version}. A group "
        "below four fifths of its most favoured group's approval rate is flagged.",
        "",
        markdown_table(metadata.fairness),
        "",
        "## Decision policy",
        "",
        f"- {policy.version}: DECLINED above a default probability of "
        f"{policy.decline_above}, MAYBE above {policy.review_above}, else APPROVED.",
        f"- Score: {policy.scorecard.base_points} points at odds 1:{policy.scorecard.base_odds},"
        f" {policy.scorecard.points_to_double_odds} fewer points double the odds of default.",
        "",
        "## Limitations",
        "",
        f"- Trained on {metadata.n_rows:,} applications from one lender (the public "
        "CreditScoring data): the held-out interval above is wide, and the population may "
        "differ from yours.",
        "- Outcomes are a repaid-or-defaulted label with no time to default; declined "
        "applicants have no outcome (reject inference is not attempted).",
        "- Marital status is not scored, but other fields may act as a proxy: the fairness "
        "table measures the effect; watch it on live decisions (`python -m "
        "credit_risk.fairness`).",
        "- Monotone directions and the age rule cost some accuracy (docs/model.md, the "
        "ablation table).",
    ]
    return "\n".join(lines) + "\n"


def card_html(tag: str, metadata: ModelMetadata) -> str:
    """The card as a self-contained HTML page (the Markdown, rendered plainly)."""
    body: list[str] = []
    in_code = in_list = False
    table: list[str] = []

    def close_table() -> None:
        if table:
            rows = [line.strip("|").split(" | ") for line in table if not line.startswith("|--")]
            head, *rest = rows
            body.append(
                "<table><tr>"
                + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
                + "</tr>"
                + "".join(
                    "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>"
                    for row in rest
                )
                + "</table>"
            )
            table.clear()

    for line in card_markdown(tag, metadata).splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            table.append(line)
            continue
        close_table()
        if in_list and not line.startswith(("- ", "  - ")):
            body.append("</ul>")
            in_list = False
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line).replace("**", ""))
        if line.startswith("# "):
            body.append(f"<h1>{text[2:]}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{text[3:]}</h2>")
        elif line.startswith(("- ", "  - ")):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{text.lstrip()[2:]}</li>")
        elif line:
            body.append(f"<p>{text}</p>")
    close_table()
    if in_list:
        body.append("</ul>")
    style = (
        "body{font:14px system-ui,sans-serif;margin:24px auto;max-width:980px;color:#212121}"
        "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 9px;"
        "border-bottom:1px solid #e0e0e0;text-align:left}pre{background:#f5f5f5;padding:8px;"
        "white-space:pre-wrap}ul ul{margin:0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Model card: "
        f"{html.escape(tag)}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
