"""Every audit over a population of applications, and the report they make together.

A population is the dataset's rows or generated applications; the report holds,
per population, the applications citing a protected field among their reasons,
the elderly rule and every declared direction, plus the issue's income sweep (the
first 500 rows of the data, income from 50 to 800), and says which property fails.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.directions import DirectionAudit, Domain, audit_direction
from credit_risk.model.audit.elderly import ElderlyAudit, audit_elderly
from credit_risk.model.audit.protected import DEFAULT_PROTECTED_FIELD, CitedField, cited_field
from credit_risk.policy import DecisionPolicy
from credit_risk.vocabulary import FIELD_DIRECTIONS

SWEEP_ROWS: Final = 500
"""Applications of the income sweep: the first rows of the data."""
SWEEP_DOMAIN: Final = Domain(50.0, 800.0)
"""Incomes of the sweep: the issue measured the served model from 50 to 800."""


class AuditedModel(Protocol):
    """What the audits need of a model: ``store.ServedModel`` is one."""

    @property
    def booster(self) -> xgb.Booster:
        """The trees, for their splits and XGBoost's margin."""

    @property
    def policy(self) -> DecisionPolicy:
        """The decision policy stored with the model."""

    def explain(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Per encoded row: the probability, then the 13 fields' contributions."""


@dataclass(frozen=True)
class PopulationAudit:
    """The audits over one population of applications."""

    name: str
    rows: int
    protected: CitedField
    elderly: ElderlyAudit
    directions: list[DirectionAudit]

    def failures(self) -> list[str]:
        """One line per property that fails on this population."""
        failed = []
        if not self.protected.holds:
            failed.append(
                f"{self.name}: {self.protected.citing} of {self.rows} applications cite "
                f"{self.protected.field} among their principal reasons"
            )
        if not self.elderly.holds:
            failed.append(
                f"{self.name}: the elderly rule fails for {self.elderly.lower_when_younger} "
                f"of {self.elderly.rows} applicants aged 62+ (lower risk when younger), "
                f"{self.elderly.risk_raising_age} with a risk-raising age contribution, "
                f"{self.elderly.age_among_reasons} with age among their reasons"
            )
        failed += [
            f"{self.name}: {audit.field} moves against its direction for {audit.violating} "
            f"of {audit.rows} applications"
            for audit in self.directions
            if not audit.holds
        ]
        return failed


@dataclass(frozen=True)
class AuditReport:
    """The audits of one model over its populations, and the income sweep."""

    model_tag: str
    populations: list[PopulationAudit]
    income_sweep: DirectionAudit | None
    sources: dict[str, str]
    """Where each population came from (the data file and its sha256, the generator)."""
    seconds: float

    def failures(self) -> list[str]:
        """One line per property that fails, over every population."""
        return [line for population in self.populations for line in population.failures()]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values, with ``holds`` per audit and ``passed`` overall."""

        def with_holds(audit: Any) -> dict[str, Any]:
            return {**dataclasses.asdict(audit), "holds": audit.holds}

        return {
            "model_tag": self.model_tag,
            "passed": not self.failures(),
            "failures": self.failures(),
            "sources": self.sources,
            "seconds": round(self.seconds, 1),
            "populations": [
                {
                    "name": population.name,
                    "rows": population.rows,
                    "protected": with_holds(population.protected),
                    "elderly": with_holds(population.elderly),
                    "directions": [with_holds(audit) for audit in population.directions],
                }
                for population in self.populations
            ],
            "income_sweep": with_holds(self.income_sweep) if self.income_sweep else None,
        }


def audit_population(
    name: str,
    applications: Applications,
    model: AuditedModel,
    *,
    protected_field: str = DEFAULT_PROTECTED_FIELD,
    fields: tuple[str, ...] = tuple(FIELD_DIRECTIONS),
) -> PopulationAudit:
    """Run every audit over ``applications``: the protected field among the reasons,
    the elderly rule, and the direction of each of ``fields``."""
    scored = model.explain(applications.encoded)
    return PopulationAudit(
        name=name,
        rows=len(applications),
        protected=cited_field(scored, protected_field),
        elderly=audit_elderly(model.explain, applications, scored),
        directions=[
            audit_direction(model.booster, applications, field, model.policy) for field in fields
        ],
    )


def income_sweep(data: Applications, model: AuditedModel) -> DirectionAudit:
    """The issue's measure, exactly: the first ``SWEEP_ROWS`` rows of the data with
    their income moved from 50 to 800, everything else equal."""
    first = data.take(np.arange(min(SWEEP_ROWS, len(data))))
    return audit_direction(model.booster, first, "income", model.policy, domain=SWEEP_DOMAIN)
