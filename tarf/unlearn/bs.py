"""BS — Boundary Shrink: pull each forgetting sample to its nearest wrong class (docs/baselines.md#bs).

Reference: Chen et al., "Boundary Unlearning", CVPR 2023; ported in OPTML-Group/Unlearn-Saliency
`Classification/unlearn/boundary_sh.py` (`boundary_shrink`, `FGSM_perturb`); original
TY-LEE-KR/Boundary-Unlearning-Code `boundary_unlearning.py` (`boundary_shrink`).
Per batch (x, y) of D_f, with a frozen copy of θo in eval mode:
x_adv = round(clamp(x + ε·sign(∇_x CE(θo(x), y)), 0, 1)·255)/255 (one FGSM step, no random start),
y_nb = argmax θo(x_adv), and the trained model (train mode) takes an SGD step on CE(f(x), y_nb).
ε is in [0, 1] pixel units, which is what the reference means because normalisation sits inside
the model here (models.py). The attack fails when y_nb = y; the share with y_nb ≠ y is logged as
`attack_success`.
Deviations: none from the Saliency port (weight decay 5e-4, the profile batch, lr 1e-5). The
original code normalised outside the model, used AllCNN, no weight decay, batch 64, seed 2022.
Epochs may be fractional (docs/protocol.md#budget-scaling). Option `bn_stats="keep"`, as for GA (ga.py): batch
statistics in the forward pass, BN running statistics not dragged to D_f's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..progress import progress
from . import common

DEFAULTS = {
    "epochs": 10,  # Boundary-Unlearning-Code / Saliency port; CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 1e-5,  # original code's value (docs/baselines.md#bs; port scripts use 1e-6..5e-6)
    "momentum": 0.9,  # Unlearn-Saliency arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Saliency arg_parser default (the original had none)
    "eps": 0.1,  # `bound = 0.1`, hard-coded in boundary_sh.py and the original
    "bn_stats": "update",  # reference: train mode on D_f-only batches; keep / eval = [D] (common.bn_stats)
}


def fgsm_neighbours(frozen, x, y, eps):
    """(x_adv, y_nb) from one FGSM step on the frozen original; ``frozen`` must be in eval mode."""
    x_adv = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(frozen(x_adv), y), x_adv)
    x_adv = torch.round((x + eps * grad.sign()).clamp(0.0, 1.0) * 255) / 255
    with torch.no_grad():
        y_nb = frozen(x_adv).argmax(1)
    return x_adv.detach(), y_nb


def unlearn(model, data, hp, seed):
    frozen = common.frozen(model)
    model = common.clone(model)
    gen = common.generator(seed)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    log, done = [], 0.0
    for frac in progress(common.epoch_fractions(hp["epochs"]), desc="bs", leave=False):
        model.train()
        total, n, moved = 0.0, 0, 0
        for x, y in common.epoch_iter(data, "f", gen, frac):
            _, y_nb = fgsm_neighbours(frozen, x, y, hp["eps"])
            with common.bn_stats(model, hp["bn_stats"]):
                loss = F.cross_entropy(model(x), y_nb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(y), n + len(y)
            moved += int((y_nb != y).sum())
        done += frac
        entry = {"epoch": done, "loss": total / max(n, 1), "attack_success": moved / max(n, 1)}
        if data.monitor is not None:
            entry.update(data.monitor(model))
        log.append(entry)
    return model, log
