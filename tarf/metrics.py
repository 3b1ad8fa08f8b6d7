"""UA, RA, TA, MIA-efficacy and Gap, one rule for every scenario (docs/metrics.md).

All accuracies are percentages in eval mode, in the model's own label space. MIA is the
confidence-feature SVC attack of OPTML-Group/Unlearn-Sparse `evaluation/SVC_MIA.py`
(`SVC_fit_predict`, the `confidence` entry only); which samples are members / non-members is the
caller's business (seeded, persisted permutations), so this module only scores what it is given.

For the MIA-robustness study (tarf/reviewers.py) the same attack is also exposed fitted
(:func:`mia_attack`, :func:`mia_attacks`), on any of the reference file's 1-D features
(:data:`MIA_FEATURES`: confidence, correctness, entropy, modified entropy). The reported MIA is
always the confidence one; the others are diagnostics (docs/metrics.md#mia).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.svm import SVC

from . import timing
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


# --- the membership-inference attack ------------------------------------------------------------------
#
# One fit for every caller: `mia_efficacy` (the reported MIA, evaluate) and `mia_attack` (the fitted
# attack, for the reviewers' study) both go through `_fit_attack` / `_efficacy`, so they cannot drift.

MIA_FEATURES = ("confidence", "correctness", "entropy", "modified_entropy")
_LOG_FLOOR = 1e-30  # Song & Mittal's `_log_value` floor: log(max(p, 1e-30)), so p = 0 stays finite


def _probs(logits) -> torch.Tensor:
    return logits.double().softmax(1)


def _correctness(logits, y) -> np.ndarray:
    """1.0 where argmax = label, else 0.0 (the reference's `correctness`)."""
    return (logits.argmax(1) == torch.as_tensor(y).cpu().long()).double().numpy()


def _entropy(logits, y=None) -> np.ndarray:
    """Shannon entropy of the softmax, −Σ_i p_i log p_i with 0·log 0 = 0 (the reference's `entropy`).
    The label is not used."""
    p = _probs(logits)
    return -torch.where(p > 0, p * p.log(), p.new_zeros(())).sum(1).numpy()


def _modified_entropy(logits, y) -> np.ndarray:
    """Song & Mittal's modified entropy (USENIX Security 2021, "Systematic Evaluation of Privacy
    Risks of Machine Learning Models"; their code's `_m_entr_comp`):

        Mentr(p, y) = −(1 − p_y)·log p_y − Σ_{i≠y} p_i·log(1 − p_i),   log floored at 1e-30.

    It is low for a confident correct prediction and high for a confident wrong one, which plain
    entropy cannot tell apart. Not the reference file's `m_entropy`, which indexes the label column
    for every row (`[:, labels]`) and takes log p where log(1 − p) is meant
    (docs/metrics.md#reference-attack: it must never be reported); this is the published formula."""
    p = _probs(logits)
    y = torch.as_tensor(y).cpu().long().view(-1, 1)
    floor = torch.tensor(_LOG_FLOOR, dtype=p.dtype)
    log_p = torch.maximum(p, floor).log()
    log_rest = torch.maximum(1 - p, floor).log()
    # the label's term uses (1 − p_y)·log p_y, every other class p_i·log(1 − p_i)
    terms = (p * log_rest).scatter(1, y, ((1 - p.gather(1, y)) * log_p.gather(1, y)))
    return -terms.sum(1).numpy()


_FEATURES = {"confidence": _confidence, "correctness": _correctness, "entropy": _entropy,
             "modified_entropy": _modified_entropy}


def mia_feature(logits, y, feature: str = "confidence") -> np.ndarray:
    """One number per sample from the logits and (model-space) labels, for the SVC attack.

    The 1-D features of the reference attack (OPTML-Group/Unlearn-Sparse `evaluation/SVC_MIA.py`,
    `SVC_MIA`, also in Unlearn-Saliency `Classification/`), from ``p = softmax(logits)``:

    - ``confidence``: p[y], the reference's `confidence` and the project's MIA (docs/metrics.md#mia);
    - ``correctness``: 1 if argmax p = y else 0 (the reference's `correctness`);
    - ``entropy``: −Σ p log p (the reference's `entropy`);
    - ``modified_entropy``: Song & Mittal's m-entropy, the published formula rather than the
      reference's flawed `m_entropy` (see `_modified_entropy`).

    The reference's fifth entry, `prob` (the whole probability vector), is not a 1-D feature and is
    left out. NaN (a diverged model) is kept here; the attack counts it as 0, as for the MIA.
    """
    if feature not in _FEATURES:
        raise ValueError(f"unknown MIA feature {feature!r}; valid: {', '.join(MIA_FEATURES)}")
    if len(logits) == 0:
        return np.zeros(0)
    out = _FEATURES[feature](logits, y)
    if feature != "confidence":  # confidence: exactly the reported MIA's feature, NaN where p is NaN
        # a row whose softmax is not finite (a diverged model) has no feature: NaN, not e.g. the
        # argmax of NaNs or an entropy of 0
        out = np.where(torch.isfinite(_probs(logits)).all(1).numpy(), out, np.nan)
    return out


def _fit_attack(f_members, f_nonmembers) -> SVC:
    """The reference's shadow SVC on a 1-D feature: members label 1, non-members label 0."""
    x = np.nan_to_num(np.concatenate(
        [np.asarray(f_members, np.float64), np.asarray(f_nonmembers, np.float64)]
    ), nan=0.0)
    y = np.concatenate([np.ones(len(f_members)), np.zeros(len(f_nonmembers))])
    return SVC(C=3, gamma="auto", kernel="rbf").fit(x.reshape(-1, 1), y)


def _target(f_target) -> np.ndarray:
    # A diverged model (NaN logits, e.g. gradient ascent with too large a step) has no confidence
    # in anything: its NaN features count as 0 so the attack still gives an answer.
    return np.nan_to_num(np.asarray(f_target, dtype=np.float64), nan=0.0).reshape(-1, 1)


def _efficacy(clf: SVC, x_target: np.ndarray) -> float:
    return 100.0 * float(np.mean(clf.predict(x_target) == 0))


def mia_efficacy(conf_members, conf_nonmembers, conf_target) -> float:
    """100 × share of target samples the shadow SVC calls non-member.

    As in the reference: SVC(C=3, gamma="auto", kernel="rbf") on the raw 1-D feature (no scaling,
    no class weights; gamma="auto" is 1 for one feature), members label 1, non-members label 0.
    """
    x_target = _target(conf_target)
    if len(x_target) == 0:
        return float("nan")
    return _efficacy(_fit_attack(conf_members, conf_nonmembers), x_target)


def mia_attacks(model, sets: dict, features=MIA_FEATURES, device="cpu") -> dict[str, dict]:
    """:func:`mia_attack` for several features from one forward pass over each set."""
    logits = {k: predict(model, sets[k][0], device) for k in ("mia_members", "mia_nonmembers", "t")}
    out = {}
    for f in features:
        m, n, t = (mia_feature(logits[k], sets[k][1], f) for k in ("mia_members", "mia_nonmembers", "t"))
        clf = _fit_attack(m, n)
        x_target = _target(t)
        out[f] = {"feature": f, "svc": clf, "members": m, "nonmembers": n, "target": t,
                  "MIA": _efficacy(clf, x_target) if len(x_target) else float("nan")}
    return out


def mia_attack(model, sets: dict, feature: str = "confidence", device="cpu") -> dict:
    """The fitted MIA on D_t with one feature (:func:`mia_feature`): the same attack as the MIA of
    :func:`evaluate` (which is this with ``feature="confidence"``, to the last digit).

    ``sets`` as for :func:`evaluate` ("mia_members", "mia_nonmembers", "t"). Returns ``feature``;
    ``svc``, the fitted ``sklearn.svm.SVC`` (label 1 = member; ask ``svc.decision_function(v.reshape(-1,
    1))`` or ``svc.predict`` over any feature values ``v``; it has no ``predict_proba``: the reference
    fits without ``probability=True``); ``members``, ``nonmembers``, ``target``, the raw features
    (NaN kept; the fit counts NaN as 0); and ``MIA``, 100 × the share of D_t predicted non-member.
    """
    return mia_attacks(model, sets, (feature,), device)[feature]


# --- Gap -------------------------------------------------------------------------------------------


def gap(row: dict, retrained: dict) -> float:
    """Mean |metric − Retrained metric| over UA, RA, TA, MIA (after Jia et al., NeurIPS 2023)."""
    return float(np.mean([abs(row[k] - retrained[k]) for k in GAP_KEYS]))


@timing.stage("evaluation")
def evaluate(model, sets: dict, device="cpu") -> dict:
    """UA (D_t), RA (D_r), TA (test'), MIA (on D_t); FR_acc (D_fr) and UA_R (D_ar) when given.

    ``sets`` maps "t", "r", "test", "mia_members", "mia_nonmembers" (and optionally "fr", "ar")
    to ``(x_uint8, y_model_labels)`` tuples. With "mia_members_in_r" / "fr_in_t" (positions of those
    sets inside D_r / D_t, as runner.eval_sets gives them) their logits are taken from the D_r and
    D_t passes instead of a pass of their own, on the CPU only: there a sample's logits do not depend
    on the batch it is in (checked bit for bit at 1 and 2 threads on the default profile; tests/
    test_metrics.py), so the rows stay the ones a separate pass gives, and stored rows stay valid.
    On a GPU the convolution algorithm may change with the batch size, so every set gets its pass.
    """
    share = str(device).startswith("cpu")
    x_t, y_t = sets["t"]
    logits_t = predict(model, x_t, device)  # one pass serves UA, the MIA target feature and D_fr
    logits_r = predict(model, sets["r"][0], device)

    def part(name, whole, pos_key):
        if share and sets.get(pos_key) is not None:
            return whole[torch.as_tensor(sets[pos_key])]
        return predict(model, sets[name][0], device)

    members = part("mia_members", logits_r, "mia_members_in_r")
    out = {
        "UA": _accuracy(logits_t, y_t),
        "RA": _accuracy(logits_r, sets["r"][1]),
        "TA": accuracy(model, *sets["test"], device=device),
        "MIA": mia_efficacy(
            _confidence(members, sets["mia_members"][1]),
            confidence(model, *sets["mia_nonmembers"], device=device),
            _confidence(logits_t, y_t),
        ),
    }
    if sets.get("fr") is not None:
        out["FR_acc"] = _accuracy(part("fr", logits_t, "fr_in_t"), sets["fr"][1])
    if sets.get("ar") is not None:
        out["UA_R"] = accuracy(model, *sets["ar"], device=device)
    return out
