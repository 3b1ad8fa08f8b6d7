"""Notebook 11: every request the data set's hierarchy allows with K > 0, on the profile's model
(docs/tarf.md#concepts).

One request per (scenario, given class): each class of a superclass with several classes is given,
the superclass is the concept, in target mismatch (fine model) and data mismatch (coarse model) —
the cells of the fit study (tarf/fit_study.py), 14 on Fashion-MNIST. Each cell is a full runner
context of its own (the profile with that one request), so its rows are the runner's cached rows:
Retrained (shared by the requests of one concept, since D_r is the same), TARF, the Original and the
chosen baselines, with UA / RA / TA / MIA / Gap as in Table 3. Identification is judged against
D_fr (evaluation only), by the read-out the run used and by the paper's accuracy drop.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from . import fit_study, runner, tarf_analysis
from .params import deep_merge
from .progress import progress
from .scenarios import labels

BASELINES = ("ft", "ga")  # the notebook's default: the paper's two class-wise failures (C1, C2)


def cell_context(profile: str, overrides: dict | None, cell: dict):
    """The profile with one request: ``cell``'s given class and concept in ``cell``'s scenario only."""
    return runner.context(profile, deep_merge(overrides or {}, {
        "scenarios": [cell["scenario"]],
        "requests": {cell["scenario"]: {"given": [cell["given"]], "concept": cell["concept"]}}}))


def cell_rows(ctx, cell: dict, seed: int, baselines=BASELINES) -> dict:
    """One row: identification (used read-out and the paper's), TARF, Original and the best of
    ``baselines`` against Retrained."""
    s = cell["scenario"]
    sc = ctx.split[s]
    rows = {m: runner.run_one(ctx, s, m, seed) for m in ("retrained", runner.ORIGINAL, "tarf", *baselines)}
    rec = tarf_analysis.identification_record(runner.run_log(ctx, s, "tarf", seed))
    names = tarf_analysis.group_names(ctx, s)
    hidden = tarf_analysis.target_groups(ctx, s)
    y_un = labels(ctx.ds, sc.label_space)[sc.un].numpy()
    reads = fit_study.readout_columns(rec, y_un, tarf_analysis.is_fr(ctx, s), sc.K, hidden)
    used = rec["score"]
    gaps = {b: rows[b]["Gap"] for b in baselines if np.isfinite(rows[b]["Gap"])}
    best = min(gaps, key=lambda b: (gaps[b], b)) if gaps else "-"
    return {"scenario": s, "concept": cell["concept"], "given": cell["given"], "seed": seed, "K": sc.K,
            "target": ", ".join(names[g] for g in hidden),
            "identified": ", ".join(names[g] for g in rec["groups"]) or "-",
            "read-out": used, "exact": bool(reads[f"{used}_hit"]),
            "precision": 100 * reads[f"{used}_precision"], "recall": 100 * reads[f"{used}_recall"],
            "paper read-out exact": bool(reads["acc_drop_hit"]),
            "paper read-out top-K": ", ".join(names[g] for g in json.loads(reads["acc_drop_top_k"])),
            "UA Retrained": rows["retrained"]["UA"], "UA Original": rows[runner.ORIGINAL]["UA"],
            "UA TARF": rows["tarf"]["UA"], "RA TARF": rows["tarf"]["RA"],
            "Gap Original": rows[runner.ORIGINAL]["Gap"], "Gap TARF": rows["tarf"]["Gap"],
            "best baseline": best, "Gap best baseline": gaps.get(best, float("nan")),
            "TARF - best": rows["tarf"]["Gap"] - gaps.get(best, float("nan"))}


def table(profile: str, overrides: dict | None = None, seeds=(0,), baselines=BASELINES,
          scenarios_=fit_study.SCENARIOS, cell_filter=None) -> pd.DataFrame:
    """One row per (cell, seed): :func:`cell_rows` over every request of the hierarchy (or those of
    ``cell_filter``, as fit_study.select_cells reads it)."""
    base = runner.context(profile, overrides)
    todo = fit_study.select_cells(fit_study.cells(base.ds, scenarios_), cell_filter)
    if not todo:
        raise ValueError(f"data set {base.exp.dataset!r} has no superclass of several classes: no request with K > 0")
    rows = []
    for cell in progress(todo, desc="concepts"):
        ctx = cell_context(profile, overrides, cell)
        rows += [cell_rows(ctx, cell, seed, baselines) for seed in seeds]
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell, over seeds: exact identifications (count/seeds), mean precision / recall, TARF's
    UA and Gap, the best baseline's Gap and how often TARF's Gap is the lowest."""
    g = df.groupby(["scenario", "concept", "given"], sort=False)
    out = g[["precision", "recall", "UA TARF", "RA TARF", "Gap TARF", "Gap best baseline",
             "Gap Original"]].mean().round(2)
    n = g.size()
    out.insert(0, "exact", g["exact"].sum().astype(int).astype(str) + "/" + n.astype(str))
    out.insert(1, "paper read-out exact", g["paper read-out exact"].sum().astype(int).astype(str) + "/" + n.astype(str))
    out["TARF lowest Gap"] = (g["TARF - best"].apply(lambda d: int((d <= 0).sum()))).astype(str) + "/" + n.astype(str)
    return out


def totals(df: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and overall: cells × seeds where identification was exact (used read-out and the
    paper's), TARF forgot (UA ≤ 5) and TARF's Gap was the lowest."""
    parts = [(s, d) for s, d in df.groupby("scenario", sort=False)] + [("all", df)]
    rows = []
    for name, d in parts:
        n = len(d)
        rows.append({"scenario": name, "runs": n, "exact": f"{int(d['exact'].sum())}/{n}",
                     "paper read-out exact": f"{int(d['paper read-out exact'].sum())}/{n}",
                     "precision": round(d["precision"].mean(), 1), "recall": round(d["recall"].mean(), 1),
                     "TARF UA <= 5": f"{int((d['UA TARF'] <= 5).sum())}/{n}",
                     "TARF lowest Gap": f"{int((d['TARF - best'] <= 0).sum())}/{n}"})
    return pd.DataFrame(rows)


__all__ = ["BASELINES", "cell_context", "cell_rows", "summary", "table", "totals"]
