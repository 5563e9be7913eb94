"""A release as a bento: the bentofile with the release's models as aliased entries.

BentoML's own way (``models:`` entries with ``alias``): the bento then says which model
decides and which shadows, and ``bentoml.models.get("champion")`` resolves it when the
bento is served, in a container too. The bentofiles in the repository name no model, so
that nothing but a release decides what a bento packs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import bentoml

from credit_risk.model.release import CHALLENGER, CHAMPION, Release, exact_tag


def release_bentofile(bentofile: Path, release: Release) -> str:
    """The text of ``bentofile`` with the release's exact tags appended as ``models:``
    entries aliased ``champion`` (and ``challenger``)."""
    text = bentofile.read_text(encoding="utf-8")
    entries = [{"tag": exact_tag(release.champion), "alias": CHAMPION}]
    if release.challenger is not None:
        entries.append({"tag": exact_tag(release.challenger), "alias": CHALLENGER})
    # JSON is YAML: no YAML writer needed for two short entries.
    lines = "".join(f"  - {json.dumps(entry)}\n" for entry in entries)
    return f"{text.rstrip()}\n# Added by python -m credit_risk.governance build.\nmodels:\n{lines}"


def build_release(bentofile: Path, release: Release, build_ctx: Path) -> str:
    """Build the bento of ``release`` from ``bentofile`` in ``build_ctx``; its tag."""
    with tempfile.TemporaryDirectory(prefix="credit-risk-release-") as folder:
        staged = Path(folder) / "bentofile.yaml"
        staged.write_text(release_bentofile(bentofile, release), encoding="utf-8")
        bento = bentoml.bentos.build_bentofile(str(staged), build_ctx=str(build_ctx))
    return str(bento.tag)
