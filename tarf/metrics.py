"""UA, RA, TA, MIA-efficacy and Gap, one rule for every scenario (docs/metrics.md).

All accuracies are percentages in eval mode, in the model's own label space. MIA is the
confidence-feature SVC attack of OPTML-Group/Unlearn-Sparse `evaluation/SVC_MIA.py`
(`SVC_fit_predict`, the `confidence` entry only); which samples are members / non-members is the
caller's business (seeded, persisted permutations), so this module only scores what it is given.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.svm import SVC

from .batches import predict

GAP_KEYS = ("UA", "RA", "TA", "MIA")


def _accuracy(logits, y) -> float:
    if len(y) == 0:
        return float("nan")  # an empty set (e.g. D_fr in all matched) has no accuracy
    return 100.0 * (logits.argmax(1) == torch.as_tensor(y).cpu()).double().mean().item()


def _confidence(logits, y) -> np.ndarray:
    p = logits.double().softmax(1)
    return p.gather(1, torch.as_tensor(y).cpu().long().view(-1, 1)).squeeze(1).numpy()


def accuracy(model, x_uint8, y, device="cpu") -> float:
    """Top-1 accuracy in percent, eval mode."""
    return _accuracy(predict(model, x_uint8, device), y)


def confidence(model, x, y, device="cpu") -> np.ndarray:
    """Softmax probability of the true (model-space) label, one number per sample."""
    return _confidence(predict(model, x, device), y)


def mia_efficacy(conf_members, conf_nonmembers, conf_target) -> float:
    """100 × share of target samples the shadow SVC calls non-member.

    As in the reference: SVC(C=3, gamma="auto", kernel="rbf") on the raw 1-D feature (no scaling,
    no class weights; gamma="auto" is 1 for one feature), members label 1, non-members label 0.
    """
    # A diverged model (NaN logits, e.g. gradient ascent with too large a step) has no confidence
    # in anything: its NaN features count as 0 so the attack still gives an answer.
    conf_target = np.nan_to_num(np.asarray(conf_target, dtype=np.float64), nan=0.0).reshape(-1, 1)
    if len(conf_target) == 0:
        return float("nan")
    x = np.nan_to_num(np.concatenate(
        [np.asarray(conf_members, np.float64), np.asarray(conf_nonmembers, np.float64)]
    ), nan=0.0)
    y = np.concatenate([np.ones(len(conf_members)), np.zeros(len(conf_nonmembers))])
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(x.reshape(-1, 1), y)
    return 100.0 * float(np.mean(clf.predict(conf_target) == 0))


def gap(row: dict, retrained: dict) -> float:
    """Mean |metric − Retrained metric| over UA, RA, TA, MIA (after Jia et al., NeurIPS 2023)."""
    return float(np.mean([abs(row[k] - retrained[k]) for k in GAP_KEYS]))


def evaluate(model, sets: dict, device="cpu") -> dict:
    """UA (D_t), RA (D_r), TA (test'), MIA (on D_t); FR_acc (D_fr) and UA_R (D_ar) when given.

    ``sets`` maps "t", "r", "test", "mia_members", "mia_nonmembers" (and optionally "fr", "ar")
    to ``(x_uint8, y_model_labels)`` tuples.
    """
    x_t, y_t = sets["t"]
    logits_t = predict(model, x_t, device)  # one pass serves both UA and the MIA target feature
    out = {
        "UA": _accuracy(logits_t, y_t),
        "RA": accuracy(model, *sets["r"], device=device),
        "TA": accuracy(model, *sets["test"], device=device),
        "MIA": mia_efficacy(
            confidence(model, *sets["mia_members"], device=device),
            confidence(model, *sets["mia_nonmembers"], device=device),
            _confidence(logits_t, y_t),
        ),
    }
    if sets.get("fr") is not None:
        out["FR_acc"] = accuracy(model, *sets["fr"], device=device)
    if sets.get("ar") is not None:
        out["UA_R"] = accuracy(model, *sets["ar"], device=device)
    return out
