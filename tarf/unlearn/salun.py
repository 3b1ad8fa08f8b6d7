"""SalUn — RL restricted to the weights most salient for forgetting (docs/baselines.md#salun).

Reference: Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency",
ICLR 2024; OPTML-Group/Unlearn-Saliency `Classification/generate_mask.py` (`save_gradient_ratio`)
then `main_random.py --unlearn RL --mask_path with_0.5.pt` (`Classification/unlearn/RL.py`).
1. Mask: θo in eval mode; over D_f batches sum the signed gradient of −CE, take |·|, rank every
   parameter entry globally and keep the top `mask_ratio` share (exactly int(n·ratio) entries,
   ties broken by a stable sort). Computed inside this call, so TIME includes it.
2. RL as in `rl.py`, with grad ← grad ⊙ mask after every backward.
`salun_freeze="legacy"` (default): gradient masking only, so weight decay and momentum still move
masked-out weights — the code behind the paper's numbers. `"strict"`: after every step the
masked-out weights are restored and their momentum zeroed (Saliency PR #33), so they stay
bit-identical to θo.
Deviations: the mask's D_f batches come from a generator seeded like the run's (order only
changes float summation); only the requested mask is built, not the reference's ten files; the
mask always comes from θo itself, never a random network (Saliency issue #7); RL deviations as
in `rl.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import common
from .rl import relabel_train

DEFAULTS = {
    "epochs": 10,  # Unlearn-Saliency README (random forgetting example); CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 0.013,  # Unlearn-Saliency README example for random forgetting
    "momentum": 0.9,  # Unlearn-Saliency arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Saliency arg_parser default
    "mask_ratio": 0.5,  # Unlearn-Saliency README (--mask_path .../with_0.5.pt)
    "salun_freeze": "legacy",  # docs/baselines.md#salun [D]: the code behind the paper's numbers
    "rl_mode": "mixed",  # as rl.py (docs/baselines.md#rl [D])
    "exclude_true_label": False,  # as rl.py; the reference may draw the true label
}


def saliency_mask(model, data, ratio: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """{name: 0/1 float mask}; 1 on the top ``ratio`` share of |Σ_batches ∇(−CE on D_f)|."""
    was_training = model.training
    model.eval()
    params = dict(model.named_parameters())
    grads = {k: torch.zeros_like(p) for k, p in params.items()}
    for x, y in common.epoch_iter(data, "f", gen):
        g = torch.autograd.grad(
            -F.cross_entropy(model(x), y), list(params.values()), allow_unused=True
        )
        for k, gk in zip(grads, g):
            if gk is not None:
                grads[k] += gk
    model.train(was_training)
    scores = torch.cat([g.abs().reshape(-1) for g in grads.values()])
    keep = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    keep[torch.argsort(scores, descending=True, stable=True)[: int(scores.numel() * ratio)]] = True
    masks, i = {}, 0
    for k, g in grads.items():
        masks[k] = keep[i : i + g.numel()].view_as(g).to(g.dtype)
        i += g.numel()
    return masks


def unlearn(model, data, hp, seed):
    if hp["salun_freeze"] not in ("legacy", "strict"):
        raise ValueError(f"salun_freeze must be 'legacy' or 'strict', got {hp['salun_freeze']!r}")
    model = common.clone(model)
    # Own generator for the mask pass, so the RL part draws exactly what rl.py draws for this seed
    # (with mask_ratio 1 SalUn then equals RL bit for bit).
    masks = saliency_mask(model, data, hp["mask_ratio"], common.generator(seed))
    params = dict(model.named_parameters())
    opt = common.sgd(model, hp["lr"], hp["momentum"], hp["weight_decay"])

    def mask_grads():
        for k, p in params.items():
            if p.grad is not None:
                p.grad.mul_(masks[k])

    after_step = None
    if hp["salun_freeze"] == "strict":
        frozen = {k: p.detach().clone() for k, p in params.items()}

        @torch.no_grad()
        def after_step():
            for k, p in params.items():
                keep = masks[k].bool()
                p.copy_(torch.where(keep, p, frozen[k]))
                buf = opt.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    buf.mul_(masks[k])

    log = relabel_train(
        model, data, hp, common.generator(seed), opt, mask_grads, after_step, desc="salun"
    )
    share = sum(float(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    for entry in log:
        entry["mask_share"] = share
    return model, log
