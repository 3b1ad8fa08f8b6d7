"""IU — one-shot influence unlearning with the WoodFisher recursion (docs/baselines.md#iu).

Reference: Izzo et al. / Koh & Liang influence unlearning as implemented by Jia et al., NeurIPS
2023: OPTML-Group/Unlearn-Sparse `unlearn/Wfisher.py` (`Wfisher` and the *second* `woodfisher`
definition, the one Python keeps); the same file is in Unlearn-Saliency `Classification/unlearn/`.
Model in eval mode, all parameters flattened into one vector, L_b the mean CE of batch b:
1. g_f = Σ_b n_b·∇L_b(D_f) / (n_f + n_u); g_u = Σ_b n_b·∇L_b(D_un) · n_f / ((n_f + n_u)·n_u);
   v = g_f − g_u.
2. k = v; o = ∇ℓ(x_0); for each next single-sample gradient g: s = o·g;
   k ← k − (k·g)/(N + s)·o;  o ← o − s/(N + s)·o.
3. θ ← θ + α·k.
Reproduced literally, including the reference's quirk that `o` is only ever rescaled and never
absorbs the new gradients (a textbook rank-one Woodbury update would). N = 1000 enters the
formula as in the reference, which stops after index N+1, i.e. N+2 samples.
Deviations: the single-sample gradients come from the first min(N+2, |D_un|) samples of a seeded
permutation of D_un (the reference reads the retain set in dataset order); α has its own key (the
reference shares `--alpha` with L1-sparse, default 0.2); the batched g_f / g_u passes read D_f and
D_un in order, as the reference does (shuffle=False), and the augmentation flag is honoured since
the reference's sets carry the training transform.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import common

DEFAULTS = {
    "alpha": 10.0,  # docs/baselines.md#defaults table (sweep {1, 2, 5, 10, 20}); the reference's shared default 0.2 is too small
    "N": 1000,  # Wfisher.py `woodfisher` (hard-coded N = 1000, stop after index N+1); CPU note: the
    # per-sample pass costs min(N+2, |D_un|) single-sample backward passes on any profile
}


def _flat_grad(model, params, x, y):
    """∇ of the mean CE as one flat vector (zeros for unused parameters), and the CE itself."""
    loss = F.cross_entropy(model(x), y)
    g = torch.autograd.grad(loss, params, allow_unused=True)
    flat = torch.cat(
        [(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(g, params)]
    )
    return flat, loss.item()


def _set_grad_sum(model, params, x, y, data, gen):
    """Σ_b n_b·∇L_b over the set in dataset order, and the sample-weighted mean CE."""
    total, ce = None, 0.0
    for idx in common.batches(len(x), data.batch_size, gen, shuffle=False):
        xb = common.to_input(x[idx], data.device, data.augment, gen)
        yb = y[idx].to(data.device)
        g, loss = _flat_grad(model, params, xb, yb)
        total = g * len(idx) if total is None else total + g * len(idx)
        ce += loss * len(idx)
    return total, ce / max(len(x), 1)


def woodfisher(model, params, x, y, v, N, data, gen):
    """The reference recursion over single samples (x, y); returns k."""
    k, o = v.clone(), None
    for i in range(len(x)):
        xb = common.to_input(x[i : i + 1], data.device, data.augment, gen)
        g, _ = _flat_grad(model, params, xb, y[i : i + 1].to(data.device))
        if o is None:
            o = g.clone()
        else:
            s = torch.dot(o, g)
            k -= (torch.dot(k, g) / (N + s)) * o
            o -= (s / (N + s)) * o  # literal reference: o is only rescaled
    return k


def unlearn(model, data, hp, seed):
    model = common.clone(model)
    was_training = model.training
    model.eval()
    gen = common.generator(seed)
    params = list(model.parameters())
    n_f, n_u = len(data.x_f), len(data.x_un)
    N = hp["N"]
    # drawn first, so the sample choice does not depend on augmentation draws
    order = torch.randperm(n_u, generator=gen)[: min(N + 2, n_u)]
    g_f, ce_f = _set_grad_sum(model, params, data.x_f, data.y_f, data, gen)
    g_u, ce_u = _set_grad_sum(model, params, data.x_un, data.y_un, data, gen)
    v = g_f / (n_f + n_u) - g_u * (n_f / ((n_f + n_u) * n_u))
    k = woodfisher(model, params, data.x_un[order], data.y_un[order], v, N, data, gen)
    with torch.no_grad():
        i = 0
        for p in params:
            p.add_(hp["alpha"] * k[i : i + p.numel()].view_as(p))
            i += p.numel()
    model.train(was_training)
    entry = {
        "epoch": 1,
        "loss": ce_u,
        "ce_f": ce_f,
        "k_norm": k.norm().item(),
        "n_samples": len(order),
    }
    if data.monitor is not None:
        entry.update(data.monitor(model))
    return model, [entry]
