"""Where things live. Everything resolves from the repository root (the folder with pyproject.toml)."""

import os
from pathlib import Path


def _find_root() -> Path:
    if os.environ.get("TARF_ROOT"):
        return Path(os.environ["TARF_ROOT"]).resolve()
    here = Path(__file__).resolve().parent
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists():
            return p
    return Path.cwd().resolve()


ROOT = _find_root()


def store_dir() -> Path:
    """Splits, checkpoints, logs and result rows, keyed by hash (TARF_STORE overrides)."""
    return Path(os.environ.get("TARF_STORE", ROOT / "store"))


def output_root() -> Path:
    """Where results/ and figures/ are written: the repository, unless TARF_OUTPUT points elsewhere
    (the tests and the nbval runs do, so that checking never overwrites what the notebooks made)."""
    return Path(os.environ.get("TARF_OUTPUT", ROOT))


def results_dir(profile: str) -> Path:
    return output_root() / "results" / profile


def figures_dir(profile: str) -> Path:
    return output_root() / "figures" / profile
