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


def results_dir(profile: str) -> Path:
    return ROOT / "results" / profile


def figures_dir(profile: str) -> Path:
    return ROOT / "figures" / profile
