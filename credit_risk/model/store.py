"""Saving the trained model to the BentoML model store, and loading it back.

The store entry holds everything the service needs to score: the booster and its
``ModelMetadata`` (the feature list, the decision policy, training ranges and the
reference distribution). Nothing under ``data/`` or ``reports/`` is read when serving.

``bentoml.models.create`` is used rather than ``bentoml.xgboost.save_model``
because the latter looks up the version of the distribution named ``xgboost``
and fails under ``xgboost-cpu``, which we install (18 MB instead of 700 MB).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import bentoml
import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from credit_risk.features import FEATURE_NAMES, encode_columns
from credit_risk.generator import ApplicationGenerator
from credit_risk.model import MODEL_NAME, explainer, explainer_file, xgboost_reasons
from credit_risk.model.audit.proofs import scored_fields
from credit_risk.model.lean_xgboost import xgb
from credit_risk.model.metadata import ModelMetadata, Reference
from credit_risk.policy import PROTECTED_FIELDS, DecisionPolicy
from credit_risk.reasons import FIELD_WEIGHTS
from credit_risk.vocabulary import APPLICATION_FIELDS, NULLABLE_FIELDS

logger = logging.getLogger(__name__)

BOOSTER_FILE: Final = "booster.ubj"

VERIFICATION_APPLICATIONS: Final = 256
"""Applications drawn from the stored reference to check the compiled explainer at load;
as many again with income, assets or debt missing, and rows at every split threshold."""
_MISSING_TOGETHER: Final = (*((name,) for name in NULLABLE_FIELDS), NULLABLE_FIELDS)
"""The groups of fields left out of verification applications: each alone, then all."""


class IncompatibleModelError(RuntimeError):
    """The stored model was trained on another feature encoding than this code's."""


def save_to_store(
    booster: xgb.Booster, metadata: ModelMetadata, *, labels: Mapping[str, str] | None = None
) -> bentoml.Model:
    """Save the booster with its metadata as a new version of ``credit_risk_model``,
    labelled ``metadata.store_labels()`` unless ``labels`` are given."""
    with bentoml.models.create(
        MODEL_NAME,
        labels=dict(labels if labels is not None else metadata.store_labels()),
        # BentoML's metadata takes no None: an absent optional field reads back as None.
        metadata=metadata.model_dump(mode="json", exclude_none=True),
    ) as model:
        booster.save_model(Path(model.path) / BOOSTER_FILE)
        _write_card(Path(model.path), str(model.tag), metadata)
        _write_compiled_explainer(Path(model.path), str(model.tag), metadata.reference)
        # BentoML stages the model in a mkdtemp folder (mode 0700), and that mode
        # travels into bentos and images: AWS Lambda, which runs an image as a user
        # of its own, could then not read the model. Readable by all, like a package.
        Path(model.path).chmod(0o755)
    logger.info("Saved %s", model.tag)
    return model


def _write_card(folder: Path, tag: str, metadata: ModelMetadata) -> None:
    # Imported here: serving reads the card's files and never renders one.
    from credit_risk.model import card

    (folder / card.CARD_MARKDOWN).write_text(card.card_markdown(tag, metadata))
    (folder / card.CARD_HTML).write_text(card.card_html(tag, metadata))


def _write_compiled_explainer(folder: Path, tag: str, reference: Reference) -> None:
    # Compiled and verified from the saved file, as loading will read it; a booster the
    # explainer refuses gets no table (loading then says why and uses XGBoost's path).
    booster = xgb.Booster(model_file=str(folder / BOOSTER_FILE))
    booster.feature_names = None
    compiled = compiled_explainer(tag, booster, reference, nthread=1)
    if compiled is not None:
        key = explainer_file.compilation_key(folder / BOOSTER_FILE, FIELD_WEIGHTS)
        explainer_file.write_explainer(folder / explainer_file.EXPLAINER_FILE, compiled, key)


class ProtectedFieldError(IncompatibleModelError):
    """The stored model scores a field that must not be scored, and no setting allows it."""


def check_protected(
    tag: str,
    booster: xgb.Booster,
    metadata: ModelMetadata,
    allowed: Collection[str] = (),
) -> list[str]:
    """The protected fields the booster's trees split on that ``allowed`` names (to be
    shown wherever the model is described); raises ``ProtectedFieldError`` for any other.

    Protected: ``policy.PROTECTED_FIELDS`` and the stored policy's ``protected_fields``;
    the trees are read, not the metadata's word.
    """
    protected = {*PROTECTED_FIELDS, *metadata.policy.protected_fields}
    scored = [name for name in scored_fields(booster) if name in protected]
    refused = [name for name in scored if name not in allowed]
    if refused:
        raise ProtectedFieldError(
            f"{tag} scores {', '.join(refused)}: a protected field (a prohibited basis under "
            "Regulation B) must not be scored. Retrain with `python train.py`, which hides "
            "it from the model; or, to serve this model anyway, name the field in "
            "CREDIT_RISK_ALLOW_SCORED_PROTECTED (then /model and its card say so)."
        )
    return scored


@dataclass(frozen=True)
class ServedModel:
    """A stored model, loaded and checked, ready to score."""

    tag: str
    booster: xgb.Booster
    nthread: int
    metadata: ModelMetadata
    compiled: explainer.CompiledExplainer | None = None
    """The booster compiled to a table, checked against XGBoost; None: XGBoost explains."""
    scored_protected: tuple[str, ...] = ()
    """Protected fields the model scores, served only because a setting allows them."""

    @property
    def policy(self) -> DecisionPolicy:
        """The decision policy stored with the model."""
        return self.metadata.policy

    @property
    def training_ranges(self) -> dict[str, list[float]]:
        """[min, max] of each numeric field as the model saw it in training."""
        return self.metadata.training_ranges

    def explain(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Per row of encoded features: the default probability, then the 13 fields'
        contributions. The one scoring entry point of serving and batch scoring."""
        if self.compiled is not None:
            return self.compiled.explain(features)
        return xgboost_reasons.explain(self.booster, features, self.nthread)


def load_from_store(
    model: bentoml.Model,
    *,
    nthread: int,
    compile_explainer: bool = True,
    allow_scored_protected: Collection[str] = (),
) -> ServedModel:
    """Load a stored model and check that its features match this code's encoding, and
    that it scores no protected field but those ``allow_scored_protected`` names
    (``check_protected``).

    With ``compile_explainer`` (the default), the booster's lookup table is read from
    the store entry (compiled at save) or compiled, and checked against XGBoost
    (``compiled_explainer``); without, or when that fails, reasons come from XGBoost's
    ``pred_contribs``.
    """
    try:
        metadata = ModelMetadata.model_validate(model.info.metadata)
    except ValidationError as error:
        raise IncompatibleModelError(
            f"{model.tag}: its metadata is not this code's ModelMetadata ({error.error_count()} "
            f"errors, first: {error.errors()[0]['loc']}); retrain with `python train.py`."
        ) from None
    features = tuple(metadata.features)
    if features != FEATURE_NAMES:
        raise IncompatibleModelError(
            f"{model.tag} was trained on features {list(features)}, but this code encodes "
            f"{list(FEATURE_NAMES)}; retrain with `python train.py`."
        )
    booster = xgb.Booster(model_file=str(Path(model.path) / BOOSTER_FILE))
    if tuple(booster.feature_names or ()) != FEATURE_NAMES:
        raise IncompatibleModelError(
            f"{model.tag}: the booster's features differ from its metadata"
        )
    scored_protected = check_protected(str(model.tag), booster, metadata, allow_scored_protected)
    if scored_protected:
        logger.warning(
            "%s scores the protected field(s) %s: served because "
            "CREDIT_RISK_ALLOW_SCORED_PROTECTED allows it",
            model.tag,
            ", ".join(scored_protected),
        )
    # Names are checked once here; unnamed matrices then skip a per-call check.
    booster.feature_names = None
    booster.set_param({"nthread": nthread})
    return ServedModel(
        tag=str(model.tag),
        booster=booster,
        nthread=nthread,
        metadata=metadata,
        compiled=(
            compiled_explainer(
                str(model.tag), booster, metadata.reference, nthread, folder=Path(model.path)
            )
            if compile_explainer
            else None
        ),
        scored_protected=tuple(scored_protected),
    )


def compiled_explainer(
    tag: str,
    booster: xgb.Booster,
    reference: Reference,
    nthread: int,
    *,
    folder: Path | None = None,
) -> explainer.CompiledExplainer | None:
    """The booster's explainer, checked against XGBoost's own answers, or None.

    With ``folder`` (the store entry), its table is read from the file written at save
    (``explainer_file``) when that is there and was compiled from this booster; else,
    or when the stored table disagrees with XGBoost, the booster is compiled. None,
    with one warning saying why, when the booster is of a kind the explainer does not
    support or when it disagrees with XGBoost on the verification rows: reasons then
    come from XGBoost, never from a table that might differ.
    """
    verified = functools.partial(
        _verified,
        booster=booster,
        reference=reference,
        nthread=nthread,
        started=time.perf_counter(),
    )
    stored = _stored_explainer(tag, folder) if folder is not None else None
    if stored is not None:
        try:
            return verified(tag, stored, origin="read from the store entry")
        # A mismatch, or arrays that do not fit together (of a file written by hand).
        except (explainer.ExplainerMismatchError, ValueError, IndexError) as why:
            logger.warning(
                "%s: the stored explainer table is refused (%s); compiling again", tag, why
            )
    try:
        compiled = explainer.compile_booster(booster, FIELD_WEIGHTS)
        return verified(tag, compiled, origin="compiled")
    except (explainer.UnsupportedModelError, explainer.ExplainerMismatchError) as why:
        logger.warning(
            "%s: compiled explainer refused (%s); explaining with XGBoost's pred_contribs",
            tag,
            why,
        )
        return None


def _stored_explainer(tag: str, folder: Path) -> explainer.CompiledExplainer | None:
    path = folder / explainer_file.EXPLAINER_FILE
    if not path.exists():
        logger.info("%s: no stored explainer table (saved by earlier code): compiling it", tag)
        return None
    try:
        key = explainer_file.compilation_key(folder / BOOSTER_FILE, FIELD_WEIGHTS)
        return explainer_file.read_explainer(path, key)
    except (explainer_file.ExplainerFileError, OSError) as why:
        logger.warning("%s: stored explainer table not used (%s); compiling again", tag, why)
        return None


def _verified(
    tag: str,
    compiled: explainer.CompiledExplainer,
    *,
    origin: str,
    booster: xgb.Booster,
    reference: Reference,
    nthread: int,
    started: float,
) -> explainer.CompiledExplainer:
    rows = verification_rows(compiled, reference)
    agreement = explainer.verify(compiled, rows, xgboost_reasons.explain(booster, rows, nthread))
    logger.info(
        "%s: compiled explainer of %d trees (%s), checked against XGBoost on %d rows "
        "(largest differences: probability %.1e, contribution %.1e), ready in %.2f s",
        tag,
        compiled.n_trees,
        origin,
        agreement.rows,
        agreement.probability,
        agreement.contribution,
        time.perf_counter() - started,
    )
    return compiled


def verification_rows(
    compiled: explainer.CompiledExplainer, reference: Reference
) -> npt.NDArray[np.float32]:
    """Encoded rows to check the explainer on: applications drawn from the model's
    reference distribution, the same with income, assets or debt missing, and rows
    at every split threshold."""
    drawn = ApplicationGenerator(reference, seed=0).draw(VERIFICATION_APPLICATIONS)
    missing = [
        {**application, **dict.fromkeys(_MISSING_TOGETHER[i % len(_MISSING_TOGETHER)])}
        for i, application in enumerate(drawn)
    ]
    applications = drawn + missing
    encoded = encode_columns(
        {name: [application[name] for application in applications] for name in APPLICATION_FIELDS}
    )
    return np.concatenate([encoded, explainer.threshold_rows(compiled, encoded)])
