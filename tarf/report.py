"""Tables: full-precision CSV, Markdown and LaTeX under results/<profile>/, written atomically."""

from __future__ import annotations

import pandas as pd

from .paths import results_dir
from .store import atomic_write_bytes


def export(df: pd.DataFrame, name: str, profile: str, index: bool = False) -> None:
    """results/<profile>/<name>.csv (full precision), .md (2 decimals) and .tex."""
    out = results_dir(profile)
    atomic_write_bytes(out / f"{name}.csv", df.to_csv(index=index).encode())
    atomic_write_bytes(out / f"{name}.md", (df.to_markdown(index=index, floatfmt=".2f") + "\n").encode())
    styler = df.style.format(precision=2, na_rep="")
    if not index:
        styler = styler.hide(axis="index")
    atomic_write_bytes(out / f"{name}.tex", styler.to_latex(hrules=True).encode())


def update_readme(profile: str = "default") -> None:
    """Rewrite the generated blocks of README.md and docs/ from params and results (tarf.generated):
    the numbers there are never typed."""
    from .generated import update

    update()
