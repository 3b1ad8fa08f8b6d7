"""CITATION.cff against the Citation File Format 1.2.0's rules for the keys it uses (cffconvert,
the reference validator, pins jsonschema < 4, which Jupyter's stack cannot take: this is the
equivalent check), and LICENSE / CHANGELOG are there."""

import datetime
import re
import tomllib

import yaml

from tarf.paths import ROOT

CFF_TYPES = {"software", "dataset"}
REFERENCE_TYPES = {"article", "conference-paper", "generic", "software", "report", "thesis"}  # the subset we may use
IDENTIFIER_TYPES = {"doi", "url", "swh", "other"}


def _person_ok(p: dict) -> bool:
    # a person needs family-names (given-names optional), an entity needs name; nothing else required
    return isinstance(p, dict) and (bool(p.get("family-names")) or bool(p.get("name"))) and \
        all(isinstance(v, str) for v in p.values())


def test_citation_cff_follows_cff_1_2_0():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):  # required by the format
        assert key in cff, key
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] in CFF_TYPES
    assert cff["authors"] and all(_person_ok(p) for p in cff["authors"])
    datetime.date.fromisoformat(cff["date-released"])
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cff["version"] == version  # one version, the package's
    assert cff["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    ref = cff["preferred-citation"]
    for key in ("type", "title", "authors"):  # required in a reference
        assert key in ref, key
    assert ref["type"] in REFERENCE_TYPES
    assert [p["family-names"] for p in ref["authors"]] == ["Zhu", "Han", "Yao", "Xu", "Niu", "Sugiyama"]
    assert all(i["type"] in IDENTIFIER_TYPES and i["value"] for i in ref.get("identifiers", []))
    assert isinstance(ref["year"], int)
    readme = (ROOT / "README.md").read_text()
    assert ref["title"] in readme and "2406.08288" in readme  # the paper the README names
    assert re.match(r"^https://", ref["url"])


def test_changelog_has_dated_entries():
    text = (ROOT / "CHANGELOG.md").read_text()
    dates = re.findall(r"^## (\d{4}-\d{2}-\d{2})", text, flags=re.M)
    assert dates and dates == sorted(dates, reverse=True)  # newest first
