"""One vocabulary for every verdict in the companion: the observations' checks (notebooks 03–09) and
the paper's claims (notebook 10, README) are rows ``value ± half_width  rule  holds`` judged here.

The rule (docs/protocol.md#how-sure-a-verdict-is): a check's quantity is computed on each seed
alone (paired where it compares two methods); its mean over the n seeds gets a two-sided ``LEVEL``
(90%) Student-t interval. The check **holds** when the whole interval satisfies the rule, **does not
hold** when the whole interval violates it, and is **undecided** when the interval contains the
threshold or fewer than two seeds give a value; it is **n/a** when no seed gives a finite value. A
"lowest" check whose interval contains its threshold **holds (tied)**. :func:`check` judges one
number as a point (the paper's own table, one seed's verdict, a count).

A verdict over checks (:func:`overall`): n/a when no check applies, does not hold when any applicable
check does not hold, holds when every one holds (holds (tied) when a tie is among them), undecided
otherwise. :func:`seeds_to_decide` says how many seeds would decide an undecided check.
"""

from __future__ import annotations

import math
import operator

import numpy as np
import pandas as pd
from scipy import stats

HOLDS, FAILS, NA = "holds", "does not hold", "n/a"
UNDECIDED, TIED = "undecided", "holds (tied)"
LEVEL = 0.90  # two-sided: each direction a one-sided test at 5%
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
PASSING = (HOLDS, TIED)


def _rule(op: str, threshold: float) -> str:
    if op not in OPS:
        raise ValueError(f"op={op!r}: valid are {', '.join(OPS)}")
    return f"{op} {threshold:.2f}"


def check(value, op: str, threshold: float) -> dict:
    """``value op threshold`` judged as a point: the value (float), the rule as text and the outcome."""
    rule = _rule(op, threshold)
    value = float("nan") if value is None else float(value)
    holds = NA if not np.isfinite(value) else HOLDS if OPS[op](value, threshold) else FAILS
    return {"value": value, "half_width": float("nan"), "n": 1 if np.isfinite(value) else 0,
            "rule": rule, "holds": holds}


def interval(values, level: float = LEVEL) -> tuple[float, float, int]:
    """(mean, half-width, n) of the finite ``values``: mean ± t·s/√n, t the (1 + level)/2 quantile
    of Student's t with n − 1 degrees of freedom; half-width NaN below two values, 0 if they agree."""
    v = np.asarray([x for x in np.asarray(values, dtype=float).ravel() if np.isfinite(x)])
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(v[0]), float("nan"), 1
    s = float(np.std(v, ddof=1))
    return float(v.mean()), float(stats.t.ppf((1 + level) / 2, n - 1) * s / math.sqrt(n)), n


def check_seeds(values, op: str, threshold: float, level: float = LEVEL, tie: bool = False) -> dict:
    """Per-seed ``values`` against ``op threshold`` with the interval rule (module docstring).
    ``tie``: a straddle means "tied" (a lowest-Gap check), so it holds (tied) instead of undecided."""
    rule = _rule(op, threshold)
    if op == "==":
        raise ValueError("op='==': an interval cannot equal a threshold; judge the value with check()")
    mean, half, n = interval(values, level)
    row = {"value": mean, "half_width": half, "n": n, "rule": rule}
    if n == 0:
        return {**row, "holds": NA}
    if n == 1:
        return {**row, "holds": UNDECIDED}
    lo, hi = mean - half, mean + half
    if op in (">=", ">"):
        ok, bad = OPS[op](lo, threshold), not OPS[op](hi, threshold)
    else:
        ok, bad = OPS[op](hi, threshold), not OPS[op](lo, threshold)
    return {**row, "holds": HOLDS if ok else FAILS if bad else TIED if tie else UNDECIDED}


def judge(values, op: str, threshold: float, level: float | None = LEVEL, tie: bool = False) -> dict:
    """:func:`check_seeds` of ``values``, or with ``level`` None :func:`check` of their mean (points)."""
    if level is None:
        v = [x for x in np.asarray(values, dtype=float).ravel() if np.isfinite(x)]
        return check(np.mean(v) if v else None, op, threshold)
    return check_seeds(values, op, threshold, level, tie)


def tied(values: pd.DataFrame, level: float = LEVEL) -> list[str]:
    """The columns of ``values`` (one row per seed, one column per method, e.g. Gap) tied for the
    lowest mean: the lowest, and each whose paired difference to it has an interval containing 0
    (with one seed, or judged as points, only the lowest). Ordered by mean."""
    cols = [c for c in values.columns if values[c].notna().any()]
    if not cols:
        return []
    means = values[cols].mean().sort_values(kind="stable")
    best = means.index[0]
    out = []
    for c in means.index:
        mean, half, n = interval((values[c] - values[best]).to_numpy(), level)
        if c == best or (n >= 2 and np.isfinite(half) and mean - half <= 0):
            out.append(c)
    return out


def outcome(ok: bool) -> str:
    """A check that is a yes/no fact rather than a number against a threshold."""
    return HOLDS if ok else FAILS


def overall(holds) -> tuple[str, int, int]:
    """(verdict, applicable checks that hold, applicable checks) for a column of outcomes."""
    h = pd.Series(list(holds), dtype=object)
    h = h[h != NA]
    ok = int(h.isin(PASSING).sum())
    if h.empty:
        return NA, 0, 0
    word = (FAILS if (h == FAILS).any() else UNDECIDED if ok < len(h)
            else TIED if (h == TIED).any() else HOLDS)
    return word, ok, len(h)


def seeds_to_decide(values, threshold: float, level: float = LEVEL, most: int = 100) -> int | None:
    """The fewest seeds whose interval would exclude ``threshold`` if the per-seed mean and SD stayed
    what ``values`` show (None: more than ``most``, or no spread to go by)."""
    v = np.asarray([x for x in np.asarray(values, dtype=float).ravel() if np.isfinite(x)])
    if len(v) < 2:
        return None
    mean, s = float(v.mean()), float(np.std(v, ddof=1))
    if s == 0:
        return len(v) if mean != threshold else None
    for n in range(2, most + 1):
        if stats.t.ppf((1 + level) / 2, n - 1) * s / math.sqrt(n) < abs(mean - threshold):
            return n
    return None


def shown(value: float, half: float, digits: int = 2) -> str:
    """``value ± half`` as text (the value alone without an interval, "-" if not finite)."""
    value, half = float(value), float(half)
    if not np.isfinite(value):
        return "-"
    return f"{value:.{digits}f}" + (f" ± {half:.{digits}f}" if np.isfinite(half) else "")


__all__ = ["FAILS", "HOLDS", "LEVEL", "NA", "OPS", "TIED", "UNDECIDED", "check", "check_seeds", "interval",
           "judge", "outcome", "overall", "seeds_to_decide", "shown", "tied"]
