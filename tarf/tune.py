"""Hyper-parameter sweeps on a separate seed (BASELINES.md §0: tune on all matched only, by Gap).

A sweep runs one method over a grid of hyper-parameters through the normal runner (so every run is
cached in the store) and returns one row per setting; the chosen values go into the profile's params
with a comment naming the sweep, and the evaluation seeds are never used for the choice.
"""

from __future__ import annotations

import itertools

import pandas as pd

from .progress import progress
from .runner import Context, context, run_one


def sweep(ctx: Context, method: str, grid: dict[str, list], scenarios=("all_matched",), seed: int = 1,
          base: dict | None = None) -> pd.DataFrame:
    """Gap and metrics of ``method`` for every combination in ``grid`` (on top of ``base``)."""
    keys = list(grid)
    rows = []
    for values in progress(list(itertools.product(*grid.values())), desc=f"sweep {method}"):
        hp = dict(base or {}) | dict(zip(keys, values))
        c = context(ctx.profile, {"methods": {method: hp}})
        for s in scenarios:
            row = run_one(c, s, method, seed)
            rows.append({**hp, "scenario": s, **{k: row[k] for k in ("UA", "RA", "TA", "MIA", "Gap", "TIME_min")}})
    return pd.DataFrame(rows)
