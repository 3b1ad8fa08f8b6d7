"""What every unlearning method receives, and the small training helpers they share.

The uint8 → model-input conversion and the batch helpers live in `tarf.batches` (training and
evaluation use them too, without depending on this package); they are re-exported here under
the same names (`common.predict`, `common.to_input`, ...).

Methods see only what an unlearner has (docs/scenarios.md#who-sees-what, "who sees what"): the original model,
D_f and D_un as tensors with model-space labels, the number of model classes, and — for TARF
only — K from the request. Evaluation-only sets (D_t, D_r, D_fr, D_ar, fine labels) never
reach a method.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..batches import augment_batch as augment_batch
from ..batches import batches as batches
from ..batches import epoch_fractions as epoch_fractions
from ..batches import eval_batch_size as eval_batch_size
from ..batches import predict as predict
from ..batches import to_input as to_input


@dataclass
class UnlearnData:
    x_f: torch.Tensor  # uint8 (n_f, C, H, W), pixel values 0..255; the model normalises inside
    y_f: torch.Tensor  # int64 (n_f,), model-space labels
    x_un: torch.Tensor  # uint8 (n_un, C, H, W)
    y_un: torch.Tensor  # int64 (n_un,), model-space labels
    num_classes: int
    batch_size: int = 128
    device: str = "cpu"
    augment: bool = False  # crop+flip on CIFAR profiles; CPU profiles train without it
    K: int = 0  # number of target-concept groups hidden in D_un; only TARF may read it
    # Evaluation hook for dynamics plots (Fig. 5b, Obs. 6): called with the model at the end of
    # each epoch, its dict is merged into that epoch's log. None for timed runs (TIME excludes it).
    monitor: Callable[[nn.Module], dict] | None = None
    # Evaluation only: the true D_fr as a bool mask over D_un, for TARF's oracle diagnostic (the fit study).
    # The runner fills it only when TARF's hp["oracle"] is true; no method reads it otherwise.
    oracle_fr: torch.Tensor | None = None


# [D] Hyper-parameters every method takes besides its DEFAULTS; absent unless set, so a run without
# them keeps its store key. batch_size: the method's unlearning batch (the number of optimiser steps
# at a fixed epoch budget; docs/protocol.md#tuning), in place of the profile's unlearn_batch_size.
COMMON = {"batch_size": None}


def with_batch(data: UnlearnData, hp: dict) -> tuple[UnlearnData, dict]:
    """``data`` at ``hp``'s batch_size (if set) and ``hp`` without the COMMON keys, as a method wants."""
    bs = hp.get("batch_size")
    if bs is not None and (isinstance(bs, bool) or not isinstance(bs, int) or bs < 1):
        raise ValueError(f"batch_size: must be an integer >= 1, got {bs!r}")
    rest = {k: v for k, v in hp.items() if k not in COMMON}
    return (data if bs is None else dataclasses.replace(data, batch_size=bs)), rest


def sgd(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4):
    """The optimiser of the baseline code base: SGD with momentum and weight decay, constant lr."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)


def clone(model: nn.Module) -> nn.Module:
    """A deep copy; methods never modify the original model they are handed."""
    return copy.deepcopy(model)


def frozen(model: nn.Module) -> nn.Module:
    """A copy in eval mode with no gradients: the fixed reference a method distils from or attacks
    (BS's adversarial-label model, SCRUB's teacher)."""
    m = clone(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def bn_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


BN_STATS = ("update", "keep", "eval")


@contextlib.contextmanager
def bn_stats(model: nn.Module, mode: str):
    """How BatchNorm treats a pass over D_f-only batches, inside the block.

    "update": plain train mode (the reference code). "keep": batch statistics in the forward pass,
    so the gradient is the reference's, but the running statistics stay unchanged (momentum 0).
    "eval": BN layers in eval mode, running statistics used and frozen (a diagnostic; TARF's
    bn_phase1="eval").
    Why: passes over D_f-only batches (GA, BS, TARF Phase I) drag the running statistics that
    evaluation uses towards one class's statistics. On the Fashion-MNIST profiles that alone
    collapses RA (docs/baselines.md#batchnorm-on-forget-only-batches).
    """
    if mode not in BN_STATS:
        raise ValueError(f"bn_stats={mode!r} is not valid; choose one of {', '.join(BN_STATS)}")
    layers = bn_layers(model) if mode != "update" else []
    saved = [(m.momentum, m.training) for m in layers]
    for m in layers:
        if mode == "keep":
            m.momentum = 0.0  # running = (1 - 0)·running + 0·batch
        else:
            m.eval()
    try:
        yield model
    finally:
        for m, (mom, training) in zip(layers, saved):
            m.momentum = mom
            m.train(training)


@torch.no_grad()
def recompute_bn(model: nn.Module, data: UnlearnData, gen: torch.Generator) -> None:
    """Re-estimate the BN running statistics on D_un as a cumulative average (TARF's
    bn_phase1="recompute"; scripts/bn_probe.py). Leaves the model in train mode."""
    layers = bn_layers(model)
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for idx in batches(len(data.x_un), data.batch_size, gen):
        model(to_input(data.x_un[idx], data.device, data.augment, gen))
    for m, mom in zip(layers, momenta):
        m.momentum = mom


def oracle_mask(who: str, data: UnlearnData) -> torch.Tensor:
    """The evaluation-only D_fr mask over D_un (TARF's oracle, the `+oracle` baselines), checked."""
    m = data.oracle_fr
    if m is None:
        raise ValueError(
            f"{who} needs data.oracle_fr, the evaluation-only true D_fr as a bool mask over D_un; "
            "tarf.runner.unlearn_data(..., oracle=True) fills it (run_one does when a run asks for it)")
    if m.dtype != torch.bool or tuple(m.shape) != (len(data.y_un),):
        raise ValueError(f"{who}: data.oracle_fr must be a bool mask over D_un of shape "
                         f"({len(data.y_un)},), got {m.dtype} {tuple(m.shape)}")
    return m.cpu()


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def epoch_iter(data: UnlearnData, which: str, gen: torch.Generator, fraction: float = 1.0
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled (x, y) float batches over D_f ("f") or D_un ("un"); a fraction < 1 stops early
    (at least one batch)."""
    x, y = (data.x_f, data.y_f) if which == "f" else (data.x_un, data.y_un)
    idx_batches = batches(len(x), data.batch_size, gen)
    if fraction < 1.0:
        idx_batches = idx_batches[: max(1, round(fraction * len(idx_batches)))]
    for idx in idx_batches:
        yield to_input(x[idx], data.device, data.augment, gen), y[idx].to(data.device)
