"""Every generated block of README.md and docs/ says what `make readme` would write now, so no
number that params or results own is typed by hand (tarf/generated.py)."""

import pytest

from tarf import generated
from tarf.paths import ROOT


@pytest.fixture
def committed_results(monkeypatch):
    monkeypatch.setenv("TARF_OUTPUT", str(ROOT))  # the repository's results/, not the test's empty one


def test_generated_blocks_are_current(committed_results):
    assert generated.stale() == [], "run `make readme` and commit what it rewrites"


def test_a_changed_number_makes_its_block_stale(committed_results, tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    readme.write_text(text.replace("| C1      |", "| C1 edited |", 1))
    real = generated.blocks()
    monkeypatch.setattr(generated, "blocks", lambda: {readme: real[ROOT / "README.md"]})
    monkeypatch.setattr(generated, "ROOT", tmp_path)
    assert generated.stale() == ["README.md: verdicts"]


def test_missing_markers_are_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"markers <!-- verdicts:start --> … <!-- verdicts:end --> not found"):
        generated.render(ROOT / "README.md", "no markers here", {"verdicts": lambda: "x"})
