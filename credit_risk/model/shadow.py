"""The challenger's shadow: what the challenger would have decided, beside each decision.

The challenger scores the same encoded rows as the champion, in the same process,
with its own stored policy, through the same ``ServedModel.explain`` as the champion
(so its probability is exactly what it would answer as champion). It never decides
and never fails a request: a challenger that cannot be loaded or that raises gives
records that say so (``error``), and one log line per change of state
(``ShadowState``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import bentoml
import numpy as np
import numpy.typing as npt

from credit_risk.model.metadata import ModelMetadata
from credit_risk.model.release import CHALLENGER
from credit_risk.model.store import ServedModel, load_from_store
from credit_risk.policy import DecisionPolicy

logger = logging.getLogger(__name__)

MAX_ERROR_CHARS: Final = 200
"""A failure's text in a record is cut here: records say why, logs say the rest."""


def load_challenger(nthread: int) -> tuple[ServedModel | None, str | None]:
    """The challenger the release names (alias ``challenger``), loaded to score, or the
    reason it could not be: never raises."""
    try:
        return load_from_store(bentoml.models.get(CHALLENGER), nthread=nthread), None
    except Exception as refused:  # a challenger must never stop the service
        reason = f"not loaded: {type(refused).__name__}: {refused}"
        logger.warning("Challenger %s", reason)
        return None, reason[:MAX_ERROR_CHARS]


def challenger_policy(tag: str) -> tuple[DecisionPolicy | None, str | None]:
    """The challenger's stored policy (its metadata only, no booster), or why not."""
    try:
        metadata = ModelMetadata.model_validate(bentoml.models.get(tag).info.metadata)
    except Exception as refused:  # a challenger must never stop the service
        return None, f"not loaded: {type(refused).__name__}: {refused}"[:MAX_ERROR_CHARS]
    return metadata.policy, None


def shadow_probabilities(
    served: ServedModel | None, error: str | None, features: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """The challenger's default probabilities of ``features``, as it answers them when
    champion; raises ``ChallengerError`` when it was not loaded."""
    if served is None:
        raise ChallengerError(error or "not loaded")
    return served.explain(features)[:, 0]


class ChallengerError(RuntimeError):
    """The challenger could not score (not loaded, or it raised)."""


@dataclass
class ShadowState:
    """Whether the challenger scored last time: one log line per change, not per request."""

    tag: str
    failing: bool | None = field(default=None)

    def scored(self) -> None:
        """The challenger scored a request."""
        if self.failing is not False:
            if self.failing:
                logger.warning("Challenger %s scores again", self.tag)
            self.failing = False

    def failed(self, error: str) -> None:
        """The challenger failed a request's rows."""
        if self.failing is not True:
            logger.warning("Challenger %s failed (%s); decisions go on without it", self.tag, error)
            self.failing = True


def shadow_fields(
    tag: str, policy: DecisionPolicy, probabilities: Sequence[float]
) -> list[dict[str, Any]]:
    """Each row's ``challenger`` record field: its tag, status, default probability and
    score by its own policy."""
    as_floats = [float(p) for p in probabilities]
    scores = policy.scorecard.points_all(as_floats)
    return [
        {
            "model_tag": tag,
            "status": policy.status(probability),
            "default_probability": probability,
            "score": score,
        }
        for probability, score in zip(as_floats, scores, strict=True)
    ]


def failed_fields(tag: str, count: int, error: str) -> list[dict[str, Any]]:
    """Each row's ``challenger`` record field when the challenger could not score."""
    failure = {"model_tag": tag, "error": error[:MAX_ERROR_CHARS]}
    return [dict(failure) for _ in range(count)]


class BatchChallenger:
    """The challenger of a batch run (``score.py``): loaded once, its fields per chunk,
    failures in the records and one log line per change of state, never an exception."""

    def __init__(self, tag: str, nthread: int, *, store: Any = None) -> None:
        """Load the challenger ``tag`` (exact, or resolved now) to score beside the model,
        from BentoML's store or ``store`` (a ``ModelStore``: a Spark executor's own)."""
        self.tag = tag
        self.served: ServedModel | None = None
        self.error: str | None = None
        try:
            model = bentoml.models.get(tag) if store is None else store.get(tag)
            self.tag = str(model.tag)
            self.served = load_from_store(model, nthread=nthread)
        except Exception as refused:  # a challenger must never stop the run
            self.error = f"not loaded: {type(refused).__name__}: {refused}"[:MAX_ERROR_CHARS]
        self._state = ShadowState(self.tag)

    def fields(self, features: npt.NDArray[np.float32]) -> list[dict[str, Any]]:
        """Each row's ``challenger`` record field."""
        try:
            probabilities = shadow_probabilities(self.served, self.error, features)
            assert self.served is not None  # shadow_probabilities raised otherwise
            fields = shadow_fields(self.tag, self.served.policy, probabilities.tolist())
        except Exception as failure:  # the challenger never fails a run
            error = str(failure) if isinstance(failure, ChallengerError) else repr(failure)
            self._state.failed(error)
            return failed_fields(self.tag, len(features), error)
        self._state.scored()
        return fields
