"""The paper's headline claims (docs/protocol.md#claims) as checks on a results table: C1–C7, holds or not.

:func:`evaluate` takes the long-form results (one row per scenario, method and seed, columns UA,
RA, TA, MIA, Gap, TIME_min; the paper's ``paper_table3.csv`` works too) and, for C7, the
identification summary of ``tarf.tarf_analysis.identification_summary``. Checks compare means over
seeds; :func:`per_seed` gives each claim's verdict on every seed alone. Every threshold is a field of :class:`Thresholds`. A check whose inputs are missing (a
scenario or method not run) is "n/a", never a silent pass.

| id | check (docs/protocol.md#claims) |
|----|----------------------|
| C1 | target & data mismatch: UA(FT) − UA(Retrained) ≥ c1_min_ua_gap |
| C2 | model mismatch: UA(Retrained) − UA(GA) ≥ c2_min_ua_gap |
| C3 | each mismatch scenario: Gap(TARF) − smallest baseline Gap ≤ c3_margin |
| C4 | target & data mismatch: UA(TARF) ≤ c4_max_ua and MIA(TARF) ≥ c4_min_mia |
| C5 | all matched: Gap(TARF) − smallest baseline Gap ≤ c5_margin |
| C6 | TIME(TARF) / TIME(FT) ≤ c6_max_vs_ft and TIME(TARF) / TIME(Retrained) ≤ c6_max_vs_retrained |
| C7 | K > 0: the identified groups equal the target groups of D_un (share of seeds with an exact match ≥ c7_min_exact) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .checks import NA, overall
from .checks import check as judge

MISMATCHES = ("target_mismatch", "model_mismatch", "data_mismatch")
HIDDEN = ("target_mismatch", "data_mismatch")  # K > 0: target data hidden in D_un
BASELINES = ("ft", "rl", "ga", "iu", "bs", "l1_sparse", "salun", "scrub")
CLAIMS = {
    "C1": "mismatch breaks class-wise unlearning: FT keeps the hidden target",
    "C2": "mismatch breaks class-wise unlearning: GA over-forgets in model mismatch",
    "C3": "TARF has the lowest Gap in every mismatch scenario",
    "C4": "TARF reaches Retrained's behaviour on the hidden target (UA small, MIA high)",
    "C5": "TARF is on par in all matched",
    "C6": "TARF costs about what FT costs, a fraction of retraining",
    "C7": "TARF's identification finds exactly the target groups",
}
COLUMNS = ["claim", "scenario", "check", "value", "rule", "holds"]


@dataclass
class Thresholds:
    c1_min_ua_gap: float = 25.0  # points
    c2_min_ua_gap: float = 30.0  # points
    c3_margin: float = 0.0  # Gap points above the best baseline still counted as lowest
    c4_max_ua: float = 5.0  # points
    c4_min_mia: float = 95.0  # points
    c5_margin: float = 1.0  # Gap points
    c6_max_vs_ft: float = 2.0  # TIME ratio
    c6_max_vs_retrained: float = 0.25  # TIME ratio
    c7_min_exact: float = 1.0  # share of seeds whose identified groups equal the target groups


def means(results: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (scenario, method) of the numeric metric columns."""
    cols = [c for c in ("UA", "RA", "TA", "MIA", "Gap", "TIME_min") if c in results.columns]
    return results.groupby(["scenario", "method"])[cols].mean()


def _row(claim, scenario, check, value, op, threshold) -> dict:
    return {"claim": claim, "scenario": scenario, "check": check, **judge(value, op, threshold)}


def _get(m: pd.DataFrame, scenario: str, method: str, metric: str) -> float:
    try:
        return float(m.loc[(scenario, method), metric])
    except KeyError:
        return float("nan")


def _best_baseline(m: pd.DataFrame, scenario: str) -> tuple[float, str]:
    gaps = {b: _get(m, scenario, b, "Gap") for b in BASELINES}
    gaps = {b: g for b, g in gaps.items() if np.isfinite(g)}
    if not gaps:
        return float("nan"), "-"
    best = min(gaps, key=lambda b: (gaps[b], b))
    return gaps[best], best


def evaluate(results: pd.DataFrame, identification: pd.DataFrame | None = None,
             th: Thresholds | None = None) -> pd.DataFrame:
    """One row per check: claim, scenario, check, value (full precision), rule, holds
    ("holds" / "does not hold" / "n/a")."""
    th = th or Thresholds()
    m = means(results)
    rows = []
    for s in HIDDEN:
        rows.append(_row("C1", s, "UA(FT) - UA(Retrained)",
                         _get(m, s, "ft", "UA") - _get(m, s, "retrained", "UA"), ">=", th.c1_min_ua_gap))
    s = "model_mismatch"
    rows.append(_row("C2", s, "UA(Retrained) - UA(GA)",
                     _get(m, s, "retrained", "UA") - _get(m, s, "ga", "UA"), ">=", th.c2_min_ua_gap))
    for s in MISMATCHES:
        best, who = _best_baseline(m, s)
        rows.append(_row("C3", s, f"Gap(TARF) - Gap(best baseline: {who})",
                         _get(m, s, "tarf", "Gap") - best, "<=", th.c3_margin))
    for s in HIDDEN:
        rows.append(_row("C4", s, "UA(TARF)", _get(m, s, "tarf", "UA"), "<=", th.c4_max_ua))
        rows.append(_row("C4", s, "MIA(TARF)", _get(m, s, "tarf", "MIA"), ">=", th.c4_min_mia))
    s = "all_matched"
    best, who = _best_baseline(m, s)
    rows.append(_row("C5", s, f"Gap(TARF) - Gap(best baseline: {who})",
                     _get(m, s, "tarf", "Gap") - best, "<=", th.c5_margin))
    for s in ("all_matched", *MISMATCHES):
        t = _get(m, s, "tarf", "TIME_min")
        rows.append(_row("C6", s, "TIME(TARF) / TIME(FT)", t / _get(m, s, "ft", "TIME_min"), "<=", th.c6_max_vs_ft))
        rows.append(_row("C6", s, "TIME(TARF) / TIME(Retrained)", t / _get(m, s, "retrained", "TIME_min"),
                         "<=", th.c6_max_vs_retrained))
    if identification is not None and len(identification):
        for s, g in identification.groupby("scenario", sort=False):
            rows.append(_row("C7", s, "share of seeds: identified = target groups",
                             g["exact"].astype(float).mean(), ">=", th.c7_min_exact))
    else:
        rows.append(_row("C7", "-", "identified = target groups (no identification data)", None, ">=",
                         th.c7_min_exact))
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out[out["scenario"].isin(set(results["scenario"])) | (out["scenario"] == "-")].reset_index(drop=True)


def per_seed(results: pd.DataFrame, identification: pd.DataFrame | None = None,
             th: Thresholds | None = None) -> pd.DataFrame:
    """Each claim's verdict on each seed alone: rows claim, one column per seed."""
    cols = {}
    for seed in sorted(results["seed"].unique()):
        ident = None
        if identification is not None and len(identification):
            ident = identification[identification["seed"] == seed]
        v = verdicts(evaluate(results[results["seed"] == seed], ident, th))
        cols[f"seed {seed}"] = v.set_index("claim")["verdict"]
    return pd.DataFrame(cols).rename_axis("claim")


def verdicts(table: pd.DataFrame, claims=None, seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim (all, or ``claims``): holds if every applicable check holds, n/a if none
    applies. With ``seeds`` (:func:`per_seed`), a column "per seed" counts the seeds on which the claim
    holds alone, e.g. "2/3 seeds" (n/a seeds left out of the count)."""
    rows = []
    for c, text in CLAIMS.items():
        if claims is not None and c not in claims:
            continue
        word, ok, n = overall(table.loc[table["claim"] == c, "holds"])
        row = {"claim": c, "paper claim": text, "checks": f"{ok}/{n}", "verdict": word}
        if seeds is not None and c in seeds.index:
            _, ok, n = overall(seeds.loc[c])
            row["per seed"] = f"{ok}/{n} seeds" if n else NA
        rows.append(row)
    return pd.DataFrame(rows)


def export(table: pd.DataFrame, profile: str, n_seeds: int, seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """results/<profile>/claims.{csv,md,tex}: every claim's verdict on the means with its check count,
    the number of seeds behind it and (``seeds``, :func:`per_seed`) on how many seeds it holds alone
    (the README's verdict table, via make readme)."""
    from .report import export as export_table

    out = verdicts(table, seeds=seeds).assign(seeds=n_seeds)
    export_table(out, "claims", profile)
    return out


def printable(table: pd.DataFrame, claims=None, exclude=()) -> str:
    """The checks as text, values rounded to 2 decimals (only ``claims`` if given, minus ``exclude``)."""
    t = table
    if claims is not None:
        t = t[t["claim"].isin(claims)]
    t = t[~t["claim"].isin(exclude)]
    return t.assign(value=t["value"].round(2)).to_string(index=False)


def on_paper(th: Thresholds | None = None, claims=None) -> pd.DataFrame:
    """The same checks on the paper's own Table 3 numbers, one verdict column per data set: a
    calibration of the checks (C1–C6 should hold there; C7 has no paper data and is n/a)."""
    from .table3 import PAPER_DATASETS, paper_table3

    cols = {}
    for ds in PAPER_DATASETS:
        v = verdicts(evaluate(paper_table3(ds), None, th), claims)
        cols[ds] = v.set_index("claim")["verdict"]
    return pd.DataFrame(cols).rename_axis("claim").reset_index()


__all__ = ["CLAIMS", "Thresholds", "evaluate", "export", "means", "on_paper", "per_seed", "printable", "verdicts"]
