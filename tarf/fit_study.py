"""The fit study (docs/tarf.md#identification-study): does TARF fail on the `default` profile because its base models
under-fit?

For every grid point (model width, base-training epochs, tuning seed) and every Fashion-MNIST-style
request with K > 0 — each fine class of a superclass with more than one class given, concept = that
superclass, in target mismatch (fine model) and data mismatch (coarse model); 14 cells on
Fashion-MNIST — and every named TARF variant, one row:

- the original (trained once per grid point and label space, cached in the store): its accuracy on
  the full training split and on the test subset (eval mode, model labels);
- one TARF run (cached in the store under a key of everything that determines it, as the runner's
  rows are): from its identification record, for each read-out (acc_drop, abs_loss_change,
  absorption, proximity) every group's score, its top-K model-label groups (rank order), whether
  they equal the hidden groups as a set, the margin between the K-th and the next score (0: the
  tie rule, lower label first, decided), and the precision / recall of the D_un samples they mark
  against D_fr (identification happens once per run; the run itself acts on the profile's
  group_score, recorded as `group_score`, its groups as `run_groups`);
- TARF's UA (D_t), RA (D_r), TA (test'), FR_acc (D_fr) at the end;
- the same for its oracle twin (τ = 0 exactly on D_fr): wrong groups → identification failed;
  right groups but D_t still recognised (also by the oracle) → forgetting failed.

No Retrained model is trained (so no Gap or MIA): the study asks about the originals and TARF only.
Hidden groups are the model labels of D_fr, as in tarf.study. In data mismatch that is the coarse
label D_f itself carries (D_un holds the rest of the superclass under it): every read-out ranks it
among all D_un groups, none is excluded (tarf/unlearn/tarf.py, module docstring).

Results: one CSV (results/<profile>/fit_study.csv unless given), one row per (width, base_epochs,
seed, scenario, given, variant) = KEY_COLUMNS. Rows already there are skipped; every finished row is
written at once (temporary file, then os.replace), so an interrupted study loses at most the row in
flight. Seed 0 is the evaluation seed and is refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import metrics, runner, scenarios, store, train, unlearn
from .params import deep_merge
from .paths import results_dir
from .progress import progress
from .unlearn import tarf as T

SCENARIOS = ("target_mismatch", "data_mismatch")
READOUTS = ("acc_drop", "abs_loss_change", "absorption", "proximity")
# Named TARF variants, each relative to the profile's methods.tarf settings.
VARIANTS = {
    "default": {},
    "mixed": {"phase1_batches": "mixed"},
    "paper_dose": {"epochs": 10, "t0": 2, "lr": 0.01, "k_target": 0.04},  # the paper's values
    "ascent": {"identified_op": "ascent"},
    # the proximity read-out (docs/tarf.md#group-scores) drives the run, at the default's dose and at twice its k
    "proximity": {"group_score": "proximity"},
    "proximity_k4": {"group_score": "proximity", "k_target": 0.04},
}
KEY_COLUMNS = ["width", "base_epochs", "seed", "scenario", "given", "variant"]
UA_FORGOTTEN = 5.0  # summary: UA ≤ this counts as forgotten (Retrained's UA is 0 in these cells)


@dataclass
class StudyResult:
    df: pd.DataFrame  # every row of the CSV (earlier runs included)
    computed: int = 0  # rows computed by this call
    skipped: int = 0  # rows of the grid already in the CSV
    hps: dict = field(default_factory=dict)  # variant -> the hp JSON its rows are run with now
    stopped: bool = False  # True if max_minutes ended the call early
    remaining: list = field(default_factory=list)  # (width, base_epochs, seed, cell, variant) not done
    cell_ids: list = field(default_factory=list)  # the cells selected


def cells(ds, scenarios_=SCENARIOS) -> list[dict]:
    """Every request with K > 0: each fine class of a superclass of several classes is given, the
    superclass is the concept, in each scenario. Id: "<scenario>:<given>"."""
    out = []
    for scen in scenarios_:
        for concept, fine in ds.hierarchy or ():
            if len(fine) > 1:
                out += [{"id": f"{scen}:{g}", "scenario": scen, "given": g, "concept": concept}
                        for g in fine]
    return out


def select_cells(all_cells: list[dict], filters) -> list[dict]:
    """Cells matching any filter: a cell id ("data_mismatch:Coat"), a given class, a scenario or a
    concept. No filter: all. A filter matching nothing is an error naming the valid ids."""
    if not filters:
        return list(all_cells)
    unknown = [f for f in filters if not any(f in (c["id"], c["given"], c["scenario"], c["concept"])
                                             for c in all_cells)]
    if unknown:
        raise ValueError(f"--cells: {unknown} match no cell; valid: {', '.join(c['id'] for c in all_cells)}"
                         " (or a given class, scenario or concept)")
    return [c for c in all_cells if any(f in (c["id"], c["given"], c["scenario"], c["concept"])
                                        for f in filters)]


def variant_hp(ctx, name: str) -> dict:
    """TARF's full hyper-parameters for variant `name`: DEFAULTS, the profile's, the variant's."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)}")
    return runner.hyper_parameters(ctx, "tarf") | VARIANTS[name]


def _norm_key(row) -> tuple:
    # the hp JSON is part of the key: a variant is relative to the profile's TARF settings, so a row
    # run before those changed is a record of other settings, not this row done
    return (int(row["width"]), float(row["base_epochs"]), int(row["seed"]), str(row["scenario"]),
            str(row["given"]), str(row["variant"]), str(row["hp"]))


def _job_key(job, hps: dict) -> tuple:
    w, e, s, c, v = job
    return _norm_key({"width": w, "base_epochs": e, "seed": s, "scenario": c["scenario"],
                      "given": c["given"], "variant": v, "hp": hps[v]})


def _ym(ctx, sc) -> torch.Tensor:
    return scenarios.labels(ctx.ds, sc.label_space)


def _original_accuracy(ctx, model, orig_key: str, label_space: str) -> dict:
    """Train (full training split) and test accuracy of an original, eval mode; cached by its key."""
    k = store.key({"fit_study": "original_accuracy", "original": orig_key, "v": 1})
    got = store.get_json("fit_study", k)
    if got is None:
        x, y = ctx.ds.x_train[ctx.split.train], scenarios.labels(ctx.ds, label_space)[ctx.split.train]
        xt, yt = ctx.ds.x_test[ctx.split.test], scenarios.labels(ctx.ds, label_space, "test")[ctx.split.test]
        got = {"train_acc": metrics.accuracy(model, x, y, ctx.exp.device),
               "test_acc": metrics.accuracy(model, xt, yt, ctx.exp.device)}
        store.put_json("fit_study", k, got)
    return got


def tarf_key(ctx, scenario: str, seed: int, hp: dict, orig_key: str) -> str:
    """Store key of one TARF run: everything that determines it (the pattern of runner._row_key,
    without a Retrained, which this study does not train)."""
    return runner.run_key(ctx, study="fit", scenario=scenario, method="tarf", seed=seed, hp=hp,
                          original=orig_key, v=1)


def run_tarf(ctx, scenario: str, seed: int, model, orig_key: str, hp: dict) -> dict:
    """One TARF run (hp["oracle"] → its oracle twin) and its UA / RA / TA / FR_acc; cached."""
    k = tarf_key(ctx, scenario, seed, hp, orig_key)
    got = store.get_json("fit_study", k)
    if got is not None:
        return got
    data = runner.unlearn_data(ctx, scenario, oracle=hp["oracle"])
    train.seed_everything(seed, ctx.exp.num_threads)
    t0 = time.perf_counter()
    with train.autocast(ctx.exp):
        out, log = unlearn.run("tarf", model, data, hp, seed)
    if ctx.exp.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    sets = runner.eval_sets(ctx, scenario)
    dev = ctx.exp.device
    got = {"UA": metrics.accuracy(out, *sets["t"], device=dev),
           "RA": metrics.accuracy(out, *sets["r"], device=dev),
           "TA": metrics.accuracy(out, *sets["test"], device=dev),
           "FR_acc": metrics.accuracy(out, *sets["fr"], device=dev) if "fr" in sets else float("nan"),
           "seconds": seconds, "key": k, "hp": hp,
           "identification": next(e["identification"] for e in log if "identification" in e),
           "log": [{k_: v for k_, v in e.items() if k_ != "identification"} for e in log]}
    store.put_json("fit_study", k, got)
    return json.loads(json.dumps(got))  # as a cached read gives it (int labels → str keys)


def readout_columns(rec: dict, y_un: np.ndarray, is_fr: np.ndarray, K: int, hidden: list) -> dict:
    row = {}
    for r in READOUTS:
        s = {int(g): float(v) for g, v in rec[f"group_{r}"].items()}
        ranked = T.rank_groups(s)  # identification's order
        top = ranked[:K]
        # margin: K-th score minus the next; 0 = the top-K was decided by the tie rule alone
        margin = s[ranked[K - 1]] - s[ranked[K]] if 0 < K < len(ranked) else float("nan")
        q = T.identification_quality(np.flatnonzero(np.isin(y_un, top)), is_fr)
        row |= {f"{r}_top_k": json.dumps(top), f"{r}_hit": sorted(top) == hidden,  # top: rank order
                f"{r}_precision": q["precision"], f"{r}_recall": q["recall"], f"{r}_margin": margin,
                f"{r}_scores": json.dumps({g: round(v, 6) for g, v in sorted(s.items())})}
    return row


def study_row(ctx, cell: dict, seed: int, variant: str, width: int, base_epochs: float) -> dict:
    """One CSV row: the original's fit, TARF's identification by every read-out, TARF and oracle."""
    scen = cell["scenario"]
    sc = ctx.split[scen]
    model, orig = runner.original(ctx, scen, seed)
    acc = _original_accuracy(ctx, model, orig["key"], sc.label_space)
    hp = variant_hp(ctx, variant)
    run = run_tarf(ctx, scen, seed, model, orig["key"], hp | {"oracle": False})
    oracle = run_tarf(ctx, scen, seed, model, orig["key"], hp | {"oracle": True})
    ym = _ym(ctx, sc).numpy()
    y_un, is_fr = ym[sc.un], np.isin(sc.un, sc.fr)
    hidden = scenarios.hidden_groups(ctx.ds, sc)
    rec = run["identification"]
    q = T.identification_quality(rec["identified_idx"], is_fr)
    row = {"width": width, "base_epochs": base_epochs, "seed": seed, "scenario": scen,
           "given": cell["given"], "variant": variant, "concept": cell["concept"], "cell": cell["id"],
           "hp": json.dumps(hp, sort_keys=True), "group_score": hp["group_score"], "K": sc.K,
           "hidden": json.dumps(hidden), "train_acc": acc["train_acc"], "test_acc": acc["test_acc"],
           "original_minutes": orig["seconds"] / 60,
           **readout_columns(rec, y_un, is_fr, sc.K, hidden),
           "run_groups": json.dumps(rec["groups"]), "run_hit": sorted(rec["groups"]) == hidden,
           "run_precision": q["precision"], "run_recall": q["recall"]}
    for name, r in (("tarf", run), ("oracle", oracle)):
        row |= {f"{name}_{m}": r[m] for m in ("UA", "RA", "TA", "FR_acc")}
        row[f"{name}_minutes"] = r["seconds"] / 60
    row |= {"split_hash": ctx.split.hash, "profile": ctx.profile}
    return row


def _write(df: pd.DataFrame, path: Path) -> None:
    store.atomic_write_bytes(path, df.to_csv(index=False).encode())  # temp file, fsync, os.replace


def run_study(profile: str = "default", widths=(8,), base_epochs=(5,), seeds=(1,), variants=("default",),
              cell_filter=None, max_minutes: float | None = None, csv_path: Path | None = None,
              overrides: dict | None = None) -> StudyResult:
    """Compute every missing row of the grid, appending each to the CSV as soon as it is done."""
    if 0 in seeds:
        raise ValueError("seed 0 is the evaluation seed (docs/protocol.md#seeds); use tuning seeds 1-3")
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; valid: {', '.join(VARIANTS)}")
    csv_path = Path(csv_path) if csv_path else results_dir(profile) / "fit_study.csv"
    df = pd.read_csv(csv_path) if csv_path.exists() else pd.DataFrame()
    done = {_norm_key(r) for r in df.to_dict("records")}
    base = runner.context(profile, overrides)
    todo_cells = select_cells(cells(base.ds), cell_filter)
    jobs = [(w, e, s, c, v) for w in widths for e in base_epochs for s in seeds for c in todo_cells
            for v in variants]
    hps = {v: json.dumps(variant_hp(base, v), sort_keys=True) for v in variants}
    res = StudyResult(df, cell_ids=[c["id"] for c in todo_cells], hps=hps)
    start = time.monotonic()
    bar = progress(total=len(jobs), desc="fit study")
    ctx_of = {}
    for n, (w, e, s, c, v) in enumerate(jobs):
        if _job_key(jobs[n], hps) in done:
            res.skipped += 1
            bar.update(1)
            continue
        if max_minutes is not None and time.monotonic() - start > 60 * max_minutes:
            res.stopped = True  # before a row starts, never inside one
            res.remaining = [(j[0], j[1], j[2], j[3]["id"], j[4]) for j in jobs[n:] if _job_key(j, hps) not in done]
            break
        ck = (w, e, c["id"])
        if ck not in ctx_of:  # one context per (grid point, request); the originals are shared
            ctx_of = {ck: runner.context(profile, deep_merge(overrides or {}, {
                "model": {"width": w}, "train": {"epochs": e},
                "requests": {c["scenario"]: {"given": [c["given"]], "concept": c["concept"]}}}))}
        row = study_row(ctx_of[ck], c, s, v, w, e)
        res.df = pd.concat([res.df, pd.DataFrame([row])], ignore_index=True)
        _write(res.df, csv_path)
        done.add(_norm_key(row))
        res.computed += 1
        bar.update(1)
    bar.close()
    return res


def _count(col: pd.Series) -> str:
    return f"{int(col.sum())}/{len(col)}"


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per setting (width, base_epochs, variant): mean original train / test accuracy, on how many
    cells each read-out's top-K was exactly the hidden groups, and on how many TARF and its oracle
    twin reached UA ≤ 5."""
    if df.empty:
        return pd.DataFrame()
    df = df.copy()
    for col in [f"{r}_hit" for r in READOUTS] + ["run_hit"]:
        df[col] = df[col].astype(str).str.lower() == "true"  # a CSV round trip gives strings
    df["tarf_forgot"] = df["tarf_UA"] <= UA_FORGOTTEN
    df["oracle_forgot"] = df["oracle_UA"] <= UA_FORGOTTEN
    g = df.groupby(["width", "base_epochs", "variant"], sort=True)
    out = g[["train_acc", "test_acc"]].mean().round(1)
    out["cells"] = g.size()
    for r in READOUTS:
        out[f"exact {r}"] = g[f"{r}_hit"].agg(_count)
    out["TARF UA<=5"] = g["tarf_forgot"].agg(_count)
    out["oracle UA<=5"] = g["oracle_forgot"].agg(_count)
    out["TARF RA"] = g["tarf_RA"].mean().round(1)
    out["oracle RA"] = g["oracle_RA"].mean().round(1)
    return out


def grid_rows(df: pd.DataFrame, widths, base_epochs, seeds, variants, cell_ids=None,
              hps: dict | None = None) -> pd.DataFrame:
    """The CSV rows of one grid selection (for the end-of-run summary); with ``hps`` (variant → hp
    JSON, StudyResult.hps) only the rows run with those settings."""
    if df.empty:
        return df
    m = (df["width"].isin(widths) & df["base_epochs"].astype(float).isin([float(e) for e in base_epochs])
         & df["seed"].isin(seeds) & df["variant"].isin(variants))
    if hps is not None:
        m &= df["hp"] == df["variant"].map(hps)
    if cell_ids is not None:
        m &= df["cell"].isin(cell_ids)
    return df[m]


__all__ = ["KEY_COLUMNS", "READOUTS", "SCENARIOS", "VARIANTS", "StudyResult", "cells", "grid_rows",
           "run_study", "select_cells", "study_row", "summary"]
