"""(profile, scenario, method, seed) → one results row, computed once and kept in the store.

The runner is the only place that joins the pieces: it hands a method exactly what an unlearner has
(D_f, D_un with model labels, K for TARF), times the method call alone, and evaluates with the
evaluation-only sets (D_t, D_r, test', MIA members/non-members, D_fr, D_ar).

Besides the ten rows of Table 3 (METHODS) and the Original reference row (the model before
unlearning; TABLE_ROWS has all eleven) it runs the informed baselines (INFORMED, docs/baselines.md;
tarf/unlearn/informed.py: `<m>+id`, `<m>+oracle`, `ga_id_ft`), cached in the store the same way;
their hyper-parameters follow informed.profile_hp, and `+oracle` runs get the D_fr mask.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import data as data_mod
from . import kernels, metrics, params, scenarios, store, train, unlearn
from .progress import progress
from .unlearn.common import UnlearnData

METHODS = ("retrained", *unlearn.METHODS)  # the ten rows of the paper's Table 3
# The original model itself, no unlearning: a reference row beside Table 3's ten, so that a method
# that changes nothing is visible (in model mismatch Retrained's UA is high, so doing nothing scores a
# small Gap). It is never a baseline in the claims.
ORIGINAL = "original"
TABLE_ROWS = ("retrained", ORIGINAL, *unlearn.METHODS)
INFORMED = unlearn.INFORMED  # informed baselines (docs/baselines.md): run by run_one, not rows of Table 3
COLUMNS = ["dataset", "scenario", "method", "seed", "UA", "RA", "TA", "MIA", "Gap", "TIME_min",
           "cost_vs_retrained", "FR_acc", "UA_R", "split_hash"]


@dataclass
class Context:
    exp: params.Experiment
    ds: data_mod.Dataset
    split: scenarios.Split
    # (profile, overrides) it was made from: what a Ray worker is sent to make the same context
    source: tuple[str, dict] | None = None

    @property
    def profile(self) -> str:
        return getattr(self.exp, "profile", "custom")


def context(profile: str = "smoke", overrides: dict | None = None) -> Context:
    """Validated params, the data set in memory and the persisted split, ready for every step."""
    exp = params.load(profile, overrides)
    kernels.apply(exp.kernels)  # before any arithmetic: ATen and MKL fix their code path at first use
    torch.set_num_threads(exp.num_threads)
    # Process-wide, as the thread count: every model built and every batch made from here on
    # (to_input) uses the profile's precision.
    torch.set_default_dtype(getattr(torch, exp.dtype))
    ds = data_mod.load(exp.dataset, exp.data_root, exp.download)
    return Context(exp, ds, scenarios.load(ds, exp), (profile, dict(overrides or {})))


def _xy(ctx: Context, idx, label_space: str, which: str = "train"):
    x = ctx.ds.x_train if which == "train" else ctx.ds.x_test
    return x[idx], scenarios.labels(ctx.ds, label_space, which)[idx]


def _positions(whole: np.ndarray, part: np.ndarray):
    """Positions of ``part`` in the sorted ``whole``, or None when ``part`` is not a subset of it."""
    pos = np.searchsorted(whole, part)
    ok = len(part) and (pos < len(whole)).all() and (whole[np.minimum(pos, len(whole) - 1)] == part).all()
    return pos if ok else None


def eval_sets(ctx: Context, scenario: str) -> dict:
    sc = ctx.split[scenario]
    ls = sc.label_space
    sets = {"t": _xy(ctx, sc.t, ls), "r": _xy(ctx, sc.r, ls), "test": _xy(ctx, sc.test_prime, ls, "test"),
            "mia_members": _xy(ctx, sc.mia_members, ls),
            "mia_nonmembers": _xy(ctx, sc.mia_nonmembers, ls, "test")}
    # where the MIA members sit in D_r and D_fr in D_t (both sorted subsets): evaluate reuses those passes
    sets["mia_members_in_r"] = _positions(sc.r, sc.mia_members)
    if len(sc.fr):
        sets["fr"] = _xy(ctx, sc.fr, ls)
        sets["fr_in_t"] = _positions(sc.t, sc.fr)
    if len(sc.ar):
        sets["ar"] = _xy(ctx, sc.ar, ls)
    return sets


def unlearn_data(ctx: Context, scenario: str, monitor=None, oracle: bool = False) -> UnlearnData:
    """What an unlearner is handed: D_f and D_un with model-space labels (and K, read by TARF only).

    oracle=True (TARF's evaluation-only oracle diagnostic and the `+oracle` informed baselines, and
    only then) adds the true D_fr as a bool mask over D_un positions (D_fr ⊂ D_un, both sorted
    index arrays into the training set)."""
    sc = ctx.split[scenario]
    dev = ctx.exp.device  # on CUDA, D_f and D_un stay on the GPU for the whole call
    x_f, y_f = (t.to(dev) for t in _xy(ctx, sc.f, sc.label_space))
    x_un, y_un = (t.to(dev) for t in _xy(ctx, sc.un, sc.label_space))
    oracle_fr = torch.from_numpy(np.isin(sc.un, sc.fr)) if oracle else None
    return UnlearnData(x_f, y_f, x_un, y_un, sc.num_classes, ctx.exp.unlearn_batch_size, ctx.exp.device,
                       ctx.exp.unlearn_augment, sc.K, monitor, oracle_fr)


def original(ctx: Context, scenario: str, seed: int):
    """The original model the scenario's request is made to (fine or coarse)."""
    return train.original(ctx.exp, ctx.ds, ctx.split, ctx.split[scenario].label_space, seed)


def retrained(ctx: Context, scenario: str, seed: int):
    return train.retrained(ctx.exp, ctx.ds, ctx.split, scenario, seed)


def hyper_parameters(ctx: Context, method: str) -> dict:
    if method in ("retrained", ORIGINAL):
        return {}
    if method in INFORMED:  # the base method's hp (+ TARF's for identification): informed.profile_hp
        return unlearn.informed.profile_hp(method, ctx.exp.methods)
    return unlearn.merged_hp(method, ctx.exp.methods.get(method, {}))


def needs_oracle(method: str, hp: dict) -> bool:
    """Whether a run gets the evaluation-only D_fr mask: TARF's oracle diagnostic, `+oracle`."""
    return (method in INFORMED and unlearn.informed.needs_oracle(method)) or bool(hp.get("oracle"))


def run_key(ctx: Context, **parts) -> str:
    """The store key of anything computed by running a method from a checkpoint: ``parts`` say what
    the caller's run is (scenario, method, seed, hyper-parameters, checkpoint keys, a version), and
    this adds every profile field that changes any run — the split, the unlearning batch size and
    augmentation, the device kind, AMP and the precision. Every cached run (runner rows, TARF
    variants, Observation 6's tracked GA, the fit study) is keyed here, so none can forget a field."""
    exp = ctx.exp
    return store.key({**parts, "split": ctx.split.hash, "batch": exp.unlearn_batch_size,
                      "augment": exp.unlearn_augment, "device": exp.device.split(":")[0],
                      **({"amp": True} if exp.amp else {}), **params.precision_key(exp)})


def _row_key(ctx, scenario, method, seed, orig_key, ret_key) -> str:
    return run_key(ctx, scenario=scenario, method=method, seed=seed, hp=hyper_parameters(ctx, method),
                   original=orig_key, retrained=ret_key, v=1)


def run_one(ctx: Context, scenario: str, method: str, seed: int) -> dict:
    """The results row of one run; cached, so a second call does no work."""
    if method not in TABLE_ROWS and method not in INFORMED:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(TABLE_ROWS)}; "
                         f"informed: {', '.join(INFORMED)}")
    ret_model, ret = retrained(ctx, scenario, seed)
    orig_model, orig = original(ctx, scenario, seed) if method != "retrained" else (None, {"key": None})
    k = _row_key(ctx, scenario, method, seed, orig["key"], ret["key"])
    cached = store.get_json("results", k)
    if cached is not None:
        return cached["row"]
    with store.claim("results", k):  # a notebook running beside this one may be computing it now
        cached = store.get_json("results", k)
        if cached is not None:
            return cached["row"]
        return _compute_row(ctx, scenario, method, seed, k, ret_model, ret, orig_model)


def _compute_row(ctx, scenario, method, seed, k, ret_model, ret, orig_model) -> dict:
    sets = eval_sets(ctx, scenario)
    log = []
    if method == "retrained":
        model, seconds = ret_model, ret["seconds"]
    elif method == ORIGINAL:
        model, seconds = orig_model, 0.0
    else:
        data = unlearn_data(ctx, scenario, oracle=needs_oracle(method, hyper_parameters(ctx, method)))
        train.seed_everything(seed, ctx.exp.num_threads)
        t0 = time.perf_counter()
        with train.autocast(ctx.exp):
            model, log = unlearn.run(method, orig_model, data, hyper_parameters(ctx, method), seed)
        if ctx.exp.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    row = {"dataset": ctx.exp.dataset, "scenario": scenario, "method": method, "seed": seed,
           **metrics.evaluate(model, sets, ctx.exp.device), "TIME_min": seconds / 60,
           "cost_vs_retrained": seconds / ret["seconds"], "split_hash": ctx.split.hash}
    if method == "retrained":
        row["Gap"] = float("nan")
    else:
        row["Gap"] = metrics.gap(row, run_one(ctx, scenario, "retrained", seed))
    store.put_json("results", k, {"row": row, "log": log, "hp": hyper_parameters(ctx, method)})
    return row


def run_log(ctx: Context, scenario: str, method: str, seed: int) -> list[dict]:
    """The per-epoch log kept with a cached run (runs it first if needed)."""
    run_one(ctx, scenario, method, seed)
    _, ret = retrained(ctx, scenario, seed)
    orig_key = original(ctx, scenario, seed)[1]["key"] if method != "retrained" else None
    return store.get_json("results", _row_key(ctx, scenario, method, seed, orig_key, ret["key"]))["log"]


def run_all(ctx: Context, methods=None, scenarios_=None, seeds=None) -> pd.DataFrame:
    """Every (scenario, method, seed) → one long-form table (docs/metrics.md#reporting); by default
    the ten rows of Table 3 and the Original reference row."""
    rows = [run_one(ctx, *job) for job in progress(table_jobs(ctx, methods, scenarios_, seeds), desc="runs")]
    return table(rows)


def table_jobs(ctx: Context, methods=None, scenarios_=None, seeds=None) -> list[tuple[str, str, int]]:
    """The (scenario, method, seed) of run_all, in its row order (seed, then scenario, then method)."""
    methods = list(methods or TABLE_ROWS)
    return [(s, m, seed) for seed in (seeds or ctx.exp.seeds) for s in (scenarios_ or ctx.exp.scenarios)
            for m in methods]


def table(rows: list[dict]) -> pd.DataFrame:
    """Results rows → the long-form table, in COLUMNS order."""
    df = pd.DataFrame(rows)
    return df[[c for c in COLUMNS if c in df.columns]]


def summary(df: pd.DataFrame, metrics_=("UA", "RA", "TA", "MIA", "Gap", "TIME_min")) -> pd.DataFrame:
    """Mean ± sample std over seeds, rounded to 2 decimals (std blank for one seed)."""
    g = df.groupby(["scenario", "method"], sort=False)[list(metrics_)]
    mean, std = g.mean().round(2), g.std(ddof=1).round(2)
    if df["seed"].nunique() == 1:
        return mean
    return mean.astype(str) + " ± " + std.astype(str)


def _base_jobs(ctx: Context) -> list[tuple]:
    """(role, label space, scenario) of every base model: the originals in use, then each Retrained."""
    jobs = [("original", ls, None) for ls in ("fine", "coarse")
            if any(ctx.split[s].label_space == ls for s in ctx.exp.scenarios)]
    return jobs + [("retrained", ctx.split[s].label_space, s) for s in ctx.exp.scenarios]


def _train_base(source, seed: int, role: str, label_space: str, scenario: str | None) -> None:
    """In a worker process: train (or find) one base model into the store."""
    ctx = context(*source)
    if role == "original":
        train.original(ctx.exp, ctx.ds, ctx.split, label_space, seed)
    else:
        retrained(ctx, scenario, seed)


def _train_side_by_side(ctx: Context, jobs: list[tuple]) -> None:
    """Train the models of ``jobs`` missing from the store in ``base_workers`` processes (CPU only).
    Each trains as it would here (same seed, same thread count), and store.claim keeps two from
    training one model; base_models then loads them all."""
    w = ctx.exp.base_workers
    if w <= 1 or ctx.exp.device != "cpu" or ctx.source is None:
        return
    jobs = [(seed, role, ls, sc) for seed, role, ls, sc in jobs
            if not store.exists("models", train.checkpoint_key(ctx.exp, ctx.split, role, ls, seed, sc), "pt")]
    if len(jobs) < 2:
        return
    import concurrent.futures
    import multiprocessing
    from pathlib import Path

    profile, overrides = ctx.source
    if Path(profile).suffix in (".yaml", ".yml"):
        profile = str(Path(profile).resolve())
    # spawn: a fork of a process that has run torch (a notebook's kernel) may hang in its thread pool
    with concurrent.futures.ProcessPoolExecutor(min(w, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_base, (profile, overrides), *job) for job in jobs]
        for f in progress(concurrent.futures.as_completed(futures), total=len(futures), desc="base models"):
            f.result()


def base_models(ctx: Context, seeds=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train or load the originals and every scenario's Retrained; their accuracies and training logs.

    Accuracies are in each model's own label space: test = the full test subset for an original and
    test' for a Retrained; UA = accuracy on the scenario's D_t.
    """
    rows, logs = [], []
    seeds = seeds or ctx.exp.seeds
    _train_side_by_side(ctx, [(seed, *job) for seed in seeds for job in _base_jobs(ctx)])
    for seed in seeds:
        for role, ls, s in _base_jobs(ctx):
            model, rec = train.original(ctx.exp, ctx.ds, ctx.split, ls, seed) if role == "original" \
                else retrained(ctx, s, seed)
            name = f"original ({ls})" if role == "original" else f"retrained ({s})"
            test_idx = ctx.split.test if role == "original" else ctx.split[s].test_prime
            row = {"model": name, "seed": seed, "labels": ls, "train images": len(
                ctx.split.train if role == "original" else ctx.split[s].r),
                   "test acc": metrics.accuracy(model, *_xy(ctx, test_idx, ls, "test"), device=ctx.exp.device)}
            for sc_name in ctx.exp.scenarios:
                if ctx.split[sc_name].label_space == ls and (role == "original" or sc_name == s):
                    row[f"UA {sc_name}"] = metrics.accuracy(model, *_xy(ctx, ctx.split[sc_name].t, ls),
                                                            device=ctx.exp.device)
            row["TIME_min"] = rec["seconds"] / 60
            rows.append(row)
            logs += [{"model": name, "seed": seed, **e} for e in rec["log"]]
    return pd.DataFrame(rows), pd.DataFrame(logs)
