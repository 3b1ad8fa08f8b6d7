"""Turning uint8 image tensors into model input, and iterating / predicting over them in batches.

Training (`train`), evaluation (`metrics`, `embedding`) and the unlearning methods all run the same
conversion and batching, so they live here rather than in `unlearn.common`: training and
evaluation must not depend on the unlearning package. `unlearn.common` re-exports these names.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def to_input(x: torch.Tensor, device: str = "cpu", augment: bool = False, generator=None):
    """uint8 batch → floats in [0, 1] (torch's default dtype: the profile's `dtype`), channels_last,
    optionally random crop (pad 4) + flip."""
    x = x.to(device, non_blocking=True).to(torch.get_default_dtype()).div_(255)
    if augment:
        x = augment_batch(x, generator)
    return x.contiguous(memory_format=torch.channels_last)


def augment_batch(x: torch.Tensor, generator=None) -> torch.Tensor:
    """RandomCrop(pad 4) + horizontal flip on a whole batch of tensors, vectorised (no PIL round trip,
    no per-sample loop, so it runs on the GPU at batch speed)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4)).permute(0, 2, 3, 1)  # n, h+8, w+8, c
    dx = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    dy = torch.randint(0, 9, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    cols = dx[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)  # a flipped crop reads its columns backwards
    rows = dy[:, None] + torch.arange(h, device=x.device)
    out = padded[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def batches(n: int, batch_size: int, generator: torch.Generator, shuffle: bool = True):
    """Index batches over range(n) drawn from a seeded generator."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def eval_batch_size(device: str) -> int:
    """Eval-mode batch: 256 on the CPU, 1,024 on a GPU. On the CPU 256 runs 10-25% faster than 1,024
    (bench/NOTES.md) and gives the same logits bit for bit (a sample's logits do not depend on its
    batch there; tests/test_metrics.py), so rows stored at 1,024 stay valid."""
    return 256 if str(device).startswith("cpu") else 1024


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, device: str = "cpu", batch_size: int | None = None):
    """Logits of a uint8 tensor in eval mode, batched (eval_batch_size by default)."""
    batch_size = batch_size or eval_batch_size(device)
    was_training = model.training
    model.eval()
    out = [model(to_input(x[i : i + batch_size], device)).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def epoch_fractions(epochs: float) -> list[float]:
    """Budgets may be fractional on CPU profiles (docs/protocol.md#budget-scaling): 2.5 → [1, 1, 0.5]."""
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    whole = int(epochs)
    rest = round(epochs - whole, 6)
    return [1.0] * whole + ([rest] if rest > 0 else [])
