"""TARF — target-aware forgetting (docs/tarf.md).

    L(t) = k(t)·(−mean CE on D_f) + (1/|D_un|)·Σ_{D_un} τ·CE,   k(t) = max(k·(T − t − t0)/T, 0)

Phase I (t < t1): ascent on D_f only (τ ≡ 0; phase1_batches "mixed": over Phase II's batches, the
D_un part forwarded at loss weight 0). At t = t1, once: identify the target-concept data
hidden in D_un from how far Phase I moved them (group mode: the top-K model-label groups by a
score; sample mode: the top-p% samples by |Δloss|), set τ = 0 for them, τ = 1 for the rest, and
freeze τ (oracle, a diagnostic: τ = 0 exactly on the true D_fr instead). Phase II (t1 ≤ t <
T − t0): the full objective over mixed D_f ∪ D_un batches.
Phase III (t ≥ T − t0): the retaining term alone (k = 0).

Project decisions ([D], docs/tarf.md#project-decisions unless said otherwise):
- t is the 0-based epoch; k(t) is constant within an epoch.
- Fractional T, t1, t0 (CPU profiles, docs/tarf.md#fractional-budgets): the run is cut at every whole epoch and at t1 and
  T − t0 into segments; a segment [a, b) runs (b − a)·n steps, rounded half up and at least one,
  of its phase's loader (n = that loader's steps per epoch, each segment reshuffles), so phases
  switch at step boundaries. k of a segment is k(floor(a)) (0 in Phase III). With whole numbers
  the segments are the epochs and this is exactly the per-epoch schedule. One log entry per
  segment.
- Samples with τ = 0 are not even forwarded in Phases II–III (they stay in the 1/|B ∩ D_un|
  denominator): zero gradient, and — as in a retraining without them — no influence through
  BatchNorm batch statistics either. More generally a sample is forwarded only if its loss weight
  is non-zero — with one exception, phase1_batches "mixed" (the fit study): Phase I then
  runs Phase II's loader (per `batching`, so as many steps per epoch as Phase II) and forwards the
  D_un part of each batch in the same pass as D_f, so BatchNorm's batch and running statistics see
  mixed data, but leaves it out of the loss: its labels never matter and it reaches the gradient
  only through the batch statistics. A batch with no weighted sample (no D_f in it, or k(t) = 0)
  is skipped as a whole, as before: no forward pass, no optimiser step. Default "forget": Phase I
  batches are D_f only.
- Group scores: all five are computed and recorded once per run when K > 0, whichever one drives
  the identification. acc_drop [P], abs_acc_change and abs_loss_change (docs/tarf.md#group-scores);
  absorption = for each D_un model-label group g, 100 × (share of D_f predicted g at θ_t1 − share
  at θo), eval mode, in percentage points (higher = D_f's predictions moved into g); proximity =
  cosine similarity in θo between the mean penultimate feature (model.features) of D_un's group g
  and that of D_f (taken before Phase I, so it does not depend on the ascent at all). No group is
  excluded, as for the other scores. In data mismatch the hidden group IS D_f's own coarse label
  (D_un holds the rest of the superclass under it): absorption is negative there by construction
  (ascent moves D_f off its own label), so absorption cannot find it; proximity can.
- oracle (a diagnostic, evaluation only; never a reported method setting): τ = 0 exactly on
  data.oracle_fr, the true D_fr mask over D_un, which the runner fills only for such runs, so a
  normal run never sees D_fr. Everything else as in a normal run (k from K, Phase I, the recorded
  scores): it tells a failed identification from a failed forgetting.
- k = None takes k_target when the request's K (data.K) > 0, else k_matched: k goes with the
  scenario; K_override changes the identification only.
- Validation: 0 < t1 < T − t0 ≤ T (i.e. 1 ≤ t1 for whole epochs; fractional t1 > 0 is allowed for
  CPU profiles), t0 ≥ 0, 0 ≤ K < number of model-label groups present in D_un.

One code path: `phase1` runs Phase I and the identification at t1 on a copy of the model;
`unlearn` continues that same run into Phases II–III, and `phase1_identify` returns its τ = 0 mask
and record, for the informed baselines (tarf/unlearn/informed.py), which thereby get exactly the
set a TARF run with the same hp and seed identifies.

Log: one dict per segment (= per epoch for whole numbers): epoch (0-based t), t_start, t_end
(epochs, t_end = epochs done), phase (1/2/3), k (k(t) used), steps, loss_f (mean CE over the D_f
samples of its batches), loss_un (mean CE over the D_un samples trained on, i.e. τ = 1; NaN when
none), tau1_fraction (share of D_un with τ = 1), seconds (wall time without the monitor; the
first entry includes the θo pass, the t1 entry the identification), plus data.monitor's dict.
The entry starting at t1 holds `identification`: mode, score, K, groups (group mode; None in
sample mode), group_scores, group_acc_drop, group_abs_loss_change, group_absorption and
group_proximity (label → value, all groups; accuracy and shares in percentage points), beta,
identified_idx (positions into D_un), oracle. With K = 0 nothing is computed: empty dicts and
lists, beta None (a monitor sees θ_t1 at the end of Phase I). With oracle the record's
identified_idx is the true D_fr, groups its model labels (None if D_fr is no union of groups),
beta None, mode "oracle"; the scores are still recorded (K > 0).
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
    "k_target": 0.04,  # [P*] App. F.1 CIFAR-10 value; that it goes with K > 0 is [D] (docs/tarf.md#hyper-parameters)
    "k_matched": 0.02,  # [P*] App. F.1 CIFAR-10 value; that it goes with K = 0 is [D] (docs/tarf.md#hyper-parameters)
    "epochs": 10,  # [D] T: TARF TIME ≈ FT TIME with 10 FT epochs (docs/tarf.md#hyper-parameters); may be fractional
    "t1": 1,  # [P*] end of Phase I (App. F.1); may be fractional
    "t0": 2,  # [P*] length of the ascent-free Phase III (App. F.1); 0 = "without Phase III"
    "schedule": "annealed",  # [P] Eq. 5; constant / increasing are the Fig. 7 ablation ([D] defs)
    "identified_op": "clean",  # [P] zero gradient on identified data; "ascent" = Fig. 7 ablation [D]
    "identification": "group",  # [D] docs/tarf.md#identification top-K model-label groups; "sample" = top-p% by |Δloss| [P]
    "group_score": "acc_drop",  # [P] Fig. 5a; abs_acc_change / abs_loss_change / absorption / proximity [D] (docs/tarf.md#fashion-mnist-probe)
    "p": 10,  # [P] sample mode: percent of D_un marked (top-10% in the main text)
    "K_override": None,  # [D] ablation: replaces the request's K for identification (0 = none)
    "bn_phase1": "train",  # [D] BatchNorm in Phase I: train (faithful) / eval / recompute / keep (docs/tarf.md#fashion-mnist-probe)
    "batching": "mixed",  # [D] docs/tarf.md#batching: one loader over D_f ∪ D_un; "paired" = a D_f batch per D_un batch
    # [D] Phase I loader: "forget" = D_f only (the paper's ascent on D_f); "mixed" = Phase II's
    # batches with D_un forwarded at loss weight 0, so BatchNorm never sees D_f alone (the fit study)
    "phase1_batches": "forget",
    # [D] diagnostic only, never a reported setting: τ = 0 exactly on the true D_fr
    # (data.oracle_fr), to tell failed identification from failed forgetting (the fit study)
    "oracle": False,
    "lr": 0.01,  # [D] FT default of the baseline code base (docs/tarf.md#hyper-parameters)
    "momentum": 0.9,  # [D] baseline code base
    "weight_decay": 5e-4,  # [D] baseline code base
}

CHOICES = {
    "schedule": ("annealed", "constant", "increasing"),
    "identified_op": ("clean", "ascent"),
    "identification": ("group", "sample"),
    "group_score": ("acc_drop", "abs_acc_change", "abs_loss_change", "absorption", "proximity"),
    "bn_phase1": ("train", "eval", "recompute", "keep"),
    "batching": ("mixed", "paired"),
    "phase1_batches": ("forget", "mixed"),
}


# ---------------------------------------------------------------------------------- schedule


def _merged(hp: dict, schedule: bool = False) -> dict:
    """DEFAULTS under ``hp``. The schedule helpers (schedule=True) also take a profile's hp as
    written, with the keys every method takes (common.COMMON: the unlearning batch) in it; a run
    may not, since with_batch takes them out before (one left here would be ignored)."""
    if schedule:
        hp = {k: v for k, v in hp.items() if k not in common.COMMON}
    unknown = set(hp) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown TARF hyper-parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}"
        )
    return {**DEFAULTS, **hp}


def resolve_k(hp: dict, K: int | None) -> float:
    """The base k: hp["k"] if set, else k_target when the request's K > 0, else k_matched."""
    hp = _merged(hp, schedule=True)
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
    hp = _merged(hp, schedule=True)
    T = hp["epochs"] if T is None else T
    k = resolve_k(hp, K)
    return [_k_epoch(e, hp, T, k) for e in range(math.ceil(T))]


def phase_of(t: float, hp: dict) -> int:
    """1 for t < t1, 3 for t ≥ T − t0, else 2 (t in epochs, may be fractional)."""
    hp = _merged(hp, schedule=True)
    return 1 if t < hp["t1"] else 3 if t >= hp["epochs"] - hp["t0"] else 2


def segments(hp: dict) -> list[tuple[float, float, int, int]]:
    """(t_start, t_end, epoch, phase) pieces of the run: cut at whole epochs, t1 and T − t0."""
    hp = _merged(hp, schedule=True)
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
    if not isinstance(hp["oracle"], bool):
        raise ValueError(f"oracle={hp['oracle']!r} is not valid; choose one of False, True")
    if hp["oracle"]:
        common.oracle_mask("oracle=True", data)
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


@torch.no_grad()
def _pass(model, x, device, groups=None, batch_size=None):
    """Eval-mode logits of uint8 images, batched as common.predict (the same batches and ops; at 256
    on the CPU the weights TARF ends with are bit for bit those of 1,024, ~9% faster), and,
    with `groups` (one label per image), each group's mean penultimate feature (label → float64
    vector): features and logits come from one pass, as forward = fc(features(x))."""
    batch_size = batch_size or common.eval_batch_size(device)
    was_training = model.training
    model.eval()
    logits, sums, counts = [], None, None
    if groups is not None:
        labels, inverse = torch.unique(groups.cpu(), return_inverse=True)
        counts = torch.bincount(inverse, minlength=len(labels)).double()
    for i in range(0, len(x), batch_size):
        inp = common.to_input(x[i : i + batch_size], device)
        if groups is None:
            out = model(inp)
        else:
            h = model.features(inp)
            out = model.fc(h)
            h = h.double().cpu()
            sums = h.new_zeros(len(labels), h.shape[1]) if sums is None else sums
            sums.index_add_(0, inverse[i : i + batch_size], h)
        logits.append(out.float().cpu())
    model.train(was_training)
    logits = torch.cat(logits) if logits else torch.empty(0)
    if groups is None:
        return logits
    means = {} if sums is None else {int(g): sums[j] / counts[j] for j, g in enumerate(labels)}
    return logits, means


def _theta_o(model, data) -> dict:
    """Everything identification needs from θo, before Phase I (eval mode; counted in TIME): loss
    and correctness on D_un, D_f's predictions, and each D_un group's feature proximity to D_f."""
    logits_un, feat_un = _pass(model, data.x_un, data.device, data.y_un)
    logits_f, feat_f = _pass(model, data.x_f, data.device, torch.zeros(len(data.x_f), dtype=torch.long))
    y = data.y_un.cpu()
    f = feat_f[0]
    proximity = {g: F.cosine_similarity(v, f, dim=0).item() for g, v in feat_un.items()}
    return {"loss": F.cross_entropy(logits_un, y, reduction="none"), "ok": logits_un.argmax(1) == y,
            "pred_f": logits_f.argmax(1), "proximity": proximity}


def _theta_t1(model, data) -> dict:
    """The same read-outs at θ_t1 (eval mode): loss and correctness on D_un, D_f's predictions."""
    logits_un = _pass(model, data.x_un, data.device)
    y = data.y_un.cpu()
    return {"loss": F.cross_entropy(logits_un, y, reduction="none"), "ok": logits_un.argmax(1) == y,
            "pred_f": _pass(model, data.x_f, data.device).argmax(1)}


def absorption(pred_o: torch.Tensor, pred_1: torch.Tensor, labels) -> dict:
    """Per label g: 100 × (share of D_f predicted g at θ_t1 − share at θo), percentage points."""
    n = len(pred_o)
    # one division per group, so equal counts give equal floats (deterministic tie order)
    return {g: 100.0 * (int((pred_1 == g).sum()) - int((pred_o == g).sum())) / n for g in labels}


def readouts(o: dict, t1: dict, y_un: torch.Tensor) -> dict:
    """The two extra group scores from the θo and θ_t1 read-outs (see the module docstring)."""
    labels = sorted(torch.unique(y_un.cpu()).tolist())
    return {"absorption": absorption(o["pred_f"], t1["pred_f"], labels),
            "proximity": {g: o["proximity"][g] for g in labels}}


def rank_groups(scores: dict) -> list:
    """Groups by score, highest first, ties to the lower label: the one order identification uses
    (its top K are the identified groups); every analysis of a read-out ranks with it."""
    return sorted(scores, key=lambda g: (-scores[g], g))


def identify(before, after, y_un: torch.Tensor, K: int, hp: dict, extra: dict | None = None
             ) -> tuple[torch.Tensor, dict]:
    """τ = 0 mask over D_un and the identification record, from (loss, correct) of θo and θ_t1;
    `extra` holds the absorption and proximity group scores (label → value; see `readouts`),
    needed when one of them is the group_score."""
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
    extra = extra or {}
    if hp["group_score"] in ("absorption", "proximity") and hp["group_score"] not in extra:
        raise ValueError(f"group_score={hp['group_score']!r} needs its read-out in `extra`")
    scores = {
        "acc_drop": acc_drop,
        "abs_acc_change": {g: abs(v) for g, v in acc_drop.items()},
        "abs_loss_change": abs_loss,
        **extra,
    }[hp["group_score"]]
    if hp["identification"] == "group":
        groups = rank_groups({g: scores[g] for g in labels})[:K]
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
        "group_absorption": extra.get("absorption", {}),
        "group_proximity": extra.get("proximity", {}),
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


def _step(model, opt, data, f_idx, u_idx, kt, tau, ident, ascent, gen, stats, ride=None):
    """One update: L = −kt·mean CE over the forgetting part + Σ τ·CE / |B ∩ D_un|. `ride`: D_un
    positions forwarded in the same pass after the weighted samples but left out of the loss
    (phase1_batches "mixed"): they act through BatchNorm's statistics only."""
    # "ascent" ablation: identified samples join the forgetting term
    fu = u_idx[ident[u_idx]] if ascent else u_idx[:0]
    keep = u_idx[tau[u_idx] > 0]
    n_forget = len(f_idx) + len(fu)
    if kt == 0:  # weight 0: leave them out of the forward pass too
        f_idx, fu, n_forget = f_idx[:0], fu[:0], 0
    if n_forget + len(keep) == 0:  # no sample with a loss weight: no forward pass, no step
        return
    x = torch.cat([data.x_f[f_idx], data.x_un[fu], data.x_un[keep]]
                  + ([data.x_un[ride]] if ride is not None else []))
    y = torch.cat([data.y_f[f_idx], data.y_un[fu], data.y_un[keep]]).to(data.device)
    w_f = torch.full((n_forget,), -kt / max(n_forget, 1))
    w_un = tau[keep] / len(u_idx)  # τ = 0 samples stay in the denominator
    w = torch.cat([w_f, w_un]).to(data.device)
    logits = model(common.to_input(x, data.device, data.augment, gen))
    if ride is not None:
        logits = logits[: len(y)]  # the riders' logits never reach the loss (nor their labels)
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


class _Run:
    """A TARF run in progress: the state that Phase I, the identification at t1 and Phases II–III
    share (model, optimiser, generator, τ, log, clock). `phase1` runs the first two; `unlearn`
    and `phase1_identify` are built on it, so every caller gets one and the same code path."""

    def __init__(self, model, data, hp, seed, whole_run: bool = True):
        self.hp = hp = _merged(hp)
        self.K = K = _validate(hp, data)
        self.data = data
        self.model = common.clone(model)
        self.gen = gen = common.generator(seed)
        self.opt = common.sgd(self.model, hp["lr"], hp["momentum"], hp["weight_decay"])
        self.ks = k_schedule(hp, hp["epochs"], data.K)
        n_f, n_un, bs = len(data.x_f), len(data.x_un), data.batch_size
        self.n_f, self.n_un, self.bs = n_f, n_un, bs
        per_epoch = {
            1: math.ceil(n_f / bs),
            3: math.ceil(n_un / bs),
            2: math.ceil((n_f + n_un) / bs) if hp["batching"] == "mixed" else math.ceil(n_un / bs),
        }
        self.mixed1 = hp["phase1_batches"] == "mixed"
        if self.mixed1:  # Phase I runs Phase II's loader
            per_epoch[1] = per_epoch[2]
        self.segs = [
            (a, b, e, ph, max(1, math.floor((b - a) * per_epoch[ph] + 0.5)))
            for a, b, e, ph in segments(hp)
        ]
        self.tau = torch.zeros(n_un)  # Phase I: τ ≡ 0
        self.ident = torch.zeros(n_un, dtype=torch.bool)
        self.record = None  # the identification record, once made at t1
        self.reported = False  # the record goes into the entry that starts at t1
        self.clock = time.perf_counter()  # the θo pass below is counted in the first entry's seconds
        self.cached = _theta_o(self.model, data) if K > 0 else None  # θo, before Phase I; counted in TIME
        self.f_cycle = _cycle(n_f, bs, gen)
        self.ascent = hp["identified_op"] == "ascent"
        self.empty = torch.zeros(0, dtype=torch.long)
        self.log = []
        total = sum(s[-1] for s in self.segs if whole_run or s[3] == 1)
        self.bar = progress(total=total, desc="tarf", leave=False)

    def identify_at_t1(self) -> dict:
        """t = t1, once: BN recompute if asked, identification (or the oracle mask), τ frozen."""
        hp, data, K = self.hp, self.data, self.K
        if hp["bn_phase1"] == "recompute":
            common.recompute_bn(self.model, data, self.gen)
        if K > 0:
            cached = self.cached
            now = _theta_t1(self.model, data)
            self.ident, rec = identify((cached["loss"], cached["ok"]), (now["loss"], now["ok"]),
                                       data.y_un, K, hp, readouts(cached, now, data.y_un))
        else:
            rec = _empty_record(hp)
        rec["oracle"] = hp["oracle"]
        if hp["oracle"]:  # diagnostic: the true D_fr replaces the identification
            ident = self.ident = data.oracle_fr.cpu().clone()
            y_fr = data.y_un.cpu()[ident]
            groups = sorted(torch.unique(y_fr).tolist())
            whole = torch.equal(ident, torch.isin(data.y_un.cpu(), y_fr.unique()))
            rec |= {"mode": "oracle", "score": None, "groups": groups if whole else None}
            rec |= {"beta": None, "identified_idx": torch.nonzero(ident).flatten().tolist()}
        self.tau = (~self.ident).float()
        self.record = rec
        return rec

    def segment(self, a, b, epoch, phase, steps) -> None:
        """Train one segment and append its log entry (the t1 entry also holds the record)."""
        hp, data, model, gen, bs = self.hp, self.data, self.model, self.gen, self.bs
        entry = {"epoch": epoch, "t_start": a, "t_end": b, "phase": phase}
        if phase > 1 and not self.reported:
            entry["identification"] = self.record
            self.reported = True
        model.train()
        kt = self.ks[epoch] if phase < 3 else 0.0
        stats = {"f": 0.0, "nf": 0, "u": 0.0, "nu": 0}
        tau, ident, ascent, empty = self.tau, self.ident, self.ascent, self.empty
        if phase == 1 and not self.mixed1:
            pairs = [(i, empty) for i in common.batches(self.n_f, bs, gen)[:steps]]
        elif phase == 3:
            pairs = [(empty, i) for i in common.batches(self.n_un, bs, gen)[:steps]]
        elif hp["batching"] == "mixed":
            n_f = self.n_f
            pairs = [
                (i[i < n_f], i[i >= n_f] - n_f)
                for i in common.batches(n_f + self.n_un, bs, gen)[:steps]
            ]
        else:
            pairs = [(next(self.f_cycle), i) for i in common.batches(self.n_un, bs, gen)[:steps]]
        # Phase I BN: eval = running stats used and frozen (affine weights still trained); keep =
        # batch statistics, running stats untouched; train and recompute = plain train mode
        bn = hp["bn_phase1"] if phase == 1 and hp["bn_phase1"] in ("keep", "eval") else "update"
        with common.bn_stats(model, bn):
            for f_idx, u_idx in pairs:
                if phase == 1 and self.mixed1:  # D_un rides along at loss weight 0 (τ ≡ 0 here)
                    _step(model, self.opt, data, f_idx, empty, kt, tau, ident, ascent, gen, stats, u_idx)
                else:
                    _step(model, self.opt, data, f_idx, u_idx, kt, tau, ident, ascent, gen, stats)
                self.bar.update(1)
        if str(data.device).startswith("cuda"):
            torch.cuda.synchronize()
        entry.update(
            {
                "k": kt,
                "steps": len(pairs),
                "loss_f": stats["f"] / stats["nf"] if stats["nf"] else float("nan"),
                "loss_un": stats["u"] / stats["nu"] if stats["nu"] else float("nan"),
                "tau1_fraction": tau.mean().item() if self.n_un else 0.0,
                "seconds": time.perf_counter() - self.clock,
            }
        )
        if data.monitor is not None:  # evaluation only; outside "seconds"
            entry.update(data.monitor(model))
        self.log.append(entry)
        self.clock = time.perf_counter()


def _empty_record(hp: dict) -> dict:
    """The identification record when nothing is identified (K = 0)."""
    rec = {"mode": hp["identification"], "score": None, "K": 0, "groups": []}
    rec |= {"group_scores": {}, "group_acc_drop": {}, "group_abs_loss_change": {}}
    rec |= {"group_absorption": {}, "group_proximity": {}}
    return rec | {"beta": None, "identified_idx": []}


def phase1(model, data, hp, seed, whole_run: bool = False) -> _Run:
    """Phase I (t < t1) on a copy of ``model``, then the identification at t1, exactly as in
    `unlearn`; the returned run holds θ_t1 (`.model`), the τ = 0 mask (`.ident`), the record
    (`.record`) and the Phase I log entries (`.log`). ``whole_run``: its progress bar counts the
    whole run (for `unlearn`, which continues it)."""
    run = _Run(model, data, hp, seed, whole_run)
    for seg in run.segs:
        if seg[3] == 1:
            run.segment(*seg)
    run.identify_at_t1()
    return run


def phase1_identify(model, data, hp, seed) -> tuple[torch.Tensor, dict]:
    """(τ = 0 mask over D_un, identification record) of a TARF run with these ``hp`` and ``seed``:
    the very set its `unlearn` identifies (same code path). ``model`` is not modified. With no
    identification to make (K = 0, no oracle) Phase I is skipped: the set is empty whatever it does."""
    hp = _merged(hp)
    if _validate(hp, data) == 0 and not hp["oracle"]:
        return torch.zeros(len(data.x_un), dtype=torch.bool), {**_empty_record(hp), "oracle": False}
    run = phase1(model, data, hp, seed)
    run.bar.close()
    return run.ident.clone(), run.record


def unlearn(model, data, hp, seed):
    run = phase1(model, data, hp, seed, whole_run=True)
    for seg in run.segs:
        if seg[3] > 1:
            run.segment(*seg)
    run.bar.close()
    return run.model.eval(), run.log
