"""The README and docs/: every relative link resolves, every command names files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Final

import pytest

from tests.support.servers import ROOT

README: Final = ROOT / "README.md"
DOCS: Final = sorted((ROOT / "docs").glob("*.md"))
PAGES: Final = [README, *DOCS]
README_MAX_LINES: Final = 160
"""The README is a front door (about 150 lines); the depth lives in docs/."""

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_PROJECT_SUFFIXES: Final = (".py", ".yaml", ".yml", ".sh", ".toml", ".md", ".lua", ".html")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    prose = _FENCE.sub("", page.read_text())
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", prose, re.M)}


def _links(page: Path) -> list[str]:
    prose = _FENCE.sub("", page.read_text())
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans are not links
    return [a or b for a, b in _LINK.findall(prose)]


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        path_part, _, anchor = link.partition("#")
        target = (page.parent / path_part).resolve() if path_part else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link}: no heading with that anchor in {target.name}")
    assert not broken, f"{_page_id(page)}: " + "; ".join(broken)


def _project_dirs() -> set[str]:
    """The repository's own top-level folders: not those that running it makes and git
    ignores (``reports/`` after a training, ``monitoring/``), whose names a command may
    give as outputs."""
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.startswith("/") and line.strip().endswith("/")
    }
    return {
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in ignored
    }


def _named_files(command: str) -> list[str]:
    """The tokens of a shell command that name files or modules of this project."""
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        tokens = command.split()
    top_dirs = _project_dirs()
    named = []
    for index, token in enumerate(tokens):
        if index and tokens[index - 1] == "-m" and token.startswith("credit_risk"):
            named.append(token.replace(".", "/"))
            continue
        if re.match(r"^([a-z]+:|/|~|\$|-|<)", token) or any(c in token for c in "<>*=$"):
            continue
        name = token.split("::")[0].removeprefix("./")
        if name.endswith(_PROJECT_SUFFIXES) or ("/" in name and name.split("/")[0] in top_dirs):
            named.append(name)
    return named


def _exists(name: str) -> bool:
    path = ROOT / name
    return path.exists() or path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_command_names_files_that_exist(page: Path) -> None:
    missing = []
    for language, body in _FENCE.findall(page.read_text()):
        if language not in {"bash", "sh", "shell", "console"}:
            continue
        folder = ""  # a `cd` in the block moves the names after it
        for line in body.replace("\\\n", " ").splitlines():
            if line.strip().startswith("cd "):
                folder = line.split()[1].rstrip("/") + "/"
                continue
            missing += [
                f"{name} (in: {line.strip()})"
                for name in _named_files(line)
                if not _exists(name) and not _exists(folder + name)
            ]
    assert not missing, f"{_page_id(page)} names files that do not exist: {missing}"


def test_readme_is_a_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    linked = {Path(link.partition("#")[0]).name for link in _links(README)}
    unlinked = [page.name for page in DOCS if page.name not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_checks_catch_a_broken_link_and_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nowhere) [gone](absent.md)\n")
    assert _links(page) == ["#title", "#nowhere", "absent.md"]
    assert _anchors(page) == {"title"}
    assert _named_files("python benchmarks/nope.py -o out.csv  # a comment") == [
        "benchmarks/nope.py"
    ]
    assert not _exists("benchmarks/nope.py")
    assert _named_files("python -m credit_risk.generator --rows 10") == ["credit_risk/generator"]
    assert _exists("credit_risk/generator")
