"""RL — random labels on D_f, true labels on D_un, cross-entropy (docs/baselines.md#rl).

Reference: random labelling (Golatkar et al., CVPR 2020) as run by Fan et al., "SalUn", ICLR 2024; OPTML-Group/Unlearn-Saliency `Classification/unlearn/RL.py` (absent from Sparse).
Default `rl_mode="mixed"`: each epoch, relabel D_f uniformly over the model's C classes from the
seeded generator, concatenate with D_un, shuffle, one CE pass — the reference's cifar100 /
TinyImagenet path, used for every dataset so there is one code path. `rl_mode="sequential"`
reproduces the reference's cifar10/svhn path: a forget-only pass with labels drawn per batch, then
a separate retain pass.
Deviations: a drawn label may equal the true one, as in the reference; `exclude_true_label=True`
draws from the other C−1 classes instead (not in the reference). Random labels come from the
run's seeded generator instead of the global numpy/torch RNG; the reference's broken warm-up
branch is omitted; the logged `loss` covers every batch (the reference meters only the retain
pass in sequential mode); epochs may be fractional (docs/protocol.md#budget-scaling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..progress import progress
from . import common

DEFAULTS = {
    "epochs": 10,  # Unlearn-Saliency README (RL: --unlearn_epochs 10); CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 0.01,  # Unlearn-Saliency README range / docs/baselines.md#defaults table
    "momentum": 0.9,  # Unlearn-Saliency arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Saliency arg_parser default
    "rl_mode": "mixed",  # docs/baselines.md#rl [D]: one code path for every dataset; "sequential" = ref. CIFAR-10
    "exclude_true_label": False,  # docs/baselines.md#rl: the reference may draw the true label
}


def random_labels(
    y: torch.Tensor, num_classes: int, gen: torch.Generator, exclude_true: bool = False
) -> torch.Tensor:
    """Labels uniform over the C model classes (or over the C−1 others), on y's device."""
    y_cpu = y.cpu()
    if exclude_true:
        r = torch.randint(0, num_classes - 1, y_cpu.shape, generator=gen)
        r = r + (r >= y_cpu).long()  # skip the true class: uniform over the remaining C−1
    else:
        r = torch.randint(0, num_classes, y_cpu.shape, generator=gen)
    return r.to(y.device)


def _step(model, opt, x, y, after_backward, after_step) -> float:
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if after_backward is not None:
        after_backward()
    opt.step()
    if after_step is not None:
        after_step()
    return loss.item()


def _mixed(x_all, y_all, data, gen, fraction):
    """Shuffled batches over D_f (relabelled) ∪ D_un, like epoch_iter on the concatenation."""
    idx_batches = common.batches(len(x_all), data.batch_size, gen)
    if fraction < 1.0:
        idx_batches = idx_batches[: max(1, round(fraction * len(idx_batches)))]
    for idx in idx_batches:
        yield (
            common.to_input(x_all[idx], data.device, data.augment, gen),
            y_all[idx].to(data.device),
        )


def _sequential(data, gen, fraction, exclude_true):
    """The reference's CIFAR-10 path: D_f with labels drawn per batch, then D_un."""
    for x, y in common.epoch_iter(data, "f", gen, fraction):
        yield x, random_labels(y, data.num_classes, gen, exclude_true)
    yield from common.epoch_iter(data, "un", gen, fraction)


def relabel_train(model, data, hp, gen, opt, after_backward=None, after_step=None, desc="rl"):
    """The RL loop on an already cloned ``model``; SalUn passes its gradient mask as hooks."""
    if hp["rl_mode"] not in ("mixed", "sequential"):
        raise ValueError(f"rl_mode must be 'mixed' or 'sequential', got {hp['rl_mode']!r}")
    x_all = torch.cat([data.x_f, data.x_un]) if hp["rl_mode"] == "mixed" else None
    log, done = [], 0.0
    for frac in progress(common.epoch_fractions(hp["epochs"]), desc=desc, leave=False):
        model.train()
        entry = {}
        if hp["rl_mode"] == "mixed":
            # labels on the CPU (the batch indices are): on CUDA y_f is on the GPU
            y_rand = random_labels(data.y_f, data.num_classes, gen, hp["exclude_true_label"]).cpu()
            entry["random_eq_true"] = (y_rand == data.y_f.cpu()).double().mean().item()
            stream = _mixed(x_all, torch.cat([y_rand, data.y_un.cpu()]), data, gen, frac)
        else:
            stream = _sequential(data, gen, frac, hp["exclude_true_label"])
        total, n = 0.0, 0
        for x, y in stream:
            total += _step(model, opt, x, y, after_backward, after_step) * len(y)
            n += len(y)
        done += frac
        entry = {"epoch": done, "loss": total / max(n, 1), **entry}
        if data.monitor is not None:
            entry.update(data.monitor(model))
        log.append(entry)
    return log


def unlearn(model, data, hp, seed):
    model = common.clone(model)
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])
    log = relabel_train(model, data, hp, common.generator(seed), opt)
    return model, log
