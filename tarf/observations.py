"""The data behind the paper's Observations 1–6 (Fig. 2, Fig. 3) and the checks of whether they hold.

Each ``obsN`` function returns what its figure plots plus the numbers its check reads; each
``obsN_verdict`` turns those numbers into a table of checks against thresholds that are function
parameters (docs/protocol.md#observations gives the expected patterns), and :func:`print_verdict` prints it with
one sentence. Nothing here is tuned to a profile: smoke verdicts only show that the checks run.

Representation checks use a chance-normalised k-nearest-neighbour **mixing index** in the
penultimate feature space (not in the 2-D embedding, which is for display only): among the
points of two sets A and B, the share of B among the k nearest neighbours of A's points, divided
by the share B would have if the two sets were randomly mixed. 1 = fully mixed, 0 = separated.

Obs. 6 needs the losses after every GA step, but ``UnlearnData.monitor`` fires once per epoch.
So :func:`ga_tracked` runs ``tarf.unlearn.ga`` itself (the same code path as notebooks 04, 06 and
10, ``bn_stats`` included) with a per-step hook that scores the groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import embedding, runner, store, train
from .checks import NA, UNDECIDED, judge, overall, shown
from .paths import results_dir
from .scenarios import labels as model_labels
from .store import atomic_write_bytes
from .unlearn import common

MISMATCHES = ("target_mismatch", "model_mismatch", "data_mismatch")
BAR_METHODS = ("retrained", "ft", "ga", "l1_sparse", "bs")  # docs/protocol.md#observations, Obs. 2 (+ L1-sparse, BS)
METHOD_NAMES = {"retrained": "Retrained", "ft": "FT", "rl": "RL", "ga": "GA", "iu": "IU", "bs": "BS",
                "l1_sparse": "L1-sparse", "salun": "SalUn", "scrub": "SCRUB", "tarf": "TARF"}
# Obs. 3: the expected relation of D_f to the scenario's other target/class data (docs/protocol.md#observations)
OBS3_EXPECTED = {"target_mismatch": "split", "model_mismatch": "merged", "data_mismatch": "merged"}


# --- representation: roles and mixing --------------------------------------------------------------

def roles(ctx, scenario: str, index) -> np.ndarray:
    """'D_f', 'D_fr', 'D_ar' or 'rest' for each global training index, in ``scenario``'s partition."""
    sc = ctx.split[scenario]
    out = np.full(len(index), "rest", dtype=object)
    for part in ("ar", "fr", "f"):
        out[np.isin(index, sc.idx[part])] = f"D_{part}"
    return out


def partner(ctx, scenario: str) -> str | None:
    """The data that share D_f's concept or model class: 'D_ar' (model mismatch), 'D_fr' (target,
    data mismatch), None (all matched)."""
    sc = ctx.split[scenario]
    return "D_ar" if len(sc.ar) else "D_fr" if len(sc.fr) else None


def mixing(feats: np.ndarray, a, b, k: int = 10) -> dict:
    """kNN mixing of set ``a`` with set ``b`` (boolean masks over the rows of ``feats``).

    Within a ∪ b, for each point of a: the share of b among its k nearest neighbours (Euclidean,
    itself excluded). Returns that mean share, the chance share |b| / (|a ∪ b| − 1) and their
    ratio, the mixing index (1 = randomly mixed, 0 = no b near a).
    """
    from sklearn.neighbors import NearestNeighbors

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if (a & b).any():
        raise ValueError("mixing: the two sets overlap")
    both = a | b
    n_a, n_b = int(a.sum()), int(b.sum())
    if n_a == 0 or n_b == 0 or n_a + n_b < 2:
        return {"n_a": n_a, "n_b": n_b, "knn share": np.nan, "chance": np.nan, "mixing": np.nan}
    pts, is_b, is_a = np.asarray(feats)[both], b[both], a[both]
    kk = min(k, len(pts) - 1)
    _, ind = NearestNeighbors(n_neighbors=kk).fit(pts).kneighbors()  # no query: self excluded
    share = float(is_b[ind[is_a]].mean())
    chance = n_b / (len(pts) - 1)
    return {"n_a": n_a, "n_b": n_b, "knn share": share, "chance": chance, "mixing": share / chance}


def _points(ctx, emb: embedding.Embedding, scenario: str) -> pd.DataFrame:
    pts = emb.frame(ctx.ds)
    pts.insert(0, "model", emb.label_space)
    pts.insert(0, "scenario", scenario)
    pts["role"] = roles(ctx, scenario, emb.index)
    return pts


def _mix_row(ctx, emb, scenario, a_name, a, b_name, b, k) -> dict:
    return {"scenario": scenario, "model": emb.label_space, "A": a_name, "B": b_name,
            **mixing(emb.features, a, b, k)}


def _seed_order(seed: int, seeds) -> list[int]:
    """The plotted ``seed`` first, then the other verdict ``seeds`` (None: the plotted one only)."""
    return [seed, *[int(x) for x in (seeds or []) if int(x) != seed]]


def _embedded(ctx, label_space, sd, seed, method, per_class, perplexity, classes=None):
    # the checks read features only: a seed that is not plotted gets the cheap PCA projection
    return embedding.compute(ctx, label_space, sd, method if sd == seed else "pca", per_class, perplexity,
                             classes)


def obs1(ctx, seed: int = 0, method: str = "tsne", per_class: int = 300, perplexity: float = 30.0,
         k: int = 10, scenario: str = "all_matched", seeds=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Obs. 1: the fine original's embedding (seed ``seed``) with D_f against the retaining classes,
    and per seed (``seed`` and ``seeds``) the mixing of D_f with the rest (low = D_f forms its own
    cluster, as its label says)."""
    pts, stats = None, []
    for sd in _seed_order(seed, seeds):
        emb = _embedded(ctx, ctx.split[scenario].label_space, sd, seed, method, per_class, perplexity)
        p = _points(ctx, emb, scenario)
        f = (p["role"] == "D_f").to_numpy()
        stats.append({"seed": sd, **_mix_row(ctx, emb, scenario, "D_f", f, "rest", ~f, k)})
        if sd == seed:
            p["group"] = np.where(f, "D_f: " + p["fine class"], p["fine class"])
            pts = p
    return pts, pd.DataFrame(stats)


def obs3(ctx, seed: int = 0, method: str = "tsne", per_class: int = 300, perplexity: float = 30.0,
         k: int = 10, scenarios=MISMATCHES, seeds=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Obs. 3: each mismatch scenario's original (seed ``seed``), points coloured by role, and per
    seed the mixing of D_f with the data sharing its concept (D_fr) or model class (D_ar)."""
    pts, stats = [], []
    for s in scenarios:
        other = partner(ctx, s)
        if other is None:
            raise ValueError(f"obs3: scenario {s!r} has neither D_fr nor D_ar; use one of {', '.join(MISMATCHES)}")
        for sd in _seed_order(seed, seeds):
            emb = _embedded(ctx, ctx.split[s].label_space, sd, seed, method, per_class, perplexity)
            p = _points(ctx, emb, s)
            stats.append({"seed": sd, **_mix_row(ctx, emb, s, "D_f", (p["role"] == "D_f").to_numpy(), other,
                                                  (p["role"] == other).to_numpy(), k)})
            if sd == seed:
                pts.append(p)
    return pd.concat(pts, ignore_index=True), pd.DataFrame(stats)


def concept_classes(ctx, scenario: str = "model_mismatch") -> list[str]:
    """Fine classes of the superclass(es) of ``scenario``'s given classes, in fine-id order
    (Fashion-MNIST, Sneaker: Sandal, Sneaker, Ankle boot)."""
    ds, given = ctx.ds, set(ctx.split[scenario].given)
    members = {f for _, fs in ds.hierarchy if given & set(fs) for f in fs}
    return [c for c in ds.classes if c in members]


def obs5(ctx, seed: int = 0, method: str = "tsne", per_class: int = 300, perplexity: float = 30.0,
         k: int = 10, scenario: str = "model_mismatch", seeds=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Obs. 5: the concept's classes only, embedded separately for the coarse and the fine original
    (seed ``seed``); per seed the mixing of D_f (the given classes) with the rest of its superclass
    (D_ar) in each model."""
    classes = concept_classes(ctx, scenario)
    given = set(ctx.split[scenario].given)
    pts, stats = [], []
    for ls in ("coarse", "fine"):
        for sd in _seed_order(seed, seeds):
            emb = _embedded(ctx, ls, sd, seed, method, per_class, perplexity, classes)
            p = emb.frame(ctx.ds)
            p.insert(0, "model", ls)
            p["role"] = np.where(p["fine class"].isin(given), "D_f", "D_ar")
            f = (p["role"] == "D_f").to_numpy()
            stats.append({"seed": sd, **_mix_row(ctx, emb, scenario, "D_f", f, "D_ar", ~f, k)})
            if sd == seed:
                pts.append(p)
    return pd.concat(pts, ignore_index=True), pd.DataFrame(stats)


def mixing_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The mixing numbers as printed: counts and 2-decimal shares."""
    return stats.round(2)


# --- unlearning bars (Obs. 2, Obs. 4) --------------------------------------------------------------

def unlearning_rows(ctx, scenarios, methods=BAR_METHODS, seeds=None) -> pd.DataFrame:
    """Results rows (runner.run_one, cached) of ``methods`` in ``scenarios`` for every seed."""
    return runner.run_all(ctx, list(methods), list(scenarios), seeds)


def bars_frame(rows: pd.DataFrame, metrics=("UA", "RA")) -> pd.DataFrame:
    """Long form for grouped bars: scenario, method (display name), seed, metric, value."""
    long = rows.melt(id_vars=["scenario", "method", "seed"], value_vars=list(metrics),
                     var_name="metric", value_name="value")
    long["method"] = long["method"].map(lambda m: METHOD_NAMES.get(m, m))
    return long


# --- Obs. 6: plain GA with the losses after every step ---------------------------------------------

@torch.no_grad()
def mean_ce(model, x, y, device: str = "cpu", batch_size: int = 1024) -> float:
    """Mean cross-entropy in eval mode (the model's mode is restored)."""
    if len(y) == 0:
        return float("nan")
    logits = common.predict(model, x, device, batch_size)
    return float(F.cross_entropy(logits, torch.as_tensor(y).long(), reduction="mean"))


def ga_tracked(model, data: common.UnlearnData, hp: dict, seed: int, groups: dict, device: str = "cpu"):
    """``tarf.unlearn.ga`` with a hook scoring mean CE on every group after every step.

    ``groups`` maps a name to ``(x_uint8, y_model_labels)``. Returns (model, rows) with one row per
    (step, group): step 0 is the original. ``hp`` overrides GA's DEFAULTS (unknown keys are an error).
    """
    from . import unlearn

    rows = []

    def score(m, step, epoch):
        rows.extend({"step": step, "epoch": epoch, "group": g, "n": len(y), "ce": mean_ce(m, x, y, device)}
                    for g, (x, y) in groups.items())

    score(model, 0, 0.0)
    model, _ = unlearn.run("ga", model, data, hp, seed, on_step=score)
    return model, rows


OBS6_MODELS = (("coarse", "model_mismatch"), ("fine", "target_mismatch"))  # (model, request)


def obs6(ctx, seed: int = 0, hp: dict | None = None, eval_per_class: int = 100,
         models=OBS6_MODELS, seeds=None) -> pd.DataFrame:
    """Obs. 6: plain GA on D_f from each original, mean CE after every step on D_f, on the data
    aligned with D_f (coarse: D_ar, fine: D_fr) and on the other data, each scored on the persisted
    sample of ≤ ``eval_per_class`` images per class. ``hp`` overrides the profile's GA settings.
    Long form: seed, model, scenario, step, epoch, group (D_f | aligned | other), set, n, ce; one
    block per seed (``seed``, then ``seeds``). Cached."""
    return pd.concat([_obs6_seed(ctx, sd, hp, eval_per_class, models).assign(seed=sd)
                      for sd in _seed_order(seed, seeds)], ignore_index=True)[
        ["seed", "model", "scenario", "step", "epoch", "group", "set", "n", "ce"]]


def _obs6_seed(ctx, seed, hp, eval_per_class, models) -> pd.DataFrame:
    out = []
    for ls, s in models:
        sc = ctx.split[s]
        if sc.label_space != ls:
            raise ValueError(f"obs6: scenario {s!r} uses the {sc.label_space} model, not {ls!r}")
        aligned = partner(ctx, s)
        if aligned is None:
            raise ValueError(f"obs6: scenario {s!r} has neither D_fr nor D_ar")
        idx = embedding.sample(ctx, eval_per_class, seed)
        part = {"D_f": sc.f, aligned: sc.ar if aligned == "D_ar" else sc.fr}
        part["other"] = np.setdiff1d(sc.r, sc.ar)  # D_r outside D_ar (D_ar is empty in a fine request)
        sets = {g: idx[np.isin(idx, p)] for g, p in part.items()}
        y_all = model_labels(ctx.ds, ls)
        groups = {g: (ctx.ds.x_train[torch.as_tensor(i)], y_all[torch.as_tensor(i)]) for g, i in sets.items()}
        model, rec = train.original(ctx.exp, ctx.ds, ctx.split, ls, seed)
        merged = runner.hyper_parameters(ctx, "ga") | dict(hp or {})
        k = runner.run_key(ctx, original=rec["key"], hp=merged, seed=seed, v=2,
                           sets={g: store.sha256_bytes(i.tobytes()) for g, i in sets.items()})
        cached = store.get_json("observations", k)
        if cached is None:
            data = runner.unlearn_data(ctx, s)
            train.seed_everything(seed, ctx.exp.num_threads)
            _, rows = ga_tracked(model, data, merged, seed, groups, ctx.exp.device)
            store.put_json("observations", k, {"rows": rows, "hp": merged})
        else:
            rows = cached["rows"]
        df = pd.DataFrame(rows)
        df["set"] = df["group"]
        df["group"] = df["group"].replace({aligned: "aligned"})
        df.insert(0, "scenario", s)
        df.insert(0, "model", ls)
        out.append(df)
    return pd.concat(out, ignore_index=True)[["model", "scenario", "step", "epoch", "group", "set", "n", "ce"]]


def loss_summary(curves: pd.DataFrame) -> pd.DataFrame:
    """Per seed, model and group: CE before and after GA, its rise, and the rise relative to D_f's."""
    rows = []
    curves = curves if "seed" in curves else curves.assign(seed=0)
    for (sd, ls, s), d in curves.groupby(["seed", "model", "scenario"], sort=False):
        first, last = d[d.step == d.step.min()], d[d.step == d.step.max()]
        rise_f = float(last.loc[last.group == "D_f", "ce"].iloc[0] - first.loc[first.group == "D_f", "ce"].iloc[0])
        for g in ("D_f", "aligned", "other"):
            c0 = float(first.loc[first.group == g, "ce"].iloc[0])
            c1 = float(last.loc[last.group == g, "ce"].iloc[0])
            rows.append({"seed": sd, "model": ls, "scenario": s, "group": g,
                         "set": first.loc[first.group == g, "set"].iloc[0], "steps": int(d.step.max()),
                         "CE start": c0, "CE end": c1, "end / start": c1 / c0 if c0 > 0 else np.nan,
                         "rise": c1 - c0,
                         "rise / D_f rise": (c1 - c0) / rise_f if rise_f > 0 else np.nan})
    return pd.DataFrame(rows)


# --- verdicts ---------------------------------------------------------------------------------------
# Each check is judged on its per-seed values with the interval rule of tarf.checks
# (docs/protocol.md#how-sure-a-verdict-is); a table without a seed column is one seed.

def _check(scenario: str, check: str, values, op: str, threshold: float) -> dict:
    row = judge(np.atleast_1d(np.asarray(values, dtype=float)), op, threshold)
    return {"scenario": scenario, "check": check, **row}


def _frame(checks) -> pd.DataFrame:
    return pd.DataFrame(checks, columns=["scenario", "check", "value", "half_width", "n", "rule", "holds"])


def _by_seed(df: pd.DataFrame, index, column: str) -> pd.DataFrame:
    """``column`` with one row per seed and one column per ``index`` value (tuples for several)."""
    df = df if "seed" in df else df.assign(seed=0)
    return df.pivot_table(index="seed", columns=index, values=column, aggfunc="mean", dropna=False)


def obs1_verdict(stats: pd.DataFrame, split_max: float = 0.5) -> pd.DataFrame:
    """D_f forms its own cluster: its mixing index with the rest is at most ``split_max``."""
    return _frame([_check(stats["scenario"].iloc[0], "mixing(D_f, rest) in the fine model", stats["mixing"],
                          "<=", split_max)])


def _seeds_of(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    return _by_seed(rows, ["scenario", "method"], metric)


def _col(w: pd.DataFrame, key) -> pd.Series:
    return w[key] if key in w.columns else pd.Series(np.nan, index=w.index)


def obs2_verdict(rows: pd.DataFrame, tolerance: float = 5.0, methods=("ft", "ga"),
                 scenario: str = "all_matched") -> pd.DataFrame:
    """FT and GA end within ``tolerance`` points of Retrained on UA and on RA (all matched): per seed
    |metric − Retrained's metric|."""
    checks = []
    for meth in methods:
        for metric in ("UA", "RA"):
            w = _seeds_of(rows[rows.scenario == scenario], metric)
            d = (_col(w, (scenario, meth)) - _col(w, (scenario, "retrained"))).abs()
            checks.append(_check(scenario, f"|{metric}({METHOD_NAMES[meth]}) - {metric}(Retrained)|", d,
                                 "<=", tolerance))
    return _frame(checks)


def obs3_verdict(stats: pd.DataFrame, split_max: float = 0.5, merged_min: float = 0.5) -> pd.DataFrame:
    """Target mismatch: D_f apart from D_fr (mixing ≤ ``split_max``: the concept spans several
    clusters). Model / data mismatch: D_f inside the cluster of D_ar / D_fr (mixing ≥ ``merged_min``)."""
    checks = []
    for (s, model, other), d in stats.groupby(["scenario", "model", "B"], sort=False):
        label = f"mixing(D_f, {other}) in the {model} model"
        if OBS3_EXPECTED.get(s) == "split":
            checks.append(_check(s, label, d["mixing"], "<=", split_max))
        else:
            checks.append(_check(s, label, d["mixing"], ">=", merged_min))
    return _frame(checks)


def obs4_verdict(rows: pd.DataFrame, ft_miss: float = 25.0, ga_miss: float = 30.0,
                 ga_ra_drop: float = 0.0) -> pd.DataFrame:
    """Target / data mismatch: UA(FT) − UA(Retrained) ≥ ``ft_miss`` (FT keeps the concept; docs/protocol.md#claims C1). Model mismatch: UA(Retrained) − UA(GA) ≥ ``ga_miss`` (C2) and RA(Retrained) − RA(GA)
    > ``ga_ra_drop`` (GA also lowers RA). Per seed, paired."""
    ua, ra = _seeds_of(rows, "UA"), _seeds_of(rows, "RA")
    have = set(zip(rows["scenario"], rows["method"]))
    checks = []
    for s in ("target_mismatch", "data_mismatch"):
        if (s, "ft") in have:
            checks.append(_check(s, "UA(FT) - UA(Retrained)", _col(ua, (s, "ft")) - _col(ua, (s, "retrained")),
                                 ">=", ft_miss))
    s = "model_mismatch"
    if (s, "ga") in have:
        checks.append(_check(s, "UA(Retrained) - UA(GA)", _col(ua, (s, "retrained")) - _col(ua, (s, "ga")),
                             ">=", ga_miss))
        checks.append(_check(s, "RA(Retrained) - RA(GA)", _col(ra, (s, "retrained")) - _col(ra, (s, "ga")),
                             ">", ga_ra_drop))
    return _frame(checks)


def obs5_verdict(stats: pd.DataFrame, merged_min: float = 0.5, split_max: float = 0.5,
                 margin: float = 0.2) -> pd.DataFrame:
    """Coarse model: D_f mixed with D_ar (≥ ``merged_min``); fine model: apart (≤ ``split_max``);
    and the coarse model entangles them more, by at least ``margin`` (per seed, paired)."""
    w = _by_seed(stats, "model", "mixing")
    s = stats["scenario"].iloc[0]
    return _frame([_check(s, "mixing(D_f, D_ar) in the coarse model", _col(w, "coarse"), ">=", merged_min),
                   _check(s, "mixing(D_f, D_ar) in the fine model", _col(w, "fine"), "<=", split_max),
                   _check(s, "coarse mixing - fine mixing", _col(w, "coarse") - _col(w, "fine"), ">=", margin)])


def obs6_verdict(summary: pd.DataFrame, margin: float = 0.2, other_max: float = 0.5) -> pd.DataFrame:
    """D_f's CE rises in both models (end / start > 1); the aligned data's rise relative to D_f's
    is larger in the coarse model than in the fine one by ≥ ``margin``; the other data rise by at
    most ``other_max`` of D_f's rise (a falling loss counts as staying low). Per seed, paired."""
    sc = dict(zip(summary["model"], summary["scenario"]))
    ratio = _by_seed(summary, ["model", "group"], "end / start")
    rel = _by_seed(summary, ["model", "group"], "rise / D_f rise")
    checks = [_check(sc[m], f"CE on D_f, end / start ({m} model)", _col(ratio, (m, "D_f")), ">", 1.0)
              for m in ("coarse", "fine")]
    checks.append(_check("both", "aligned rise/D_f rise: coarse - fine",
                         _col(rel, ("coarse", "aligned")) - _col(rel, ("fine", "aligned")), ">=", margin))
    checks += [_check(sc[m], f"other rise/D_f rise ({m} model)", _col(rel, (m, "other")), "<=", other_max)
               for m in ("coarse", "fine")]
    return _frame(checks)


def printable(verdict: pd.DataFrame) -> pd.DataFrame:
    """A verdict table as printed: ``value ± 90% CI`` (2 decimals) and the number of seeds."""
    out = verdict.drop(columns=["value", "half_width", "n"], errors="ignore")
    pos = list(out.columns).index("rule") if "rule" in out else len(out.columns)
    out.insert(pos, "value ± 90% CI", [shown(v, h) for v, h in zip(verdict["value"], verdict["half_width"])])
    out.insert(pos + 1, "seeds", verdict["n"].to_numpy())
    return out


def print_verdict(verdict: pd.DataFrame, observation: str, profile: str) -> None:
    """The checks as a text table (each value ± its 90% interval over seeds), then one sentence: holds
    / does not hold / undecided / n/a (tarf.checks). The sentence is also kept as
    results/<profile>/verdicts/<observation>.csv (the README's table)."""
    print(printable(verdict).to_string(index=False))
    word, ok, n = overall(verdict["holds"])
    na = len(verdict) - n
    undecided = int((verdict["holds"] == UNDECIDED).sum())
    seeds = int(verdict["n"].max()) if len(verdict) else 0
    notes = [f"{undecided} undecided"] * bool(undecided) + [f"{na} n/a"] * bool(na)
    print(f"\n{observation} {word} on profile {profile!r}: {ok}/{n} checks pass"
          + (f" ({', '.join(notes)})" if notes else "") + f", over {seeds} seed{'s' * (seeds != 1)}.")
    slug = "".join(ch if ch.isalnum() else "_" for ch in observation.lower()).strip("_")
    values = "; ".join(shown(v, h) for v, h, o in zip(verdict["value"], verdict["half_width"], verdict["holds"])
                       if o != NA) or "-"
    row = pd.DataFrame([{"observation": observation, "value ± 90% CI": values, "checks": f"{ok}/{n}",
                         "verdict": word, "seeds": seeds}])
    atomic_write_bytes(results_dir(profile) / "verdicts" / f"{slug}.csv", row.to_csv(index=False).encode())
    if profile == "smoke":
        print("(smoke: a tiny, briefly trained model; the verdict only shows that the check runs.)")


__all__ = ["obs1", "obs3", "obs5", "obs6", "unlearning_rows", "bars_frame", "loss_summary", "ga_tracked",
           "mixing", "roles", "concept_classes", "print_verdict", "printable"]
