"""The release: which stored model decides (the champion) and which scores in its shadow
(the challenger), named by BentoML's own model aliases.

A bento is a release: its ``models:`` entries carry the aliases ``champion`` and
``challenger`` (``python -m credit_risk.governance build`` writes them), BentoML sets
its alias map from them when it loads the bento, and ``bentoml.models.get("champion")``
answers the packed version. From the source tree, ``bentoml serve`` reads the same two
names from the release file, ``$BENTOML_HOME/credit_risk/release.json`` (or
``CREDIT_RISK_RELEASE_FILE``), and puts them into the same alias map: both ways, the
service asks BentoML for ``champion`` and ``challenger``.

Only explicit acts write the release file: the first ``bentoml serve`` on a store that
has none (it pins the newest model, and says so), ``python -m credit_risk.governance``
(``name``, ``promote``, ``rollback``). Training never does, so a retrain followed by a
restart serves the same model. ``CREDIT_RISK_MODEL_TAG`` and
``CREDIT_RISK_CHALLENGER_TAG`` override for one run (an investigation, a test).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer

from credit_risk.model import DEFAULT_MODEL_TAG

logger = logging.getLogger(__name__)

CHAMPION: Final = "champion"
"""The alias of the model that decides."""
CHALLENGER: Final = "challenger"
"""The alias of the model scored in the champion's shadow, never deciding."""
RELEASE_FILE: Final = Path("credit_risk") / "release.json"
"""The release file's place under ``BENTOML_HOME``: beside the store it names models of."""


class NoChampionError(RuntimeError):
    """No release names a champion and the store has no model to pin."""


@dataclass(frozen=True)
class Release:
    """The champion's tag and, optionally, the challenger's: exact versions, never
    ``latest``."""

    champion: str
    challenger: str | None = None

    def aliases(self) -> dict[str, str]:
        """BentoML's alias map of this release (``bentoml.models.get`` reads it)."""
        named = {CHAMPION: self.champion}
        if self.challenger is not None:
            named[CHALLENGER] = self.challenger
        return named

    def to_json(self) -> dict[str, Any]:
        """The release file's content."""
        return {CHAMPION: self.champion, CHALLENGER: self.challenger}

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> Release:
        """A release from the release file's content."""
        champion = content.get(CHAMPION)
        challenger = content.get(CHALLENGER)
        if not isinstance(champion, str) or not (challenger is None or isinstance(challenger, str)):
            raise ValueError(f"a release names a champion tag and maybe a challenger's: {content}")
        return cls(champion=champion, challenger=challenger)


def release_path(configured: str | None = None) -> Path:
    """The release file: ``configured`` (``CREDIT_RISK_RELEASE_FILE``), else under
    ``BENTOML_HOME``."""
    if configured:
        return Path(configured)
    return Path(BentoMLContainer.bentoml_home.get()) / RELEASE_FILE


def read_release(path: Path) -> Release | None:
    """The release the file names, or None when there is no file."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Release.from_json(content)


def write_release(path: Path, release: Release) -> None:
    """Write the release file atomically: a reader sees the old release or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".release-", suffix=".json", delete=False
    ) as staged:
        json.dump(release.to_json(), staged, indent=2)
        staged.write("\n")
    os.replace(staged.name, path)


def exact_tag(tag: str) -> str:
    """``tag`` as the exact version the store holds (``credit_risk_model:latest`` becomes
    its version now). Raises ``bentoml.exceptions.NotFound`` when it is not there."""
    return str(bentoml.models.get(tag).tag)


def resolve(
    *,
    champion: str | None = None,
    challenger: str | None = None,
    release_file: str | None = None,
) -> Release:
    """The release to serve, installed into BentoML's alias map.

    In order: the tags given (the ``CREDIT_RISK_MODEL_TAG`` and
    ``CREDIT_RISK_CHALLENGER_TAG`` overrides), the aliases BentoML already holds (from a
    bento), the release file; failing all, the newest model is pinned as the champion
    in a new release file (one WARNING line says so). A challenger given alone shadows
    whichever champion the rest names.

    Raises:
        NoChampionError: nothing names a champion and the store has no model.
    """
    held = dict(BentoMLContainer.model_aliases.get())
    found: Release | None
    if champion is not None:
        found = Release(champion, held.get(CHALLENGER))
    elif CHAMPION in held:
        found = Release(held[CHAMPION], held.get(CHALLENGER))
    else:
        path = release_path(release_file)
        found = read_release(path)
        if found is None:
            found = Release(_pin_newest(path))
    if challenger is not None:
        found = Release(found.champion, challenger)
    BentoMLContainer.model_aliases.set({**held, **found.aliases()})
    return found


def _pin_newest(path: Path) -> str:
    try:
        tag = exact_tag(DEFAULT_MODEL_TAG)
    except bentoml.exceptions.NotFound:
        raise NoChampionError(
            f"Model {DEFAULT_MODEL_TAG} is not in the model store (BENTOML_HOME). Train one "
            "with `python train.py`, or run `make serve`, which trains when the store has none."
        ) from None
    # An explicit act once, rather than serving `latest` for ever: from now on only
    # `python -m credit_risk.governance` changes what decides here.
    write_release(path, Release(tag))
    logger.warning(
        "No release named a champion: %s (the newest model) is now the champion, in %s; "
        "training no longer changes what is served (docs/governance.md).",
        tag,
        path,
    )
    return tag
