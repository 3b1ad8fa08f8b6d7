"""GA — gradient ascent on the forgetting data D_f (docs/baselines.md#ga).

Reference: Thudi et al. (gradient ascent unlearning), as implemented in OPTML-Group/Unlearn-Sparse
`unlearn/GA.py` (`GA`): E epochs over shuffled D_f minimising −CE, train mode (BN statistics are
updated on D_f only, kept for faithfulness); D_un is never touched.
Deviations: none in the update rule; constant lr (the reference's MultiStep never fires within
5 epochs); epochs may be fractional (docs/protocol.md#budget-scaling). Option `bn_stats="keep"` (set by the Fashion-MNIST
profiles, not the default): the forward pass still uses batch statistics, but the BN running
statistics are not dragged to D_f's — measured on the default profile, that drift alone takes RA from
~91 to 18-59 (README, notes on fidelity). The logged `loss` is the minimised
objective (−CE); `ce_f` is the mean CE on D_f being raised.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..progress import progress
from . import common

DEFAULTS = {
    "epochs": 5,  # Unlearn-Sparse README (GA: --unlearn_epochs 5); CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 1e-4,  # Unlearn-Sparse README; maintainers advise 5e-4..1e-3 (docs/baselines.md#ga sweep)
    "momentum": 0.9,  # Unlearn-Sparse arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Sparse arg_parser default
    "bn_stats": "update",  # reference: train mode updates BN running stats on D_f; keep / eval = [D] (common.bn_stats)
}


def unlearn(model, data, hp, seed):
    model = common.clone(model)
    gen = common.generator(seed)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    log, done = [], 0.0
    for frac in progress(common.epoch_fractions(hp["epochs"]), desc="ga", leave=False):
        model.train()
        total, n = 0.0, 0
        for x, y in common.epoch_iter(data, "f", gen, frac):
            with common.bn_stats(model, hp["bn_stats"]):
                ce = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            (-ce).backward()
            opt.step()
            total, n = total + ce.item() * len(y), n + len(y)
        done += frac
        entry = {"epoch": done, "loss": -total / max(n, 1), "ce_f": total / max(n, 1)}
        if data.monitor is not None:
            entry.update(data.monitor(model))
        log.append(entry)
    return model, log
