"""The TARF identification study (docs/tarf.md#fashion-mnist-probe): which group score and which BatchNorm treatment in
Phase I find the hidden target groups, across requests, on a seed kept apart from evaluation.

For each request × scenario × setting, one TARF run through the runner (cached); from its
identification record every score's top-K is compared with the true hidden model labels, so one run
judges all three scores (scenarios with K = 0 give one row with the metrics and no hit). The choice
of defaults must hold for every request, not the default concept.
"""

from __future__ import annotations

import itertools

import pandas as pd

from .params import deep_merge
from .progress import progress
from .runner import context, run_log, run_one
from .scenarios import hidden_groups
from .tune import METRICS
from .unlearn.tarf import rank_groups

SCORES = ("acc_drop", "abs_acc_change", "abs_loss_change")

def identification_study(profile: str, requests: dict[str, dict], grid: dict[str, list], seed: int = 1,
                         scenarios=("target_mismatch", "data_mismatch")) -> pd.DataFrame:
    """One row per (request, scenario, setting, score): hit = the score's top-K equals the hidden groups.

    K = 0 scenarios give one row with score None and hit None (nothing is identified there)."""
    rows = []
    jobs = list(itertools.product(requests.items(), scenarios, itertools.product(*grid.values())))
    for (rname, req), scen, values in progress(jobs, desc="study"):
        hp = dict(zip(grid, values))
        if scen in ("all_matched", "model_mismatch"):  # these requests name the given classes only
            req = {"given": req["given"], "concept": req["given"]}
        ctx = context(profile, deep_merge({"requests": {scen: req}}, {"methods": {"tarf": hp}}))
        sc = ctx.split[scen]
        hidden = hidden_groups(ctx.ds, sc)
        row = run_one(ctx, scen, "tarf", seed)
        metrics = {m: row[m] for m in METRICS} | {"FR_acc": row.get("FR_acc")}
        if sc.K == 0:
            rows.append({"request": rname, "scenario": scen, **hp, "score": None, "K": 0, "hidden": [],
                         "top_k": [], "hit": None, **metrics})
            continue
        rec = next(e["identification"] for e in run_log(ctx, scen, "tarf", seed) if "identification" in e)
        drop = {int(g): v for g, v in rec["group_acc_drop"].items()}
        loss = {int(g): v for g, v in rec["group_abs_loss_change"].items()}
        by_score = {"acc_drop": drop, "abs_acc_change": {g: abs(v) for g, v in drop.items()},
                    "abs_loss_change": loss}
        for score, s in by_score.items():
            top = rank_groups(s)[: sc.K]
            rows.append({"request": rname, "scenario": scen, **hp, "score": score, "K": sc.K,
                         "hidden": hidden, "top_k": top, "hit": sorted(top) == hidden, **metrics})
    return pd.DataFrame(rows)
