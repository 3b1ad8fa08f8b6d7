"""Hyper-parameter sweeps on a separate seed (docs/protocol.md#tuning: tune on all matched only, by Gap).

A sweep runs one method over a grid of hyper-parameters through the normal runner (so every run is
cached in the store) and returns one row per setting; the chosen values go into the profile's params
with a comment naming the sweep, and the evaluation seeds are never used for the choice.
"""

from __future__ import annotations

import itertools

import pandas as pd

from .progress import progress
from .runner import Context, context, run_one

METRICS = ("UA", "RA", "TA", "MIA", "Gap", "TIME_min")


def sweep(ctx: Context, method: str, grid: dict[str, list], scenarios=("all_matched",), seeds=(1,),
          base: dict | None = None) -> pd.DataFrame:
    """Gap and metrics of ``method`` for every combination in ``grid`` (on top of ``base``), per seed."""
    keys = list(grid)
    rows = []
    jobs = list(itertools.product(seeds, itertools.product(*grid.values())))
    for seed, values in progress(jobs, desc=f"sweep {method}"):
        hp = dict(base or {}) | dict(zip(keys, values))
        c = context(ctx.profile, {"methods": {method: hp}})
        for s in scenarios:
            row = run_one(c, s, method, seed)
            rows.append({**hp, "scenario": s, "seed": seed, **{k: row[k] for k in METRICS}})
    return pd.DataFrame(rows)


def choose(df: pd.DataFrame) -> pd.DataFrame:
    """Settings ranked by median Gap over tuning seeds (one unlucky seed must not pick the value)."""
    settings = [c for c in df.columns if c not in (*METRICS, "seed")]
    agg = df.groupby(settings, dropna=False).agg(Gap_median=("Gap", "median"), Gap_max=("Gap", "max"),
                                                 UA_median=("UA", "median"), RA_min=("RA", "min"),
                                                 seeds=("seed", "nunique"))
    return agg.sort_values(["Gap_median", "Gap_max"]).reset_index()
