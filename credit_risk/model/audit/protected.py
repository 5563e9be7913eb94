"""How many applications a field is among the principal reasons of: for a prohibited
basis (Regulation B, 12 CFR 1002.6(b)(1): ``marital``), each one is an adverse-action
notice citing it.

The reasons are chosen by ``reasons.principal_reason_columns``, the code every
decision of the service and of batch scoring takes its reasons from, on the
service's own explanation (``ServedModel.explain``): the counts are what the
service would say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from credit_risk.reasons import principal_reason_columns
from credit_risk.vocabulary import APPLICATION_FIELDS

DEFAULT_PROTECTED_FIELD: Final = "marital"
"""Marital status: a prohibited basis under Regulation B."""


@dataclass(frozen=True)
class CitedField:
    """How often one field is among the principal reasons."""

    field: str
    rows: int
    """Applications audited."""
    citing: int
    """Applications whose principal reasons include the field."""
    max_contribution: float
    """The field's largest contribution among them (log-odds); 0 when none cites it."""

    @property
    def holds(self) -> bool:
        """No application cites the field."""
        return self.citing == 0


def reason_mask(scored: npt.NDArray[np.float32], field: str) -> npt.NDArray[np.bool_]:
    """Per application, whether ``field`` is among its principal reasons; ``scored`` is
    ``ServedModel.explain``'s output (the probability, then the 13 fields' contributions)."""
    column = APPLICATION_FIELDS.index(field)
    # Nothing left out: the service never cites a protected field (reasons.py), so what
    # is measured is what the model alone would put among the reasons.
    fields, has_reason = principal_reason_columns(scored[:, 1:], never_cited=())
    return ((fields == column) & has_reason).any(axis=1)


def cited_field(
    scored: npt.NDArray[np.float32], field: str = DEFAULT_PROTECTED_FIELD
) -> CitedField:
    """Count the applications whose principal reasons cite ``field``."""
    cited = reason_mask(scored, field)
    contributions = scored[cited, 1 + APPLICATION_FIELDS.index(field)]
    return CitedField(
        field=field,
        rows=len(scored),
        citing=int(cited.sum()),
        max_contribution=float(contributions.max(initial=0.0)),
    )
