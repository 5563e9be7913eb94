"""The challenger scored in the champion's shadow, for the API worker that decides.

``Shadow.fields`` gives each decision's ``challenger`` record field and counts the pair
of statuses; whatever the challenger does, it returns (a failure is in the fields, the
``credit_challenger_failures_total`` counter and one log line per change of state).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from credit_risk.model.shadow import (
    ChallengerError,
    ShadowState,
    challenger_policy,
    failed_fields,
    shadow_fields,
)
from credit_risk.serving import metrics

Probabilities = Callable[[npt.NDArray[np.float32]], Awaitable[npt.NDArray[np.float32]]]
"""The challenger's default probabilities of encoded rows (in process, or the runner's)."""


class Shadow:
    """The challenger of one API worker: its tag, its stored policy, how to score with it."""

    def __init__(self, tag: str, probabilities: Probabilities) -> None:
        """``tag``: the challenger's exact tag; ``probabilities``: how it scores rows."""
        self.tag = tag
        self._probabilities = probabilities
        self._policy, self._error = challenger_policy(tag)
        self._state = ShadowState(tag)

    async def fields(
        self, features: npt.NDArray[np.float32], champion_statuses: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Each row's ``challenger`` record field; never raises but for cancellation."""
        try:
            if self._policy is None:
                raise ChallengerError(self._error or "not loaded")
            probabilities = await self._probabilities(features)
            fields = shadow_fields(self.tag, self._policy, np.asarray(probabilities).tolist())
            if len(fields) != len(champion_statuses):
                raise ChallengerError(f"{len(fields)} scores for {len(champion_statuses)} rows")
        except Exception as failure:  # the challenger never fails a request
            error = str(failure) if isinstance(failure, ChallengerError) else repr(failure)
            self._state.failed(error)
            metrics.count_challenger_failures(len(champion_statuses))
            return failed_fields(self.tag, len(champion_statuses), error)
        self._state.scored()
        metrics.count_challenger(champion_statuses, [field["status"] for field in fields])
        return fields
