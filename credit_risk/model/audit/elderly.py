"""Regulation B's elderly rule, checked exactly.

12 CFR 1002.6(b)(2)(ii) allows age in an empirically derived, demonstrably and
statistically sound credit scoring system only if the age of an elderly applicant
(62 or older) is not assigned a negative factor or value. Three measures of it, for
every application aged 62 or more:

- its age contribution raises the risk: the age field's contribution as the
  service's explainer gives it (TreeSHAP in log-odds, summed over every feature age
  feeds: ``reasons.FIELD_WEIGHTS``);
- age is among its principal reasons (the service's reasons code);
- it would get a lower default probability at some younger age, 18 to 61, all else
  equal (its derived features recomputed by the feature code).

Age is an integer field (the API refuses anything else), so the 44 younger ages are
every age there is: evaluating each one is exact, not a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from credit_risk.features import ELDERLY_AGE
from credit_risk.model.audit.applications import Applications
from credit_risk.model.audit.protected import reason_mask
from credit_risk.vocabulary import APPLICATION_FIELDS

MIN_AGE: Final = 18
"""The youngest age the API accepts (``schema.CreditApplication``)."""
YOUNGER_AGES: Final = tuple(range(MIN_AGE, ELDERLY_AGE))
"""Every age an elderly applicant is compared with: 18 to 61, all 44 of them."""

_AGE: Final = APPLICATION_FIELDS.index("age")

Explain = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
"""``ServedModel.explain``: per encoded row, the probability, then 13 contributions."""


@dataclass(frozen=True)
class ElderlyAudit:
    """The elderly rule over the applications aged 62 or more."""

    rows: int
    """Applications aged 62 or more."""
    risk_raising_age: int
    """Their age contribution is positive: it raises the risk."""
    max_age_contribution: float
    """The largest age contribution among them (log-odds); 0 when none is positive."""
    age_among_reasons: int
    """Age is among their principal reasons."""
    lower_when_younger: int
    """Some age from 18 to 61 gives them a lower default probability, all else equal."""
    max_decrease: float
    """The largest such decrease of the default probability (0 to 1)."""

    @property
    def holds(self) -> bool:
        """No elderly applicant is assigned a negative factor for their age."""
        return self.risk_raising_age == self.age_among_reasons == self.lower_when_younger == 0


def audit_elderly(
    explain: Explain, applications: Applications, scored: npt.NDArray[np.float32]
) -> ElderlyAudit:
    """Check the elderly rule; ``scored`` is ``explain(applications.encoded)``."""
    elderly = np.flatnonzero(applications.numeric["age"] >= ELDERLY_AGE)
    own = scored[elderly]
    contributions = own[:, 1 + _AGE]
    raising = contributions > 0
    # Every younger age of every elderly row in one batch: row-major, 44 per row.
    rows = np.repeat(elderly, len(YOUNGER_AGES))
    ages = np.tile(np.asarray(YOUNGER_AGES, dtype=np.float64), len(elderly))
    younger = explain(applications.with_numeric("age", rows, ages))[:, 0]
    youngest_risk = younger.reshape(len(elderly), len(YOUNGER_AGES)).min(axis=1, initial=np.inf)
    decrease = own[:, 0].astype(np.float64) - youngest_risk
    return ElderlyAudit(
        rows=len(elderly),
        risk_raising_age=int(raising.sum()),
        max_age_contribution=float(contributions[raising].max(initial=0.0)),
        age_among_reasons=int(reason_mask(own, "age").sum()),
        lower_when_younger=int((decrease > 0).sum()),
        max_decrease=float(decrease.max(initial=0.0)),
    )
