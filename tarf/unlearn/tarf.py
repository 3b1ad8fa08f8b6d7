"""TARF — target-aware forgetting (PAPER.md §6).

    L(t) = k(t)·(−mean CE on D_f) + (1/|D_un|)·Σ_{D_un} τ·CE,   k(t) = max(k·(T − t − t0)/T, 0)

Phase I (t < t1): ascent on D_f only (τ ≡ 0). At t = t1, once: identify the target-concept data
hidden in D_un from how far Phase I moved them (group mode: the top-K model-label groups by a
score; sample mode: the top-p% samples by |Δloss|), set τ = 0 for them, τ = 1 for the rest, and
freeze τ. Phase II (t1 ≤ t < T − t0): the full objective over mixed D_f ∪ D_un batches.
Phase III (t ≥ T − t0): the retaining term alone (k = 0).

Project decisions ([D], PAPER.md §6.3–6.8 unless said otherwise):
- t is the 0-based epoch; k(t) is constant within an epoch.
- Fractional T, t1, t0 (CPU profiles, §7.3): the run is cut at every whole epoch and at t1 and
  T − t0 into segments; a segment [a, b) runs (b − a)·n steps, rounded half up and at least one,
  of its phase's loader (n = that loader's steps per epoch, each segment reshuffles), so phases
  switch at step boundaries. k of a segment is k(floor(a)) (0 in Phase III). With whole numbers
  the segments are the epochs and this is exactly the per-epoch schedule. One log entry per
  segment.
- Samples with τ = 0 are not even forwarded in Phases II–III (they stay in the 1/|B ∩ D_un|
  denominator): zero gradient, and — as in a retraining without them — no influence through
  BatchNorm batch statistics either. More generally a sample is forwarded only if its loss weight
  is non-zero.
- k = None takes k_target when the request's K (data.K) > 0, else k_matched: k goes with the
  scenario; K_override changes the identification only.
- Validation: 0 < t1 < T − t0 ≤ T (i.e. 1 ≤ t1 for whole epochs; fractional t1 > 0 is allowed for
  CPU profiles), t0 ≥ 0, 0 ≤ K < number of model-label groups present in D_un.

Log: one dict per segment (= per epoch for whole numbers): epoch (0-based t), t_start, t_end
(epochs, t_end = epochs done), phase (1/2/3), k (k(t) used), steps, loss_f (mean CE over the D_f
samples of its batches), loss_un (mean CE over the D_un samples trained on, i.e. τ = 1; NaN when
none), tau1_fraction (share of D_un with τ = 1), seconds (wall time without the monitor; the
first entry includes the θo pass, the t1 entry the identification), plus data.monitor's dict.
The entry starting at t1 holds `identification`: mode, score, K, groups (group mode; None in
sample mode), group_scores, group_acc_drop and group_abs_loss_change (label → value, all groups;
accuracy in percentage points), beta, identified_idx (positions into D_un). With K = 0 nothing
is computed: empty dicts and lists, beta None (a monitor sees θ_t1 at the end of Phase I).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..progress import progress
from . import common

DEFAULTS = {
    "k": None,  # [P*] ascent weight; None = from the request's K: k_target if K > 0 else k_matched
    "k_target": 0.04,  # [P*] App. F.1 CIFAR-10 value; that it goes with K > 0 is [D] (§6.6)
    "k_matched": 0.02,  # [P*] App. F.1 CIFAR-10 value; that it goes with K = 0 is [D] (§6.6)
    "epochs": 10,  # [D] T: TARF TIME ≈ FT TIME with 10 FT epochs (§6.6); may be fractional
    "t1": 1,  # [P*] end of Phase I (App. F.1); may be fractional
    "t0": 2,  # [P*] length of the ascent-free Phase III (App. F.1); 0 = "without Phase III"
    "schedule": "annealed",  # [P] Eq. 5; constant / increasing are the Fig. 7 ablation ([D] defs)
    "identified_op": "clean",  # [P] zero gradient on identified data; "ascent" = Fig. 7 ablation [D]
    "identification": "group",  # [D] §6.3 top-K model-label groups; "sample" = top-p% by |Δloss| [P]
    "group_score": "acc_drop",  # [P] Fig. 5a; abs_acc_change / abs_loss_change [D] (§13 warning)
    "p": 10,  # [P] sample mode: percent of D_un marked (top-10% in the main text)
    "K_override": None,  # [D] ablation: replaces the request's K for identification (0 = none)
    "bn_phase1": "train",  # [D] BatchNorm in Phase I: train (faithful) / eval / recompute / keep (§13)
    "batching": "mixed",  # [D] §6.5: one loader over D_f ∪ D_un; "paired" = a D_f batch per D_un batch
    "lr": 0.01,  # [D] FT default of the baseline code base (§6.6)
    "momentum": 0.9,  # [D] baseline code base
    "weight_decay": 5e-4,  # [D] baseline code base
}

CHOICES = {
    "schedule": ("annealed", "constant", "increasing"),
    "identified_op": ("clean", "ascent"),
    "identification": ("group", "sample"),
    "group_score": ("acc_drop", "abs_acc_change", "abs_loss_change"),
    "bn_phase1": ("train", "eval", "recompute", "keep"),
    "batching": ("mixed", "paired"),
}


# ---------------------------------------------------------------------------------- schedule


def _merged(hp: dict) -> dict:
    unknown = set(hp) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown TARF hyper-parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}"
        )
    return {**DEFAULTS, **hp}


def resolve_k(hp: dict, K: int | None) -> float:
    """The base k: hp["k"] if set, else k_target when the request's K > 0, else k_matched."""
    hp = _merged(hp)
    if hp["k"] is not None:
        return float(hp["k"])
    if K is None:
        raise ValueError("k is None (taken from K): pass K, or set k")
    return float(hp["k_target"] if K > 0 else hp["k_matched"])


def _k_epoch(e: int, hp: dict, T: float, k: float) -> float:
    end = T - hp["t0"]  # ascent stops here in every schedule
    if e >= end:
        return 0.0
    if hp["schedule"] == "annealed":
        return max(k * (T - e - hp["t0"]) / T, 0.0)
    if hp["schedule"] == "constant":
        return k
    return k * (e + 1) / end  # increasing


def k_schedule(hp: dict, T: float | None = None, K: int | None = None) -> list[float]:
    """k(t) for each 0-based epoch t < ceil(T) (T defaults to hp["epochs"]). An epoch cut by
    T − t0 gets k(t) for its part before T − t0 (k = 0 after it, Phase III)."""
    hp = _merged(hp)
    T = hp["epochs"] if T is None else T
    k = resolve_k(hp, K)
    return [_k_epoch(e, hp, T, k) for e in range(math.ceil(T))]


def phase_of(t: float, hp: dict) -> int:
    """1 for t < t1, 3 for t ≥ T − t0, else 2 (t in epochs, may be fractional)."""
    hp = _merged(hp)
    return 1 if t < hp["t1"] else 3 if t >= hp["epochs"] - hp["t0"] else 2


def segments(hp: dict) -> list[tuple[float, float, int, int]]:
    """(t_start, t_end, epoch, phase) pieces of the run: cut at whole epochs, t1 and T − t0."""
    hp = _merged(hp)
    T = float(hp["epochs"])
    cuts = sorted({0.0, T, float(hp["t1"]), T - hp["t0"], *map(float, range(1, math.ceil(T)))})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        if b - a > 1e-9:  # float noise can leave empty slivers
            mid = (a + b) / 2  # phase and epoch by the midpoint: robust to float noise at cuts
            out.append((a, b, int(mid), phase_of(mid, hp)))
    return out


def _validate(hp: dict, data) -> int:
    """Checks every knob before any work; returns the K used for identification."""
    for key, valid in CHOICES.items():
        if hp[key] not in valid:
            raise ValueError(f"{key}={hp[key]!r} is not valid; choose one of {', '.join(valid)}")
    T, t1, t0 = hp["epochs"], hp["t1"], hp["t0"]
    if not T > 0:
        raise ValueError(f"epochs={T} must be > 0")
    if not t0 >= 0:
        raise ValueError(f"t0={t0} must satisfy 0 <= t0 < epochs - t1")
    if not 0 < t1 < T - t0:
        raise ValueError(
            f"t1={t1} must satisfy 0 < t1 < epochs - t0 = {T - t0} (1 <= t1 for whole epochs)"
        )
    for key in ("k", "k_target", "k_matched"):
        if hp[key] is not None and not hp[key] >= 0:
            raise ValueError(f"{key}={hp[key]} must be >= 0")
    if not 0 < hp["p"] <= 100:
        raise ValueError(f"p={hp['p']} must satisfy 0 < p <= 100 (percent of D_un)")
    if not hp["lr"] > 0:
        raise ValueError(f"lr={hp['lr']} must be > 0")
    key = "K" if hp["K_override"] is None else "K_override"
    K = data.K if hp["K_override"] is None else hp["K_override"]
    n_groups = len(torch.unique(data.y_un))
    if int(K) != K or not 0 <= K < max(n_groups, 1):
        raise ValueError(
            f"{key}={K} must be an int with 0 <= K < {n_groups} (model-label groups in D_un)"
        )
    return int(K)


# ---------------------------------------------------------------------------- identification


def _loss_correct(model, data):
    """Per-sample CE and correctness on D_un, eval mode (§6.3 steps 1 and 3)."""
    logits = common.predict(model, data.x_un, data.device)
    y = data.y_un.cpu()
    return F.cross_entropy(logits, y, reduction="none"), logits.argmax(1) == y


def identify(before, after, y_un: torch.Tensor, K: int, hp: dict) -> tuple[torch.Tensor, dict]:
    """τ = 0 mask over D_un and the identification record, from (loss, correct) of θo and θ_t1."""
    (loss_o, ok_o), (loss_1, ok_1) = before, after
    y = y_un.cpu()
    dloss = (loss_1 - loss_o).abs()
    labels = sorted(torch.unique(y).tolist())
    acc_drop, abs_loss = {}, {}
    for g in labels:
        m = y == g
        # one division per group, so equal fractions give equal floats (deterministic tie order)
        acc_drop[g] = 100.0 * (ok_o[m].sum() - ok_1[m].sum()).item() / int(m.sum())
        abs_loss[g] = dloss[m].mean().item()
    scores = {
        "acc_drop": acc_drop,
        "abs_acc_change": {g: abs(v) for g, v in acc_drop.items()},
        "abs_loss_change": abs_loss,
    }[hp["group_score"]]
    if hp["identification"] == "group":
        ranked = sorted(labels, key=lambda g: (-scores[g], g))  # ties: lower label first
        groups = ranked[:K]
        mask = torch.isin(y, torch.tensor(groups, dtype=y.dtype))
        beta, score = scores[groups[-1]], hp["group_score"]
    else:
        # ceil, so that at least p% is marked; the epsilon keeps 10% of 30 at 3, not 4
        n_id = max(1, math.ceil(hp["p"] * len(y) / 100 - 1e-9))
        top = np.argsort(-dloss.numpy(), kind="stable")[:n_id]  # ties: lower position first
        mask = torch.zeros(len(y), dtype=torch.bool)
        mask[torch.from_numpy(top)] = True
        groups, beta, score = None, dloss[top[-1]].item(), "abs_loss_change"
    record = {
        "mode": hp["identification"],
        "score": score,
        "K": K,
        "groups": groups,
        "group_scores": scores,
        "group_acc_drop": acc_drop,
        "group_abs_loss_change": abs_loss,
        "beta": beta,
        "identified_idx": torch.nonzero(mask).flatten().tolist(),
    }
    return mask, record


def identification_quality(identified_idx, is_fr: np.ndarray) -> dict:
    """Precision and recall of the identified D_un positions against the true D_fr mask
    (evaluation only). Empty denominators count as perfect (1.0): with nothing to find nothing
    was missed, and with nothing identified nothing was wrongly marked — so K = 0 on a scenario
    without D_fr scores 1/1."""
    is_fr = np.asarray(is_fr, dtype=bool)
    ident = np.zeros(len(is_fr), dtype=bool)
    ident[np.asarray(identified_idx, dtype=np.int64)] = True
    hit = int((ident & is_fr).sum())
    n_id, n_fr = int(ident.sum()), int(is_fr.sum())
    return {
        "precision": hit / n_id if n_id else 1.0,
        "recall": hit / n_fr if n_fr else 1.0,
        "n_identified": n_id,
        "n_fr": n_fr,
        "n_hit": hit,
    }


# ------------------------------------------------------------------------------------ training


def _step(model, opt, data, f_idx, u_idx, kt, tau, ident, ascent, gen, stats):
    """One update: L = −kt·mean CE over the forgetting part + Σ τ·CE / |B ∩ D_un|."""
    # "ascent" ablation: identified samples join the forgetting term
    fu = u_idx[ident[u_idx]] if ascent else u_idx[:0]
    keep = u_idx[tau[u_idx] > 0]
    n_forget = len(f_idx) + len(fu)
    if kt == 0:  # weight 0: leave them out of the forward pass too
        f_idx, fu, n_forget = f_idx[:0], fu[:0], 0
    x = torch.cat([data.x_f[f_idx], data.x_un[fu], data.x_un[keep]])
    if len(x) == 0:
        return
    y = torch.cat([data.y_f[f_idx], data.y_un[fu], data.y_un[keep]]).to(data.device)
    w_f = torch.full((n_forget,), -kt / max(n_forget, 1))
    w_un = tau[keep] / len(u_idx)  # τ = 0 samples stay in the denominator
    w = torch.cat([w_f, w_un]).to(data.device)
    logits = model(common.to_input(x, data.device, data.augment, gen))
    ce = F.cross_entropy(logits, y, reduction="none")
    opt.zero_grad(set_to_none=True)
    (w * ce).sum().backward()
    opt.step()
    ce = ce.detach()
    stats["f"] += ce[: len(f_idx)].sum().item()
    stats["nf"] += len(f_idx)
    stats["u"] += ce[n_forget:].sum().item()
    stats["nu"] += len(keep)


def _cycle(n, batch_size, gen):
    """D_f batches for "paired" batching: reshuffled each time D_f is used up."""
    while True:
        yield from common.batches(n, batch_size, gen)


def unlearn(model, data, hp, seed):
    hp = _merged(hp)
    K = _validate(hp, data)
    model = common.clone(model)
    gen = common.generator(seed)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    T = hp["epochs"]
    ks = k_schedule(hp, T, data.K)
    n_f, n_un, bs = len(data.x_f), len(data.x_un), data.batch_size
    per_epoch = {
        1: math.ceil(n_f / bs),
        3: math.ceil(n_un / bs),
        2: math.ceil((n_f + n_un) / bs) if hp["batching"] == "mixed" else math.ceil(n_un / bs),
    }
    segs = [
        (a, b, e, ph, max(1, math.floor((b - a) * per_epoch[ph] + 0.5)))
        for a, b, e, ph in segments(hp)
    ]
    tau = torch.zeros(n_un)  # Phase I: τ ≡ 0
    ident = torch.zeros(n_un, dtype=torch.bool)
    clock = time.perf_counter()  # the θo pass below is counted in the first entry's seconds
    cached = _loss_correct(model, data) if K > 0 else None  # θo, before Phase I; counted in TIME
    f_cycle = _cycle(n_f, bs, gen)
    ascent = hp["identified_op"] == "ascent"
    empty = torch.zeros(0, dtype=torch.long)
    identified = False
    log = []
    bar = progress(total=sum(s[-1] for s in segs), desc="tarf", leave=False)
    for a, b, epoch, phase, steps in segs:
        entry = {"epoch": epoch, "t_start": a, "t_end": b, "phase": phase}
        if phase > 1 and not identified:  # t = t1: identify once, then τ stays frozen
            if hp["bn_phase1"] == "recompute":
                common.recompute_bn(model, data, gen)
            if K > 0:
                ident, rec = identify(cached, _loss_correct(model, data), data.y_un, K, hp)
            else:
                rec = {"mode": hp["identification"], "score": None, "K": 0, "groups": []}
                rec |= {"group_scores": {}, "group_acc_drop": {}, "group_abs_loss_change": {}}
                rec |= {"beta": None, "identified_idx": []}
            tau = (~ident).float()
            entry["identification"] = rec
            identified = True
        model.train()
        kt = ks[epoch] if phase < 3 else 0.0
        stats = {"f": 0.0, "nf": 0, "u": 0.0, "nu": 0}
        if phase == 1:
            pairs = [(i, empty) for i in common.batches(n_f, bs, gen)[:steps]]
        elif phase == 3:
            pairs = [(empty, i) for i in common.batches(n_un, bs, gen)[:steps]]
        elif hp["batching"] == "mixed":
            pairs = [
                (i[i < n_f], i[i >= n_f] - n_f) for i in common.batches(n_f + n_un, bs, gen)[:steps]
            ]
        else:
            pairs = [(next(f_cycle), i) for i in common.batches(n_un, bs, gen)[:steps]]
        # Phase I BN: eval = running stats used and frozen (affine weights still trained); keep =
        # batch statistics, running stats untouched; train and recompute = plain train mode
        bn = hp["bn_phase1"] if phase == 1 and hp["bn_phase1"] in ("keep", "eval") else "update"
        with common.bn_stats(model, bn):
            for f_idx, u_idx in pairs:
                _step(model, opt, data, f_idx, u_idx, kt, tau, ident, ascent, gen, stats)
                bar.update(1)
        if str(data.device).startswith("cuda"):
            torch.cuda.synchronize()
        entry.update(
            {
                "k": kt,
                "steps": len(pairs),
                "loss_f": stats["f"] / stats["nf"] if stats["nf"] else float("nan"),
                "loss_un": stats["u"] / stats["nu"] if stats["nu"] else float("nan"),
                "tau1_fraction": tau.mean().item() if n_un else 0.0,
                "seconds": time.perf_counter() - clock,
            }
        )
        if data.monitor is not None:  # evaluation only; outside "seconds"
            entry.update(data.monitor(model))
        log.append(entry)
        clock = time.perf_counter()
    bar.close()
    return model.eval(), log
