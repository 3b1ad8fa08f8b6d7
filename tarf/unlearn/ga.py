"""GA — gradient ascent on the forgetting data D_f (docs/baselines.md#ga).

Reference: Thudi et al. (gradient ascent unlearning), as implemented in OPTML-Group/Unlearn-Sparse
`unlearn/GA.py` (`GA`): E epochs over shuffled D_f minimising −CE, train mode (BN statistics are
updated on D_f only, kept for faithfulness); D_un is never touched.
Deviations: none in the update rule; constant lr (the reference's MultiStep never fires within
5 epochs); epochs may be fractional (docs/protocol.md#budget-scaling). Option `bn_stats="keep"` (set by the Fashion-MNIST
profiles, not the default): the forward pass still uses batch statistics, but the BN running
statistics are not dragged to D_f's — measured on the default profile, that drift alone takes RA from
~91 to 18-59 (docs/baselines.md#batchnorm-on-forget-only-batches). The logged `loss` is the minimised
objective (−CE); `ce_f` is the mean CE on D_f being raised.
``on_step(model, step, epoch)``, if given, is called after every update (Observation 6's per-step
losses, tarf/observations.py); it must leave the model's mode as it found it.
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


def unlearn(model, data, hp, seed, on_step=None):
    model = common.clone(model)
    gen = common.generator(seed)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    log, done, step = [], 0.0, 0
    for frac in progress(common.epoch_fractions(hp["epochs"]), desc="ga", leave=False):
        model.train()
        total, n = 0.0, 0
        n_batches = max(1, round(frac * -(-len(data.x_f) // data.batch_size)))
        for i, (x, y) in enumerate(common.epoch_iter(data, "f", gen, frac)):
            with common.bn_stats(model, hp["bn_stats"]):
                ce = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            (-ce).backward()
            opt.step()
            total, n = total + ce.item() * len(y), n + len(y)
            step += 1
            if on_step is not None:
                on_step(model, step, round(done + frac * (i + 1) / n_batches, 6))
        done += frac
        entry = {"epoch": done, "loss": -total / max(n, 1), "ce_f": total / max(n, 1)}
        if data.monitor is not None:
            entry.update(data.monitor(model))
        log.append(entry)
    return model, log
