"""FT — fine-tune the original on the remaining data D_un with cross-entropy (docs/baselines.md#ft).

Reference: Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023;
OPTML-Group/Unlearn-Sparse `unlearn/FT.py` (`FT` → `FT_iter(with_l1=False)`).
Deviations: none in the update rule. The reference's MultiStep schedule (91/136) never fires
within 10 epochs, so the lr is constant here; its `.cuda()` calls become `data.device`;
epochs may be fractional (CPU profiles, docs/protocol.md#budget-scaling).
"""

from __future__ import annotations

import torch.nn.functional as F

from ..progress import progress
from . import common

DEFAULTS = {
    "epochs": 10,  # Unlearn-Sparse README (--unlearn_epochs 10); CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 0.01,  # Unlearn-Sparse README; published numbers used a per-setting search (docs/baselines.md#ft)
    "momentum": 0.9,  # Unlearn-Sparse arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Sparse arg_parser default
}


def finetune(model, data, hp, seed, l1_alpha=None, desc="ft"):
    """CE passes over shuffled D_un; with ``l1_alpha(e)`` (0-based epoch → weight) the loss also
    carries α_e·Σ|θ| over all parameters, like the reference's `FT_iter(with_l1=True)`."""
    model = common.clone(model)
    gen = common.generator(seed)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    log, done = [], 0.0
    fractions = common.epoch_fractions(hp["epochs"])
    for e, frac in enumerate(progress(fractions, desc=desc, leave=False)):
        model.train()
        alpha = l1_alpha(e) if l1_alpha is not None else None
        total, n = 0.0, 0
        for x, y in common.epoch_iter(data, "un", gen, frac):
            loss = F.cross_entropy(model(x), y)
            if alpha is not None:
                loss = loss + alpha * sum(p.abs().sum() for p in model.parameters())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
        done += frac
        entry = {"epoch": done, "loss": total / max(n, 1)}
        if alpha is not None:
            entry["alpha"] = alpha
        if data.monitor is not None:
            entry.update(data.monitor(model))
        log.append(entry)
    return model, log


def unlearn(model, data, hp, seed):
    return finetune(model, data, hp, seed)
