"""L1-sparse — fine-tune on D_un with a linearly decaying ℓ1 penalty (docs/baselines.md#l1-sparse).

Loss at epoch e (0-based): CE + α_e·Σ|θ| over ALL parameters (conv, BN, linear, biases), with
α_e = γ·(1 − e/(E − E_no)) for e < E − E_no, else 0; if E − E_no = 0, α_e = γ (the reference's
CIFAR branch).
Reference: Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023;
OPTML-Group/Unlearn-Sparse `unlearn/FT.py` (`FT_l1` → `FT_iter(with_l1=True)`, `l1_regularization`),
dispatched as `--unlearn FT_prune`.
Deviations: γ is its own key (the reference shares `--alpha` with IU, default 0.2, far too large
here); E may be fractional on CPU profiles, then α_e uses the fractional E in the same formula;
the logged `loss` includes the penalty, as the reference's loss meter does.
"""

from __future__ import annotations

from .ft import finetune

DEFAULTS = {
    "epochs": 10,  # Unlearn-Sparse README (--unlearn_epochs 10); CPU profiles scale it (docs/protocol.md#budget-scaling)
    "lr": 0.01,  # Unlearn-Sparse README
    "momentum": 0.9,  # Unlearn-Sparse arg_parser default
    "weight_decay": 5e-4,  # Unlearn-Sparse arg_parser default
    "gamma": 1e-4,  # docs/baselines.md#defaults table (public scripts ~1e-4; not confirmed by the paper)
    "no_l1_epochs": 0,  # Unlearn-Sparse arg_parser default (--no-l1-epochs 0)
}


def l1_alpha(e: int, epochs: float, no_l1_epochs: float, gamma: float) -> float:
    span = epochs - no_l1_epochs
    if e < span:
        return gamma * (1 - e / span)
    return gamma if span == 0 else 0.0


def unlearn(model, data, hp, seed):
    def alpha(e):
        return l1_alpha(e, hp["epochs"], hp["no_l1_epochs"], hp["gamma"])

    return finetune(model, data, hp, seed, l1_alpha=alpha, desc="l1_sparse")
