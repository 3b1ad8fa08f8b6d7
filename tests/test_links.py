"""Every relative link and #anchor in README, docs/ and the notebooks' markdown resolves, and so does
every docs/<page>.md#anchor named in code comments and params files (GitHub's heading slugs)."""

import json
import re
from functools import cache
from pathlib import Path

import pytest

from tarf.paths import ROOT

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
MENTION = re.compile(r"(?<![\w/.])(docs/[\w.-]+\.md)(#[\w-]+)?")
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *[p for p in (ROOT / "CHANGELOG.md",) if p.exists()]]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CODE = [*sorted((ROOT / "tarf").rglob("*.py")), *sorted((ROOT / "scripts").glob("*.py")),
        *sorted((ROOT / "params").rglob("*.yaml")), ROOT / "Makefile"]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation but '-' and '_' removed,
    spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub gives the headings of a Markdown file (repeats get -1, -2, ...)."""
    out, seen, fence = set(), {}, False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return frozenset(out)


def _markdown_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks hold no links


def broken(where: Path, target: str, base: Path) -> str | None:
    """Why ``target`` (a relative link, maybe with #anchor) from a file in ``base`` does not resolve."""
    path, _, anchor = target.partition("#")
    dest = (base / path).resolve() if path else where
    if not dest.exists():
        return f"{where.relative_to(ROOT)}: {target}: no such file"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{where.relative_to(ROOT)}: {target}: no heading with anchor #{anchor} in {dest.name}"
    return None


def test_slugs_follow_github():
    assert slug("How sure a verdict is") == "how-sure-a-verdict-is"
    assert slug("Fig. 5b — forgetting vs retaining") == "fig-5b--forgetting-vs-retaining"
    assert slug("`make site`: the *rendered* notebooks") == "make-site-the-rendered-notebooks"


@pytest.mark.parametrize("path", MARKDOWN + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    bad = []
    for m in LINK.finditer(_markdown_of(path)):
        target = m.group(1) or m.group(2)
        if re.match(r"^[a-z]+:", target):  # http(s), mailto: not ours to check offline
            continue
        if (why := broken(path, target, path.parent)) is not None:
            bad.append(why)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", CODE + MARKDOWN + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_mentions_resolve(path):
    bad = [why for m in MENTION.finditer(path.read_text())
           if (why := broken(path, m.group(1) + (m.group(2) or ""), ROOT)) is not None]
    assert not bad, "\n".join(bad)
