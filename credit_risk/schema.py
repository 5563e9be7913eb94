"""Request and response models of the API, shared with locust and the tests.

``ModelCard`` (the ``/model`` answer) carries the parts of the stored model's
contract (``credit_risk.model.metadata.ModelMetadata``) that the API shows: the
``Metrics`` and the ``Reference`` distribution are defined here, with the other
wire models, because ``policy`` imports this module and the contract imports
``policy``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from credit_risk.model.metadata import (
    FairLendingProofs,
    FairnessTable,
    Metrics,
    ModelMetadata,
    Reference,
)
from credit_risk.policy import DecisionPolicy
from credit_risk.vocabulary import (
    APPLICATION_FIELDS,
    INTEGER_FIELDS,
    NUMERIC_FIELDS,
    Home,
    Job,
    Marital,
    Records,
    Status,
)

MAX_REASONS: Final = 4
"""Principal reasons per decision at most: Reg B's adverse-action notices name up to four."""

MAX_BATCH_SIZE: Final = 1000
"""Most applications accepted by one ``/classify_batch`` request."""

MAX_MONEY: Final = 1e9
"""Upper bound on money fields: far beyond any real application, it keeps floats sane."""

Money = Annotated[StrictFloat, Field(ge=0, le=MAX_MONEY)]
PositiveMoney = Annotated[StrictFloat, Field(gt=0, le=MAX_MONEY)]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

COURSE_EXAMPLE: Final[dict[str, object]] = {
    "seniority": 3,
    "home": "owner",
    "time": 36,
    "age": 26,
    "marital": "single",
    "records": "no",
    "job": "freelance",
    "expenses": 35,
    "income": 0.0,
    "assets": 60000.0,
    "debt": 3000.0,
    "amount": 800,
    "price": 1000,
}
"""The application the course sends; the Swagger UI shows it as the example."""


class CreditApplication(BaseModel):
    """One loan application, as the course's flat JSON.

    Numbers are strict: a string or a boolean where a number belongs is an
    error, not a coercion. Unknown fields are errors, so a misspelt field is
    never silently ignored.
    """

    model_config = ConfigDict(**_STRICT, json_schema_extra={"example": COURSE_EXAMPLE})

    seniority: Annotated[
        StrictInt, Field(ge=0, le=100, description="Years with the current employer.")
    ]
    home: Annotated[Home, Field(description="Housing situation.")]
    time: Annotated[StrictInt, Field(gt=0, le=600, description="Requested term, in months.")]
    age: Annotated[StrictInt, Field(ge=18, le=100, description="Age of the applicant, in years.")]
    marital: Annotated[Marital, Field(description="Marital status.")]
    records: Annotated[
        Records, Field(description="Whether the applicant has past default records.")
    ]
    job: Annotated[Job, Field(description="Kind of employment.")]
    expenses: Annotated[Money, Field(description="Monthly expenses.")]
    income: Annotated[
        Money | None, Field(description="Monthly income; 0 or null means not declared.")
    ]
    assets: Annotated[
        Money | None, Field(description="Value of the applicant's assets; null if not declared.")
    ]
    debt: Annotated[
        Money | None, Field(description="Amount of the applicant's debt; null if not declared.")
    ]
    amount: Annotated[PositiveMoney, Field(description="Requested loan amount.")]
    price: Annotated[PositiveMoney, Field(description="Price of the goods being financed.")]


def application_records(columns: Mapping[str, npt.ArrayLike]) -> list[dict[str, Any]]:
    """Applications given column-wise (a clean training frame, validated batch columns)
    as ``CreditApplication`` holds them: per application, a dict of the 13 fields in
    ``APPLICATION_FIELDS`` order, integers as ``int``, money as ``float``, a missing
    value (NaN) as ``None``, labels as ``str``. The API's bodies and the records' form."""
    values: list[list[Any]] = []
    for name in APPLICATION_FIELDS:
        if name in INTEGER_FIELDS:
            values.append(np.asarray(columns[name]).astype(np.int64).tolist())
        elif name in NUMERIC_FIELDS:
            money = np.asarray(columns[name], dtype=np.float64).tolist()
            values.append([None if math.isnan(value) else value for value in money])
        else:
            values.append(np.asarray(columns[name]).tolist())
    return [dict(zip(APPLICATION_FIELDS, row, strict=True)) for row in zip(*values, strict=True)]


class ApplicationBatch(BaseModel):
    """Several applications, decided in one request and answered in order."""

    model_config = ConfigDict(
        **_STRICT, json_schema_extra={"example": {"applications": [COURSE_EXAMPLE]}}
    )

    applications: Annotated[list[CreditApplication], Field(min_length=1, max_length=MAX_BATCH_SIZE)]


class Reason(BaseModel):
    """A principal reason that pushed the application towards default."""

    code: str = Field(description="Stable reason code, for adverse-action notices.")
    field: str = Field(description="The application field the reason is about.")
    text: str = Field(description="Plain-language statement of the reason.")
    contribution: float = Field(description="Push towards default, in log-odds.")


class Decision(BaseModel):
    """The service's answer to one application."""

    status: Status
    default_probability: float = Field(ge=0, le=1)
    score: int = Field(description="Scorecard points; higher means less risk.")
    reasons: list[Reason] = Field(max_length=MAX_REASONS)
    out_of_training_range: list[str] = Field(
        description="Fields whose value lies outside what the model saw in training."
    )
    model_tag: str
    policy_version: str
    decision_id: str


class BatchDecisions(BaseModel):
    """Decisions for a batch, in the order of its applications."""

    decisions: list[Decision]


MODEL_CARD_ROUTE: Final = "/model/card"
"""Where the service serves the model card (``ModelCardText``)."""

CardFormat = Literal["html", "markdown"]


class ModelCard(BaseModel):
    """What the service is serving: the model's tag, metrics and decision policy."""

    model_tag: str
    metrics: Metrics
    policy: DecisionPolicy = Field(description="The decision policy stored with the model.")
    features: list[str]
    training_ranges: dict[str, list[float]]
    reference: Reference
    data_source: str
    data_sha256: str
    trained_at: str
    topology: str
    proofs: FairLendingProofs = Field(
        description="The fair-lending properties proven on the trees at training."
    )
    fairness: FairnessTable = Field(
        description="Approval rates, adverse impact ratios, default rates and calibration "
        "by group on the held-out data."
    )
    scored_protected_fields: list[str] = Field(
        default=[],
        description="Protected fields the model scores, served only because "
        "CREDIT_RISK_ALLOW_SCORED_PROTECTED allows them: empty for a lawful model.",
    )
    card_path: str = Field(
        default=MODEL_CARD_ROUTE, description="Where the model card is served (POST)."
    )

    @classmethod
    def of(
        cls,
        model_tag: str,
        metadata: ModelMetadata,
        topology: str,
        scored_protected_fields: list[str] | tuple[str, ...] = (),
    ) -> ModelCard:
        """The card of a stored model (its tag and metadata) served in ``topology``."""
        return cls(
            model_tag=model_tag,
            metrics=metadata.metrics,
            policy=metadata.policy,
            features=metadata.features,
            training_ranges=metadata.training_ranges,
            reference=metadata.reference,
            data_source=metadata.data_source,
            data_sha256=metadata.data_sha256,
            trained_at=metadata.trained_at,
            topology=topology,
            proofs=metadata.proofs,
            fairness=metadata.fairness,
            scored_protected_fields=list(scored_protected_fields),
        )


class ModelCardText(BaseModel):
    """The model card, as written with the model at training (``credit_risk.model.card``)."""

    model_tag: str
    format: CardFormat
    text: str
