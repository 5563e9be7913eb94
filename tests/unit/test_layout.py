"""The layout is what the docs say it is: the map in docs/development.md and the README's
layout block name every folder and module that exists and nothing that does not, and
every subpackage says its job in its docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import ROOT

PACKAGE: Final = ROOT / "credit_risk"
DEVELOPMENT: Final = ROOT / "docs" / "development.md"
README: Final = ROOT / "README.md"
INDENT: Final = 2
"""Spaces per level in the layout blocks."""


def _layout_block(page: Path, heading: str) -> list[str]:
    """The lines of the first ```text block under ``heading``."""
    text = page.read_text()
    section = text[text.index(f"\n{heading}\n") :]
    match = re.search(r"^```text\n(.*?)^```", section, re.M | re.S)
    assert match, f"{page.name}: no ```text block under {heading!r}"
    return match.group(1).splitlines()


def _named_paths(lines: list[str]) -> set[str]:
    """The paths a layout block names, under their parent folders. A line names what comes
    before its first run of two spaces (the rest describes it); a line that names one
    folder (``name/``) opens it for the lines indented below it."""
    parents: list[str] = []
    named = set()
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % INDENT == 0, f"odd indentation: {line!r}"
        depth = indent // INDENT
        assert depth <= len(parents), f"indented past its folder: {line!r}"
        del parents[depth:]
        names = re.split(r" {2,}", line.strip())[0].split()
        named |= {("".join(parents) + name).rstrip("/") for name in names}
        if len(names) == 1 and names[0].endswith("/"):
            parents.append(names[0])
    return named


def _subpackages() -> list[Path]:
    return sorted(init.parent for init in PACKAGE.rglob("__init__.py"))


def _tracked_top_level() -> set[str]:
    ignored = {"reports", "monitoring", "__pycache__"}
    return {
        path.name
        for path in ROOT.iterdir()
        if path.is_dir() and not path.name.startswith(".") and not path.name.endswith(".egg-info")
    } - ignored


def test_the_map_names_only_what_exists() -> None:
    missing = sorted(
        p for p in _named_paths(_layout_block(DEVELOPMENT, "## The map")) if not (ROOT / p).exists()
    )
    assert not missing, f"docs/development.md names what does not exist: {missing}"


def test_the_map_names_every_module_and_folder() -> None:
    named = _named_paths(_layout_block(DEVELOPMENT, "## The map"))
    expected = {
        *_tracked_top_level(),
        *(str(p.relative_to(ROOT)) for p in _subpackages()),
        *(str(p.relative_to(ROOT)) for p in (ROOT / "tests").iterdir() if p.is_dir()),
        *(str(p.relative_to(ROOT)) for p in (ROOT / "deploy").iterdir() if p.is_dir()),
    }
    # Modules one level down are named where their folder is listed module by module
    # (the root, model/, training/, serving/); the other subpackages are named whole.
    for folder in (PACKAGE, PACKAGE / "model", PACKAGE / "training", PACKAGE / "serving"):
        expected |= {str(p.relative_to(ROOT)) for p in folder.glob("*.py")}
    expected -= {
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("__init__.py")
        if p.parent != PACKAGE  # a subpackage's __init__ is its folder's line
    }
    expected = {p for p in expected if "__pycache__" not in p}
    unnamed = sorted(p for p in expected if p not in named)
    assert not unnamed, f"docs/development.md does not name: {unnamed}"


def test_the_readme_layout_matches_the_tree() -> None:
    named = _named_paths(_layout_block(README, "## Layout"))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"README.md's layout names what does not exist: {missing}"
    wanted = {
        *_tracked_top_level(),
        *(str(p.relative_to(ROOT)) for p in _subpackages() if p.parent == PACKAGE),
    }
    unnamed = sorted(wanted - named)
    assert not unnamed, f"README.md's layout does not name: {unnamed}"


@pytest.mark.parametrize(
    "package", _subpackages(), ids=lambda p: str(p.relative_to(ROOT)) or "credit_risk"
)
def test_every_subpackage_states_its_job(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring and len(docstring.split()) >= 8, f"{package}: no docstring saying its job"
