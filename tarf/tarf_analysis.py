"""The data behind notebook 09: TARF's phases (paper Fig. 4), its target identification (Fig. 5a,
docs/tarf.md#identification and the Fashion-MNIST probe (docs/tarf.md#fashion-mnist-probe)), its dynamics against Retrained (Fig. 5b) and its ablations (Fig. 7).

Everything reads the runs the runner caches (``runner.run_one`` / ``runner.run_log``), or runs a
**variant**: TARF with some of its hyper-parameters overridden, evaluated on D_t, D_r, D_f and
D_fr / D_ar after every epoch through ``UnlearnData.monitor`` (evaluation only: the monitor does
not touch the random state, so a variant with no override is the same run as ``run_one``'s).
Variants are cached in the store (kind ``tarf_variants``), keyed by what determines them — the
split, the original and Retrained checkpoints, the merged hyper-parameters with k resolved, the
batch size, augmentation and device — so re-running notebook 09 does no training.

Identification is judged against the truth, which TARF never sees: a D_un position is false-
retaining data when its global training index lies in D_fr (:func:`is_fr`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics, runner, store, train, unlearn
from .checks import check, check_seeds
from .scenarios import hidden_groups
from .scenarios import labels as model_labels
from .unlearn import tarf as tarf_method

SCORES = ("acc_drop", "abs_acc_change", "abs_loss_change", "absorption", "proximity")  # docs/tarf.md#group-scores
MONITOR_SETS = ("D_t", "D_r", "D_f", "D_fr", "D_ar")  # accuracies logged per epoch by variants


# --- groups and the truth ----------------------------------------------------------------------------

def group_names(ctx, scenario: str) -> dict[int, str]:
    """Model label id → name: fine class names, or superclass names for a coarse model."""
    if ctx.split[scenario].label_space == "fine":
        return dict(enumerate(ctx.ds.classes))
    return {i: name for i, (name, _) in enumerate(ctx.ds.hierarchy)}


def target_groups(ctx, scenario: str) -> list[int]:
    """The model labels of D_fr: the target-concept groups hidden in D_un (empty if K = 0)."""
    return hidden_groups(ctx.ds, ctx.split[scenario])


def is_fr(ctx, scenario: str) -> np.ndarray:
    """Boolean mask over D_un's positions: True where the sample's global index is in D_fr."""
    sc = ctx.split[scenario]
    return np.isin(sc.un, sc.fr)


def identification_record(log: list[dict]) -> dict:
    """The ``identification`` entry of a TARF log, with group keys back to ints (JSON made them str)."""
    rec = next(e["identification"] for e in log if "identification" in e)
    out = dict(rec)
    for k in ("group_scores", "group_acc_drop", "group_abs_loss_change", "group_absorption", "group_proximity"):
        out[k] = {int(g): v for g, v in rec.get(k, {}).items()}
    return out


def _top(scores: dict[int, float], K: int) -> list[int]:
    """The top-K labels by score, in identification's order (tarf.unlearn.tarf.rank_groups)."""
    return tarf_method.rank_groups(scores)[:K]


def _positions(y_un: np.ndarray, groups) -> list[int]:
    return np.flatnonzero(np.isin(y_un, list(groups))).tolist()


def groups_frame(ctx, scenarios, seed: int = 0) -> pd.DataFrame:
    """One row per model-label group of D_un in each scenario with K > 0, from the cached TARF run:
    every group score after Phase I (accuracy in points; absorption and proximity NaN in logs
    written before they were recorded), whether the group holds target data
    (truth), its rank and whether TARF identified it (top-K by the score TARF used)."""
    rows = []
    for s in scenarios:
        if ctx.split[s].K == 0:
            continue
        rec = identification_record(runner.run_log(ctx, s, "tarf", seed))
        names, target = group_names(ctx, s), set(target_groups(ctx, s))
        drop, dloss = rec["group_acc_drop"], rec["group_abs_loss_change"]
        ranked = _top(rec["group_scores"], len(drop))
        for g in sorted(drop):
            rows.append({"scenario": s, "seed": seed, "label": g, "group": names[g],
                         "acc_drop": drop[g], "abs_acc_change": abs(drop[g]),
                         "abs_loss_change": dloss[g],
                         "absorption": rec["group_absorption"].get(g, np.nan),
                         "proximity": rec["group_proximity"].get(g, np.nan), "target": g in target,
                         "rank": ranked.index(g) + 1, "identified": g in rec["groups"],
                         "score_used": rec["score"], "K": rec["K"]})
    return pd.DataFrame(rows)


def identification_summary(ctx, scenarios=None, seeds=None) -> pd.DataFrame:
    """Per scenario with K > 0 and seed: the groups TARF identified vs the true target groups (by the
    read-out TARF used, ``score``; ``exact_acc_drop``: whether the paper's read-out, the accuracy drop,
    would have been exact on the same Phase I), and the precision / recall of the identified D_un
    samples against D_fr (evaluation only)."""
    rows = []
    for seed in seeds or ctx.exp.seeds:
        for s in scenarios or ctx.exp.scenarios:
            if ctx.split[s].K == 0:
                continue
            rec = identification_record(runner.run_log(ctx, s, "tarf", seed))
            names, target = group_names(ctx, s), target_groups(ctx, s)
            q = tarf_method.identification_quality(rec["identified_idx"], is_fr(ctx, s))
            found = rec["groups"] if rec["groups"] is not None else []
            # the paper's read-out on the same Phase I (which does not depend on the score)
            paper = sorted(_top(rec["group_acc_drop"], rec["K"])) if rec.get("group_acc_drop") else None
            rows.append({"scenario": s, "seed": seed, "K": rec["K"], "score": rec["score"],
                         "identified": ", ".join(names[g] for g in found) or "-",
                         "target": ", ".join(names[g] for g in target),
                         "exact": sorted(found) == target,
                         "exact_acc_drop": paper == target if paper is not None else np.nan, "precision": 100 * q["precision"],
                         "recall": 100 * q["recall"], "n_identified": q["n_identified"], "n_fr": q["n_fr"]})
    return pd.DataFrame(rows)


def repair(ctx, scenario: str, seeds) -> pd.DataFrame:
    """Fig. 5b per seed: |acc(D_r) − acc(D_t) − Retrained's| at the end of full TARF and of TARF
    with t0 = 0 (no Phase III), from the monitored runs of :func:`dynamics` (cached)."""
    col, rows = "acc D_r - acc D_t", []
    for sd in seeds:
        dyn, levels = dynamics(ctx, scenario, sd)
        want = levels[col].iloc[0]
        end = {v: abs(d[col].iloc[-1] - want) for v, d in dyn.groupby("variant", sort=False)}
        (full, e_full), (cut, e_cut) = list(end.items())[:2]
        rows.append({"scenario": scenario, "seed": sd, "full": full, "cut": cut, "end gap full": e_full,
                     "end gap cut": e_cut})
    return pd.DataFrame(rows)


def verdict(ident: pd.DataFrame, rep: pd.DataFrame) -> pd.DataFrame:
    """Notebook 09's checks, in observations.print_verdict's form: (1) Fig. 5a — in every scenario with
    K > 0 the identified groups are exactly the target groups on every seed (a count:
    docs/protocol.md#how-sure-a-verdict-is); (2) Fig. 5b — Phase III brings acc(D_r) − acc(D_t) at
    least as close to Retrained's as the same run without it (per seed, paired; :func:`repair`)."""
    rows = []
    for s, g in ident.groupby("scenario", sort=False):
        exact = g["exact"].astype(float)
        rows.append({"scenario": s, "check": f"Fig. 5a: share of seeds identified = target ({int(exact.sum())}"
                     f"/{len(exact)})", **check(exact.mean(), ">=", 1.0), "n": len(exact)})
    full, cut = rep["full"].iloc[0], rep["cut"].iloc[0]
    rows.append({"scenario": rep["scenario"].iloc[0],
                 "check": f"Fig. 5b: |RA − UA − Retrained's|, {full} minus {cut}",
                 **check_seeds(rep["end gap full"] - rep["end gap cut"], "<=", 0.0)})
    return pd.DataFrame(rows, columns=["scenario", "check", "value", "half_width", "n", "rule", "holds"])


def probe(ctx, groups: pd.DataFrame) -> pd.DataFrame:
    """docs/tarf.md#fashion-mnist-probe: what each group score would identify (top-K), from the same Phase I.

    Phase I does not depend on the score, so one run serves all of them (a score missing from
    an older log, all NaN, is skipped). Precision and recall are
    those of the samples of the top-K groups against D_fr."""
    rows = []
    for s, g in groups.groupby("scenario", sort=False):
        K = int(g["K"].iloc[0])
        names = dict(zip(g["label"], g["group"]))
        target = sorted(g.loc[g["target"], "label"])
        y_un = model_labels(ctx.ds, ctx.split[s].label_space)[ctx.split[s].un].numpy()
        for score in [c for c in SCORES if g[c].notna().all()]:
            top = _top(dict(zip(g["label"], g[score])), K)
            q = tarf_method.identification_quality(_positions(y_un, top), is_fr(ctx, s))
            rows.append({"scenario": s, "score": score, "used by TARF": score == g["score_used"].iloc[0],
                         "top-K": ", ".join(names[t] for t in top),
                         "target": ", ".join(names[t] for t in target), "exact": sorted(top) == target,
                         "precision": 100 * q["precision"], "recall": 100 * q["recall"]})
    return pd.DataFrame(rows)


# --- phases (Fig. 4) ---------------------------------------------------------------------------------

def schedule_frame(ctx, scenarios, seed: int = 0) -> pd.DataFrame:
    """The schedule each cached TARF run actually used, one row per log entry (segment): phase,
    k(t), k(t)/k0 next to the formula's (tarf.k_schedule, k0 = the initial k) and the τ = 1 share of D_un."""
    rows = []
    hp = runner.hyper_parameters(ctx, "tarf")
    for s in scenarios:
        K = ctx.split[s].K
        k0 = tarf_method.resolve_k(hp, K)
        formula = tarf_method.k_schedule(hp, K=K)
        for e in runner.run_log(ctx, s, "tarf", seed):
            rows.append({"scenario": s, "t_start": e["t_start"], "t_end": e["t_end"], "epoch": e["epoch"],
                         "phase": e["phase"], "k": e["k"], "k / k0": e["k"] / k0 if k0 else 0.0,
                         "formula k / k0": (formula[e["epoch"]] if e["phase"] < 3 else 0.0) / k0 if k0 else 0.0,
                         "tau=1 fraction": e["tau1_fraction"], "steps": e["steps"]})
    return pd.DataFrame(rows)


# --- variants: monitored TARF runs with overridden hyper-parameters ---------------------------------------

def _sets(ctx, scenario: str) -> dict:
    sc = ctx.split[scenario]
    y = model_labels(ctx.ds, sc.label_space)
    parts = {"D_t": sc.t, "D_r": sc.r, "D_f": sc.f, "D_fr": sc.fr, "D_ar": sc.ar}
    return {name: (ctx.ds.x_train[idx], y[idx]) for name, idx in parts.items() if len(idx)}


def _monitor(ctx, scenario: str):
    sets, device = _sets(ctx, scenario), ctx.exp.device
    return lambda model: {f"acc {n}": metrics.accuracy(model, x, y, device) for n, (x, y) in sets.items()}


def variant_hp(ctx, scenario: str, **over) -> dict:
    """The profile's TARF hyper-parameters with ``over`` applied and k resolved from the request's K,
    so that {"k": None} and the k it resolves to key the same run."""
    hp = runner.hyper_parameters(ctx, "tarf") | over
    hp["k"] = tarf_method.resolve_k(hp, ctx.split[scenario].K)
    return hp


def variant(ctx, scenario: str, seed: int = 0, **over) -> dict:
    """One monitored TARF run (cached): {"row": UA, RA, TA, MIA, Gap, TIME_min, ..., "log": per-epoch
    entries with ``acc D_*`` (the first entry, t = 0, is the original model), "hp": merged}."""
    hp = variant_hp(ctx, scenario, **over)
    orig_model, orig = runner.original(ctx, scenario, seed)
    _, ret = runner.retrained(ctx, scenario, seed)
    ret_row = runner.run_one(ctx, scenario, "retrained", seed)
    k = runner.run_key(ctx, scenario=scenario, seed=seed, hp=hp, original=orig["key"], retrained=ret["key"],
                       monitor=list(MONITOR_SETS), v=1)
    cached = store.get_json("tarf_variants", k)
    if cached is not None:
        return cached
    monitor = _monitor(ctx, scenario)
    start = {"epoch": 0, "t_start": 0.0, "t_end": 0.0, "phase": 0, "k": float("nan"),
             "tau1_fraction": 0.0, "seconds": 0.0, **monitor(orig_model)}
    data = runner.unlearn_data(ctx, scenario, monitor=monitor)
    train.seed_everything(seed, ctx.exp.num_threads)
    model, log = unlearn.run("tarf", orig_model, data, hp, seed)
    row = {"scenario": scenario, "seed": seed, **metrics.evaluate(model, runner.eval_sets(ctx, scenario),
                                                                    ctx.exp.device),
           "TIME_min": sum(e["seconds"] for e in log) / 60}  # the monitor is outside "seconds"
    row["Gap"] = metrics.gap(row, ret_row)
    out = {"row": row, "log": [start, *log], "hp": hp}
    store.put_json("tarf_variants", k, out)
    return out


def reproduces_run_one(ctx, scenario: str, seed: int = 0) -> float:
    """Largest |difference| over UA, RA, TA, MIA between the monitored default variant and the cached
    ``run_one`` row: 0 when the monitor is evaluation only, as it must be."""
    a, b = variant(ctx, scenario, seed)["row"], runner.run_one(ctx, scenario, "tarf", seed)
    return max(abs(a[m] - b[m]) for m in metrics.GAP_KEYS)


# --- dynamics (Fig. 5b) ------------------------------------------------------------------------------

def dynamics(ctx, scenario: str, seed: int = 0, variants: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per epoch (t = epochs done, 0 = the original) and variant: the accuracy on each monitored set
    and acc(D_r) − acc(D_t); and the Retrained levels of the same quantities.

    ``variants`` maps a legend label to hyper-parameter overrides; default: full TARF and t0 = 0
    (no Phase III)."""
    variants = variants or {"TARF": {}, "TARF, t0 = 0": {"t0": 0}}
    rows = []
    for label, over in variants.items():
        for e in variant(ctx, scenario, seed, **over)["log"]:
            accs = {n: e[f"acc {n}"] for n in MONITOR_SETS if f"acc {n}" in e}
            rows.append({"scenario": scenario, "variant": label, "t": e["t_end"], "phase": e["phase"],
                         **{f"acc {n}": v for n, v in accs.items()}, "acc D_r - acc D_t": accs["D_r"] - accs["D_t"]})
    ret_model, _ = runner.retrained(ctx, scenario, seed)
    levels = {f"acc {n}": metrics.accuracy(ret_model, x, y, ctx.exp.device) for n, (x, y) in _sets(ctx, scenario).items()}
    levels["acc D_r - acc D_t"] = levels["acc D_r"] - levels["acc D_t"]
    return pd.DataFrame(rows), pd.DataFrame([{"scenario": scenario, "variant": "Retrained", **levels}])


# --- ablations (Fig. 7) ------------------------------------------------------------------------------

def ablations(ctx, plan: dict, seed: int = 0) -> pd.DataFrame:
    """``plan`` maps a TARF knob to (values, scenarios); one cached variant per (knob, value, scenario).
    Returns the final metrics in long form: knob, value, scenario, UA, RA, TA, MIA, Gap, FR_acc, UA_R."""
    rows = []
    for knob, (values, scenarios) in plan.items():
        for s in scenarios:
            for v in values:
                r = variant(ctx, s, seed, **{knob: v})["row"]
                rows.append({"knob": knob, "value": str(v), "scenario": s,
                             **{m: r.get(m, float("nan")) for m in ("UA", "RA", "TA", "MIA", "Gap", "FR_acc", "UA_R",
                                                                     "TIME_min")}})
    return pd.DataFrame(rows)


__all__ = ["SCORES", "ablations", "dynamics", "group_names", "groups_frame", "identification_record",
           "identification_summary", "is_fr", "probe", "repair", "reproduces_run_one", "schedule_frame",
           "target_groups", "variant", "variant_hp"]
