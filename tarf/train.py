"""Base training: the original models (fine and coarse) and the Retrained references, cached.

One loop for both, seeded and deterministic, on in-memory uint8 tensors converted per batch
(the PIL pipeline costs ~25% of a small-model epoch on CPU), channels_last.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import models, store, timing
from .batches import batches, epoch_fractions, to_input
from .metrics import accuracy
from .params import Experiment, Train, precision_key
from .progress import progress
from .scenarios import Split, labels


def seed_everything(seed: int, num_threads: int | None = None) -> None:
    """Seed python, numpy and torch; deterministic kernels; fixed thread count (same numbers)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if num_threads:
        torch.set_num_threads(num_threads)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN before an op writes it, a guard against
    # reading uninitialized memory: 6-11% of an unlearning run and up to 15% of an evaluation on the
    # CPU, with bit-identical weights and rows without it (bench/NOTES.md, tests/test_reliability.py)
    torch.utils.deterministic.fill_uninitialized_memory = False


def autocast(exp: Experiment):
    """bf16 autocast on CUDA when the profile asks for it (a no-op context otherwise)."""
    on = exp.amp and exp.device.startswith("cuda")
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=on) if on else contextlib.nullcontext()


@timing.stage("training")
def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Train, seed: int, device: str = "cpu",
        eval_sets: dict | None = None, desc: str = "train", compiled: nn.Module | None = None) -> list[dict]:
    """Train ``model`` in place on uint8 images ``x`` with labels ``y``; returns the per-epoch log.
    ``compiled`` (torch.compile of ``model``, sharing its weights) runs the training steps if given."""
    net = compiled if compiled is not None else model  # an OptimizedModule has no truth value
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=False)
    fractions = epoch_fractions(recipe.epochs)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    total_steps = sum(max(1, round(fr * steps_per_epoch)) for fr in fractions)
    if recipe.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total_steps)
    elif recipe.schedule == "multistep":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=recipe.milestones, gamma=recipe.gamma)
    else:
        sched = None
    y_dev = y.to(device)
    log = []
    for epoch, fr in enumerate(progress(fractions, desc=desc, leave=False)):
        t0 = time.perf_counter()
        model.train()
        idx_batches = batches(len(x), recipe.batch_size, gen)
        if x.is_cuda:
            idx_batches = [i.to(x.device) for i in idx_batches]
        idx_batches = idx_batches[: max(1, round(fr * len(idx_batches)))]
        loss_sum, correct, seen = 0.0, 0, 0
        for idx in idx_batches:
            xb = to_input(x[idx], device, recipe.augment, gen)
            yb = y_dev[idx]
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if recipe.schedule == "onecycle":
                sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
            seen += len(idx)
        lr = opt.param_groups[0]["lr"]  # the rate this epoch ended at: read before a multistep drop
        if recipe.schedule == "multistep":
            sched.step()
        row = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / seen,
               "train_acc": 100.0 * correct / seen, "seconds": time.perf_counter() - t0}
        for name, (xe, ye) in (eval_sets or {}).items():
            row[f"{name}_acc"] = accuracy(model, xe, ye, device)
        log.append(row)
    return log


def _recipe_params(exp: Experiment) -> dict:
    return {"dataset": exp.dataset, "arch": exp.model.arch, "width": exp.model.width,
            "train": vars(exp.train), "device": exp.device.split(":")[0],
            **({"amp": True} if exp.amp else {}), **({"compile": True} if exp.compile else {}),
            **precision_key(exp)}


def _checkpoint_params(exp, role, label_space, idx, test_idx, seed) -> dict:
    # Keyed by the training indices themselves, so two requests with the same D_r share one model.
    return {"role": role, "label_space": label_space, "train_idx": store.sha256_bytes(idx.astype(np.int64).tobytes()),
            "eval_idx": store.sha256_bytes(test_idx.astype(np.int64).tobytes()), "seed": seed,
            **_recipe_params(exp), "v": 1}


def checkpoint_key(exp: Experiment, split: Split, role: str, label_space: str, seed: int,
                   scenario: str | None = None) -> str:
    """The store key of the original (role "original") or of the scenario's Retrained."""
    idx, test_idx = (split.train, split.test) if role == "original" else (split[scenario].r, split[scenario].test_prime)
    return store.key(_checkpoint_params(exp, role, label_space, idx, test_idx, seed))


def _train_cached(exp, ds, split: Split, role: str, label_space: str, idx: np.ndarray, test_idx: np.ndarray,
                  seed: int, scenario: str | None = None):
    """Load the checkpoint keyed by what determines it, or train it once and store it."""
    kp = _checkpoint_params(exp, role, label_space, idx, test_idx, seed)
    k = store.key(kp)
    num_classes = len(ds.classes) if label_space == "fine" else len(ds.hierarchy)
    seed_everything(seed, exp.num_threads)  # same init for the original and its Retrained (docs/metrics.md#retrained-reference)
    model = models.build(exp.model.arch, num_classes, exp.model.width, ds.in_channels, ds.family)
    ckpt = store.get_torch("models", k)
    if ckpt is None:
        with store.claim("models", k):  # one trainer per checkpoint across notebooks running at once
            ckpt = store.get_torch("models", k) or _fit_and_store(exp, ds, model, role, label_space, idx,
                                                                  test_idx, seed, scenario, k, kp, num_classes)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.to(exp.device).eval()
    return model, {"key": k, "log": ckpt["log"], "seconds": ckpt["seconds"], "meta": ckpt["meta"]}


def _fit_and_store(exp, ds, model, role, label_space, idx, test_idx, seed, scenario, k, kp, num_classes) -> dict:
    """Train ``model`` (seeded and built by the caller) and store its checkpoint under ``k``."""
    y = labels(ds, label_space)
    y_test = labels(ds, label_space, "test")
    model.to(exp.device)
    t0 = time.perf_counter()
    compiled = torch.compile(model) if exp.compile else None
    with autocast(exp):
        # On CUDA the training images live on the GPU for the whole run (no per-batch copies).
        log = fit(model, ds.x_train[idx].to(exp.device), y[idx], exp.train, seed, exp.device,
                  {"test": (ds.x_test[test_idx], y_test[test_idx])},
                  desc=f"{role} {scenario or label_space} seed {seed}", compiled=compiled)
    if exp.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    ckpt = {"state_dict": {k_: v.cpu() for k_, v in model.state_dict().items()}, "log": log,
            "seconds": seconds, "meta": kp | {"scenario": scenario}, "num_classes": num_classes}
    store.put_torch("models", k, ckpt)
    return ckpt


def original(exp: Experiment, ds, split: Split, label_space: str, seed: int):
    """The model trained on all of D in the ``label_space`` ("fine" or "coarse")."""
    return _train_cached(exp, ds, split, "original", label_space, split.train, split.test, seed)


def retrained(exp: Experiment, ds, split: Split, scenario: str, seed: int):
    """The gold reference: trained from scratch on D_r = D \\ D_t in the scenario's label space."""
    sc = split[scenario]
    return _train_cached(exp, ds, split, "retrained", sc.label_space, sc.r, sc.test_prime, seed, scenario)
