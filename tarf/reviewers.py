"""The data behind notebook 12: three questions a reviewer of the paper asks, each answered from runs
the runner caches (or from models re-made exactly as the runner made them).

1. **Does TARF need an oracle K?** TARF's group identification takes K, the number of target-concept
   model labels hidden in D_un, from the request (docs/metrics.md#k-tau-and-beta), which an
   unlearner would not know. :func:`k_sensitivity` re-runs TARF with K − 1 and K + 1 in place of K
   and, as the K-free alternative, with sample identification (the top p% of D_un by |Δloss|) for a
   few p; each row carries the identification's precision and recall against the true D_fr and
   ``fr_share`` (the share of D_un that is D_fr), the value p would have to guess.
2. **Is Gap dominated by MIA?** Gap averages |Δ| to Retrained over UA, RA, TA and MIA, and MIA
   swings between 0 and 100 where the accuracies move by a few points. :func:`gap_decomposition`
   splits each method's Gap into its four terms, recomputes it without MIA and ranks the nine
   unlearning methods both ways; :func:`ranking_changes` says per scenario whether the winner changes.
3. **Is MIA stable?** The reported MIA is one SVC on one feature (the confidence p[y]).
   :func:`mia_features` scores the same models with the reference attack's other 1-D features
   (correctness, entropy, modified entropy; tarf.metrics.mia_feature), and :func:`mia_decision`
   shows the fitted attack's decision over the whole confidence axis next to where D_t's
   confidences lie, so one can see whether a "fully forgotten" D_t (MIA ≈ 100) is a region the
   shadow data covers or the SVC's extrapolation (:func:`mia_extrapolation` sums it up).

The runner keeps rows, not unlearned models, so question 3 re-makes a method's model with
:func:`method_model`: the runner's seeding and call, cached in the store (kind
``reviewer_models``); same seed, same model, same UA as the runner's row (tests/test_reviewers.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics, params, runner, store, train, unlearn
from .scenarios import labels as model_labels
from .tarf_analysis import identification_record, is_fr
from .unlearn import common
from .unlearn import tarf as tarf_method

UNLEARNING = unlearn.METHODS  # the nine methods ranked by gap_decomposition
DELTAS = (-1, 0, 1)
PS = (2.5, 5, 10, 20)
ROW_METRICS = ("UA", "RA", "TA", "MIA", "Gap", "FR_acc")


# --- 1. K oracle --------------------------------------------------------------------------------------

def _k_label(delta: int) -> str:
    return "K" if delta == 0 else f"K{delta:+d}"


def _n_groups(ctx, scenario: str) -> int:
    sc = ctx.split[scenario]
    return len(np.unique(model_labels(ctx.ds, sc.label_space)[sc.un].numpy()))


def k_variants(ctx, scenario: str, deltas=DELTAS, ps=PS) -> list[tuple[str, dict]]:
    """(label, TARF hyper-parameter overrides) of one scenario's K and p variants.

    K + delta < 1 is skipped (no identification is not a K guess), and so is K + delta at or above
    the number of model-label groups in D_un (TARF refuses it: it would mark all of D_un); delta 0
    is the profile's TARF unchanged, i.e. Table 3's row. A p variant keeps the request's K, which in
    sample mode only gates the identification (K = 0: none)."""
    K, n_groups = ctx.split[scenario].K, _n_groups(ctx, scenario)
    out = []
    for d in deltas:
        if d == 0:
            out.append((_k_label(d), {}))
        elif 1 <= K + d < n_groups:
            out.append((_k_label(d), {"K_override": K + d}))
    out += [(f"p={p:g}", {"identification": "sample", "p": p}) for p in ps]
    return out


def k_sensitivity(profile: str, overrides: dict | None = None, scenarios=("target_mismatch", "data_mismatch"),
                  seeds=(0,), deltas=DELTAS, ps=PS) -> pd.DataFrame:
    """TARF with a wrong K and with K-free sample identification: one row per (scenario, seed, variant).

    Every variant is a full runner row, run through ``runner.context(profile, overrides + {"methods":
    {"tarf": hp}})`` as tune.sweep does, so it is cached in the store like any row and a second call
    trains nothing. Columns: scenario, seed, variant ("K-1", "K", "K+1", "p=2.5", ...), mode (group /
    sample), K (the K the run used: K + delta, or the request's K for a p variant), p (sample mode),
    UA, RA, TA, MIA, Gap, FR_acc, precision and recall (%) of the identified D_un samples against
    D_fr, n_identified, n_fr and fr_share = 100·|D_fr|/|D_un| (the p a perfect sample
    identification would need: read the p sweep against it)."""
    overrides = overrides or {}
    base = runner.context(profile, overrides)
    rows = []
    for s in scenarios:
        sc = base.split[s]
        truth = is_fr(base, s)
        fr_share = 100.0 * len(sc.fr) / len(sc.un) if len(sc.un) else float("nan")
        for label, hp in k_variants(base, s, deltas, ps):
            # delta 0 goes through the same merge with nothing added: the very Table 3 row
            ctx = runner.context(profile, params.deep_merge(overrides, {"methods": {"tarf": hp}})) if hp else base
            for seed in seeds:
                row = runner.run_one(ctx, s, "tarf", seed)
                rec = identification_record(runner.run_log(ctx, s, "tarf", seed))
                q = tarf_method.identification_quality(rec["identified_idx"], truth)
                used = runner.hyper_parameters(ctx, "tarf")
                rows.append({"scenario": s, "seed": seed, "variant": label, "mode": used["identification"],
                             "K": rec["K"], "p": used["p"] if used["identification"] == "sample" else np.nan,
                             **{m: row.get(m, np.nan) for m in ROW_METRICS},
                             "precision": 100 * q["precision"], "recall": 100 * q["recall"],
                             "n_identified": q["n_identified"], "n_fr": q["n_fr"], "fr_share": fr_share})
    return pd.DataFrame(rows)


def k_answer(ks: pd.DataFrame) -> pd.DataFrame:
    """Question 1's verdict per scenario from :func:`k_sensitivity`'s rows, means over seeds: Gap and
    recall with the request's K, the best wrong K (K ± 1) and the best sample-mode p with theirs, and
    whether the true K gives the lowest Gap of all variants (then the oracle K is worth something)."""
    m = ks.groupby(["scenario", "variant"], sort=False)[["Gap", "recall"]].mean()
    rows = []
    for s in dict.fromkeys(ks["scenario"]):
        g = m.loc[s]
        wrong = _best(g["Gap"], [v for v in g.index if v.startswith("K") and v != "K"])
        sample = _best(g["Gap"], [v for v in g.index if v.startswith("p=")])
        k_gap = float(g["Gap"].get("K", float("nan")))
        rows.append({"scenario": s, "Gap K": k_gap, "recall K": float(g["recall"].get("K", float("nan"))),
                     "best wrong K": wrong[0], "Gap wrong K": wrong[1], "best p": sample[0],
                     "Gap best p": sample[1],
                     "recall best p": float(g["recall"][sample[0]]) if sample[0] in g.index else float("nan"),
                     "true K lowest Gap": bool(k_gap <= np.nanmin([wrong[1], sample[1], np.inf]))})
    return pd.DataFrame(rows)


# --- 2. Gap without MIA ---------------------------------------------------------------------------------

def gap_decomposition(results: pd.DataFrame) -> pd.DataFrame:
    """Each method's Gap split into its four |Δ| terms, and its rank with and without MIA.

    ``results``: the long-form table (scenario, method, seed, UA, RA, TA, MIA, Gap), with a
    "retrained" row for every (scenario, seed) another method has. One row per (scenario, method)
    except Retrained: dUA, dRA, dTA, dMIA = mean over seeds of |metric − Retrained's, same seed|;
    Gap, the table's (mean over seeds); Gap_no_MIA = mean of dUA, dRA, dTA; MIA_share = the share
    (%) of the four terms' sum that is dMIA; rank_Gap and rank_Gap_no_MIA (1 = best, ties share the
    better rank) among the nine unlearning methods of the scenario; rank_change = rank_Gap_no_MIA −
    rank_Gap (positive: the method falls once MIA is dropped). ``reference`` flags the Original row
    (kept, to show what doing nothing scores, but never ranked); any other method (e.g. an informed
    baseline) is kept unranked."""
    keys = ["scenario", "seed"]
    ret = results[results["method"] == "retrained"].set_index(keys)[list(metrics.GAP_KEYS)]
    if ret.index.duplicated().any():
        raise ValueError("results: more than one retrained row for a (scenario, seed)")
    rows = results[results["method"] != "retrained"]
    missing = set(map(tuple, rows[keys].drop_duplicates().to_numpy())) - set(ret.index)
    if missing:
        raise ValueError(f"results: no retrained row for (scenario, seed) {sorted(missing)}")
    ref = ret.loc[pd.MultiIndex.from_frame(rows[keys])].to_numpy()
    d = pd.DataFrame(np.abs(rows[list(metrics.GAP_KEYS)].to_numpy(dtype=float) - ref),
                     columns=[f"d{k}" for k in metrics.GAP_KEYS], index=rows.index)
    d = pd.concat([rows[["scenario", "method", "seed", "Gap"]], d], axis=1)
    out = d.groupby(["scenario", "method"], sort=False).agg(
        n_seeds=("seed", "nunique"), dUA=("dUA", "mean"), dRA=("dRA", "mean"), dTA=("dTA", "mean"),
        dMIA=("dMIA", "mean"), Gap=("Gap", "mean")).reset_index()
    out["Gap_no_MIA"] = out[["dUA", "dRA", "dTA"]].mean(axis=1)
    total = out[["dUA", "dRA", "dTA", "dMIA"]].sum(axis=1)
    out["MIA_share"] = (100 * out["dMIA"] / total).where(total > 0)
    out.insert(2, "reference", out["method"] == runner.ORIGINAL)
    ranked = out["method"].isin(UNLEARNING)
    for col in ("Gap", "Gap_no_MIA"):
        r = out[ranked].groupby("scenario", sort=False)[col].rank(method="min")
        out[f"rank_{col}"] = r.reindex(out.index).astype("Int64")
    out["rank_change"] = out["rank_Gap_no_MIA"] - out["rank_Gap"]
    # scenarios in the table's order; within one, ranked methods best first, then the rest
    order = {s: i for i, s in enumerate(out["scenario"].unique())}
    out = out.assign(_s=out["scenario"].map(order), _r=out["rank_Gap"].astype("Float64").fillna(np.inf))
    return out.sort_values(["_s", "_r"], kind="stable").drop(columns=["_s", "_r"]).reset_index(drop=True)


def ranking_changes(decomp: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: the best method by Gap and by Gap_no_MIA (ties joined by " = "), whether they
    differ, how many of the ranked methods change rank, and the Spearman correlation of the two
    orders (1 = MIA changes no ranking)."""
    rows = []
    for s, g in decomp[decomp["rank_Gap"].notna()].groupby("scenario", sort=False):
        best = {c: sorted(g.loc[g[f"rank_{c}"] == 1, "method"]) for c in ("Gap", "Gap_no_MIA")}
        rows.append({"scenario": s, "best_Gap": " = ".join(best["Gap"]), "Gap": g["Gap"].min(),
                     "best_Gap_no_MIA": " = ".join(best["Gap_no_MIA"]), "Gap_no_MIA": g["Gap_no_MIA"].min(),
                     "differs": best["Gap"] != best["Gap_no_MIA"], "n_moved": int((g["rank_change"] != 0).sum()),
                     "spearman": g["Gap"].corr(g["Gap_no_MIA"], method="spearman") if len(g) > 1 else np.nan})
    return pd.DataFrame(rows)


# --- 3. MIA robustness ---------------------------------------------------------------------------------

def _model_key(ctx, scenario: str, method: str, seed: int, orig_key: str) -> str:
    # what the runner's row key holds that determines the model (Retrained's key only scores it)
    return runner.run_key(ctx, scenario=scenario, method=method, seed=seed,
                          hp=runner.hyper_parameters(ctx, method), original=orig_key, v=1)


def method_model(ctx, scenario: str, method: str, seed: int):
    """The model behind a runner row: Retrained and Original from the runner; an unlearning method
    re-run exactly as ``runner.run_one`` runs it (seed_everything, then ``unlearn.run`` on the
    original with the runner's data and hyper-parameters, under the profile's autocast), so on a
    deterministic device it is the model the row was measured on. Cached in the store (kind
    ``reviewer_models``), keyed as the runner keys its rows, so notebook 12 re-runs nothing."""
    if method == "retrained":
        return runner.retrained(ctx, scenario, seed)[0]
    orig_model, orig = runner.original(ctx, scenario, seed)
    if method == runner.ORIGINAL:
        return orig_model
    model = common.clone(orig_model)  # the architecture; weights from the checkpoint
    k = _model_key(ctx, scenario, method, seed, orig["key"])
    ckpt = store.get_torch("reviewer_models", k)
    if ckpt is None:
        hp = runner.hyper_parameters(ctx, method)
        data = runner.unlearn_data(ctx, scenario, oracle=runner.needs_oracle(method, hp))
        train.seed_everything(seed, ctx.exp.num_threads)
        with train.autocast(ctx.exp):
            model, _ = unlearn.run(method, orig_model, data, hp, seed)
        ckpt = {"state_dict": {n: v.detach().cpu() for n, v in model.state_dict().items()},
                "scenario": scenario, "method": method, "seed": seed}
        store.put_torch("reviewer_models", k, ckpt)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.to(ctx.exp.device).eval()


def mia_features(ctx, scenario: str, seed: int, methods=("retrained", "tarf", "ft")) -> pd.DataFrame:
    """Per method, MIA-efficacy on D_t (%) with each 1-D feature of the reference attack
    (metrics.MIA_FEATURES: confidence, correctness, entropy, modified_entropy), same shadow
    members / non-members, same SVC. ``MIA_table`` is the runner row's MIA: it equals the
    ``confidence`` column when the re-made model is the row's (a check, not a second number)."""
    sets = runner.eval_sets(ctx, scenario)
    rows = []
    for m in methods:
        attacks = metrics.mia_attacks(method_model(ctx, scenario, m, seed), sets, device=ctx.exp.device)
        rows.append({"scenario": scenario, "seed": seed, "method": m,
                     **{f: a["MIA"] for f, a in attacks.items()},
                     "MIA_table": runner.run_one(ctx, scenario, m, seed)["MIA"]})
    return pd.DataFrame(rows)


GRID = np.linspace(0.0, 1.0, 101)  # confidence values the attack is asked about


def mia_decision(ctx, scenario: str, seed: int, methods=("retrained", "tarf")) -> pd.DataFrame:
    """The confidence attack of each method's model, over the whole confidence axis and where the
    data lie. Long form: scenario, seed, method, kind, confidence, decision, member.

    - kind "grid": 101 confidences 0, 0.01, ..., 1;
    - kind "D_t", "member", "non-member": one row per sample of D_t (the attack's target) and of the
      shadow members / non-members it was fitted on, at its confidence as the attack sees it (NaN
      counted as 0), histogram-ready.

    ``decision`` is the fitted SVC's ``decision_function``: a signed score, > 0 = member side, not
    a probability (the reference fits without ``probability=True``, so there is no
    ``predict_proba``, and turning it on would add an internal cross-validation the MIA does not
    have). ``member`` is ``predict`` == 1, the label the MIA counts (MIA = 100 × the share of D_t
    rows with member False)."""
    sets = runner.eval_sets(ctx, scenario)
    frames = []
    for m in methods:
        a = metrics.mia_attack(method_model(ctx, scenario, m, seed), sets, "confidence", ctx.exp.device)
        parts = {"grid": GRID, "D_t": a["target"], "member": a["members"], "non-member": a["nonmembers"]}
        for kind, v in parts.items():
            x = np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0)  # as the attack sees them
            dec = a["svc"].decision_function(x.reshape(-1, 1)) if len(x) else np.zeros(0)
            member = a["svc"].predict(x.reshape(-1, 1)) == 1 if len(x) else np.zeros(0, bool)
            frames.append(pd.DataFrame({"scenario": scenario, "seed": seed, "method": m, "kind": kind,
                                        "confidence": x, "decision": dec, "member": member}))
    return pd.concat(frames, ignore_index=True)


def mia_extrapolation(decision: pd.DataFrame) -> pd.DataFrame:
    """Per (scenario, seed, method) of :func:`mia_decision`'s frame: MIA (from its D_t rows); the
    range of the shadow confidences the SVC was fitted on; the share (%) of D_t outside that range,
    where the decision is the RBF kernel's extrapolation; the median D_t confidence; the grid's
    member region (lowest and highest confidence predicted member, NaN if none) and how often the
    predicted label switches along the grid (1 = one threshold)."""
    rows = []
    for (s, seed, m), g in decision.groupby(["scenario", "seed", "method"], sort=False):
        grid, t = g[g["kind"] == "grid"], g[g["kind"] == "D_t"]
        shadow = g.loc[g["kind"].isin(["member", "non-member"]), "confidence"]
        lo, hi = shadow.min(), shadow.max()
        on = grid.loc[grid["member"], "confidence"]
        rows.append({"scenario": s, "seed": seed, "method": m,
                     "MIA": 100.0 * float((~t["member"].astype(bool)).mean()) if len(t) else np.nan,
                     "shadow_min": lo, "shadow_max": hi,
                     "D_t_outside_shadow": 100.0 * float(((t["confidence"] < lo) | (t["confidence"] > hi)).mean())
                     if len(t) else np.nan,
                     "D_t_median": t["confidence"].median(),
                     "member_from": on.min() if len(on) else np.nan, "member_to": on.max() if len(on) else np.nan,
                     "switches": int((grid["member"].astype(int).diff().abs() > 0).sum())})
    return pd.DataFrame(rows)


def _best(gaps: pd.Series, names) -> tuple[str, float]:
    """The name with the lowest finite Gap among ``names`` (ties to the name), or ("-", NaN)."""
    names = [n for n in names if n in gaps.index and np.isfinite(gaps[n])]
    if not names:
        return "-", float("nan")
    b = min(names, key=lambda n: (gaps[n], n))
    return b, float(gaps[b])


def informed_answer(results: pd.DataFrame) -> pd.DataFrame:
    """Question 0 (the informed baselines, docs/baselines.md): per scenario, mean Gap over seeds of
    TARF, of the best baseline given only D_f (ft, ga), of the best `+id` baseline (TARF's
    identification, other objective) and of the best `+oracle` one (the true D_t). TARF's objective
    is what helps when TARF beats the best `+id` run that shares its identification."""
    m = results.groupby(["scenario", "method"])["Gap"].mean()
    rows = []
    for s in dict.fromkeys(results["scenario"]):
        g = m.loc[s]

        plain = _best(g, ("ft", "ga"))
        with_id = _best(g, [n for n in g.index if n.endswith("+id") or n == "ga_id_ft"])
        oracle = _best(g, [n for n in g.index if n.endswith("+oracle")])
        tarf = float(g.get("tarf", float("nan")))
        rows.append({"scenario": s, "Gap TARF": tarf, "best plain": plain[0], "Gap plain": plain[1],
                     "best +id": with_id[0], "Gap +id": with_id[1], "best +oracle": oracle[0],
                     "Gap +oracle": oracle[1], "TARF below best +id": bool(tarf <= with_id[1])})
    return pd.DataFrame(rows)


def _num(v: float) -> str:
    return f"{v:.2f}" if np.isfinite(v) else "-"


def verdict(informed: pd.DataFrame, k: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Notebook 12's verdict: one row per (question, scenario) from :func:`informed_answer`,
    :func:`k_answer` and :func:`ranking_changes`: the question, the answer (yes / no) and the mean
    Gaps (over seeds) behind it."""
    rows = []
    for _, r in informed.iterrows():
        rows.append({"question": "1 TARF's Gap <= best run with its identification", "scenario": r["scenario"],
                     "answer": "yes" if r["TARF below best +id"] else "no",
                     "evidence": f"TARF {_num(r['Gap TARF'])}, {r['best +id']} {_num(r['Gap +id'])}"})
    for _, r in k.iterrows():
        rows.append({"question": "2 the request's K gives TARF's lowest Gap", "scenario": r["scenario"],
                     "answer": "yes" if r["true K lowest Gap"] else "no",
                     "evidence": f"K {_num(r['Gap K'])}, {r['best wrong K']} {_num(r['Gap wrong K'])}, "
                                 f"{r['best p']} {_num(r['Gap best p'])}"})
    for _, r in changes.iterrows():
        rows.append({"question": "3 the best method changes without MIA", "scenario": r["scenario"],
                     "answer": "yes" if r["differs"] else "no",
                     "evidence": f"{r['best_Gap']} {_num(r['Gap'])} -> {r['best_Gap_no_MIA']} "
                                 f"{_num(r['Gap_no_MIA'])}, {r['n_moved']} methods change rank"})
    return pd.DataFrame(rows, columns=["question", "scenario", "answer", "evidence"])


__all__ = ["informed_answer", "GRID", "UNLEARNING", "gap_decomposition", "k_answer", "k_sensitivity", "k_variants", "method_model",
           "mia_decision", "mia_extrapolation", "mia_features", "ranking_changes", "verdict"]
