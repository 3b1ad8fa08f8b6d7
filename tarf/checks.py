"""One vocabulary for every verdict in the companion: the observations' checks (notebooks 03–09) and
the paper's claims (notebook 10, README) are rows ``value  rule  holds`` judged here.

A check holds, does not hold, or is n/a when its value is not a finite number (a missing scenario,
a metric that cannot be computed on this profile). An n/a check is shown but never counted: a
verdict is n/a when no check applies, else holds when every applicable check holds
(docs/protocol.md#claims).
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

HOLDS, FAILS, NA = "holds", "does not hold", "n/a"
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


def check(value, op: str, threshold: float) -> dict:
    """``value op threshold`` as a row: the value (float), the rule as text and the outcome."""
    if op not in OPS:
        raise ValueError(f"op={op!r}: valid are {', '.join(OPS)}")
    value = float("nan") if value is None else float(value)
    holds = NA if not np.isfinite(value) else HOLDS if OPS[op](value, threshold) else FAILS
    return {"value": value, "rule": f"{op} {threshold:.2f}", "holds": holds}


def outcome(ok: bool) -> str:
    """A check that is a yes/no fact rather than a number against a threshold."""
    return HOLDS if ok else FAILS


def overall(holds) -> tuple[str, int, int]:
    """(verdict, applicable checks that hold, applicable checks) for a column of outcomes."""
    h = pd.Series(list(holds), dtype=object)
    h = h[h != NA]
    ok = int((h == HOLDS).sum())
    return (NA if h.empty else HOLDS if ok == len(h) else FAILS), ok, len(h)


__all__ = ["FAILS", "HOLDS", "NA", "OPS", "check", "outcome", "overall"]
