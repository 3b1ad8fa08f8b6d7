"""The paper's headline claims (docs/protocol.md#claims) as checks on a results table: C1–C7.

:func:`evaluate` takes the long-form results (one row per scenario, method and seed, columns UA,
RA, TA, MIA, Gap, TIME_min; the paper's ``paper_table3.csv`` works too) and, for C7, the
identification summary of ``tarf.tarf_analysis.identification_summary``. Each check is judged on
its per-seed values, paired where it compares methods, with a 90% t interval over the seeds
(tarf.checks; docs/protocol.md#how-sure-a-verdict-is): holds, does not hold, undecided, or holds
(tied) for C3's lowest Gap; ``level=None`` judges the means as points (the paper's own numbers).
:func:`per_seed` gives each claim's point verdict on every seed alone. Every threshold is a field
of :class:`Thresholds`. A check whose inputs are missing (a scenario or method not run) is "n/a",
never a silent pass.

| id | check (docs/protocol.md#claims) |
|----|----------------------|
| C1 | target & data mismatch: UA(FT) − UA(Retrained) ≥ c1_min_ua_gap |
| C2 | model mismatch: UA(Retrained) − UA(GA) ≥ c2_min_ua_gap |
| C3 | each mismatch scenario: Gap(TARF) − smallest baseline Gap ≤ c3_margin (tied for lowest counts) |
| C4 | target & data mismatch: UA(TARF) ≤ c4_max_ua and MIA(TARF) ≥ c4_min_mia |
| C5 | all matched: Gap(TARF) − smallest baseline Gap ≤ c5_margin |
| C6 | TIME(TARF) / TIME(FT) ≤ c6_max_vs_ft and TIME(TARF) / TIME(Retrained) ≤ c6_max_vs_retrained |
| C7 | K > 0: the identified groups equal the target groups of D_un (share of seeds with an exact match ≥ c7_min_exact) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .checks import LEVEL, NA, TIED, UNDECIDED, judge, overall, seeds_to_decide, shown, tied

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
COLUMNS = ["claim", "scenario", "check", "value", "half_width", "n", "rule", "holds", "seeds_to_decide"]
ORIGINAL = "original"  # takes part in the ties, never a baseline


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


def _row(claim, scenario, check, values, op, threshold, level, tie=False) -> dict:
    row = judge(values, op, threshold, level, tie)
    # how many seeds would decide it, if the per-seed mean and SD stayed (docs: three seeds enough?)
    need = seeds_to_decide(values, threshold) if row["holds"] in (UNDECIDED, TIED) else None
    return {"claim": claim, "scenario": scenario, "check": check, **row, "seeds_to_decide": need}


def _seeds(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` with one row per seed and one column per (scenario, method) (NaN where not run)."""
    results = results if "seed" in results else results.assign(seed=0)  # the paper's table: one number
    if metric not in results:
        return pd.DataFrame(index=sorted(results["seed"].unique()))
    return results.pivot_table(index="seed", columns=["scenario", "method"], values=metric, aggfunc="mean",
                               dropna=False)


def _get(w: pd.DataFrame, scenario: str, method: str) -> pd.Series:
    """Per-seed values of one (scenario, method); all NaN when it was not run."""
    if (scenario, method) in w.columns:
        return w[(scenario, method)]
    return pd.Series(np.nan, index=w.index)


def _best_baseline(gap: pd.DataFrame, scenario: str) -> tuple[pd.Series, str]:
    means = {b: _get(gap, scenario, b).mean() for b in BASELINES}
    means = {b: g for b, g in means.items() if np.isfinite(g)}
    if not means:
        return pd.Series(np.nan, index=gap.index), "-"
    best = min(means, key=lambda b: (means[b], b))
    return _get(gap, scenario, best), best


def _tie_text(gap: pd.DataFrame, scenario: str, level) -> str:
    """Who is tied for the lowest Gap in ``scenario`` (baselines, TARF and the Original)."""
    cands = pd.DataFrame({m: _get(gap, scenario, m) for m in (*BASELINES, "tarf", ORIGINAL)})
    # judged as points: one row of means, so only the lowest
    who = tied(cands if level is not None else cands.mean().to_frame().T, level or LEVEL)
    if not who:
        return ""
    text = f"; tied for lowest: {', '.join(who)}"
    return text + (" (doing nothing is as good here)" if ORIGINAL in who else "")


def _readout(g: pd.DataFrame) -> str:
    """C7's read-out, and the paper's (the accuracy drop) on the same Phase I beside it."""
    used = sorted(set(map(str, g["score"]))) if "score" in g else []
    parts = [f"read-out: {', '.join(used)}"] if used else []
    if "exact_acc_drop" in g and g["exact_acc_drop"].notna().any() and used != ["acc_drop"]:
        paper = g["exact_acc_drop"].dropna().astype(bool)
        parts.append(f"the paper's accuracy drop: {int(paper.sum())}/{len(paper)} seeds exact")
    return f" ({'; '.join(parts)})" if parts else ""


def evaluate(results: pd.DataFrame, identification: pd.DataFrame | None = None,
             th: Thresholds | None = None, level: float | None = LEVEL) -> pd.DataFrame:
    """One row per check: claim, scenario, check, value (the mean of the per-seed values, full
    precision), half_width (of its ``level`` interval), n (seeds), rule, holds ("holds" / "holds
    (tied)" / "does not hold" / "undecided" / "n/a"), seeds_to_decide (an undecided or tied check:
    the fewest seeds that would decide it if the per-seed mean and SD stayed; empty when more than
    100 or no spread); ``level`` None: the means as points."""
    th = th or Thresholds()
    ua, mia, gap, time = (_seeds(results, k) for k in ("UA", "MIA", "Gap", "TIME_min"))
    rows = []
    for s in HIDDEN:
        rows.append(_row("C1", s, "UA(FT) - UA(Retrained)", _get(ua, s, "ft") - _get(ua, s, "retrained"),
                         ">=", th.c1_min_ua_gap, level))
    s = "model_mismatch"
    rows.append(_row("C2", s, "UA(Retrained) - UA(GA)", _get(ua, s, "retrained") - _get(ua, s, "ga"),
                     ">=", th.c2_min_ua_gap, level))
    for s in MISMATCHES:
        best, who = _best_baseline(gap, s)
        rows.append(_row("C3", s, f"Gap(TARF) - Gap(best baseline: {who}){_tie_text(gap, s, level)}",
                         _get(gap, s, "tarf") - best, "<=", th.c3_margin, level, tie=True))
    for s in HIDDEN:
        rows.append(_row("C4", s, "UA(TARF)", _get(ua, s, "tarf"), "<=", th.c4_max_ua, level))
        rows.append(_row("C4", s, "MIA(TARF)", _get(mia, s, "tarf"), ">=", th.c4_min_mia, level))
    s = "all_matched"
    best, who = _best_baseline(gap, s)
    rows.append(_row("C5", s, f"Gap(TARF) - Gap(best baseline: {who}){_tie_text(gap, s, level)}",
                     _get(gap, s, "tarf") - best, "<=", th.c5_margin, level))
    for s in ("all_matched", *MISMATCHES):
        t = _get(time, s, "tarf")
        rows.append(_row("C6", s, "TIME(TARF) / TIME(FT)", t / _get(time, s, "ft"), "<=", th.c6_max_vs_ft, level))
        rows.append(_row("C6", s, "TIME(TARF) / TIME(Retrained)", t / _get(time, s, "retrained"),
                         "<=", th.c6_max_vs_retrained, level))
    # C7 is a count of exact identifications over seeds, judged as a point (docs: counts)
    if identification is not None and len(identification):
        for s, g in identification.groupby("scenario", sort=False):
            rows.append(_row("C7", s, f"share of seeds: identified = target groups{_readout(g)}",
                             [g["exact"].astype(float).mean()], ">=", th.c7_min_exact, None))
    else:
        rows.append(_row("C7", "-", "identified = target groups (no identification data)", [], ">=",
                         th.c7_min_exact, None))
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out[out["scenario"].isin(set(results["scenario"])) | (out["scenario"] == "-")].reset_index(drop=True)


def per_seed(results: pd.DataFrame, identification: pd.DataFrame | None = None,
             th: Thresholds | None = None) -> pd.DataFrame:
    """Each claim's point verdict on each seed alone: rows claim, one column per seed."""
    cols = {}
    for seed in sorted(results["seed"].unique()):
        ident = None
        if identification is not None and len(identification):
            ident = identification[identification["seed"] == seed]
        v = verdicts(evaluate(results[results["seed"] == seed], ident, th, level=None))
        cols[f"seed {seed}"] = v.set_index("claim")["verdict"]
    return pd.DataFrame(cols).rename_axis("claim")


def verdicts(table: pd.DataFrame, claims=None, seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per claim (all, or ``claims``): its checks' values ± their intervals ("value ± 90%
    CI", one per check, scenario first), how many applicable checks hold, the verdict (tarf.checks:
    overall) and, with ``seeds`` (:func:`per_seed`), a column "per seed" counting the seeds on which
    the claim holds alone, e.g. "2/3 seeds" (n/a seeds left out of the count)."""
    rows = []
    for c, text in CLAIMS.items():
        if claims is not None and c not in claims:
            continue
        t = table.loc[table["claim"] == c]
        word, ok, n = overall(t["holds"])
        parts = [f"{_short(r['scenario'])}: {shown(r['value'], r.get('half_width', np.nan))}"
                 for _, r in t.iterrows() if r["holds"] != NA]
        row = {"claim": c, "paper claim": text, "value ± 90% CI": "; ".join(parts) or "-",
               "checks": f"{ok}/{n}", "verdict": word}
        if seeds is not None and c in seeds.index:
            _, ok, n = overall(seeds.loc[c])
            row["per seed"] = f"{ok}/{n} seeds" if n else NA
        rows.append(row)
    return pd.DataFrame(rows)


def _short(scenario: str) -> str:
    """target_mismatch -> target, all_matched -> all matched."""
    return scenario.replace("_mismatch", "").replace("_", " ")


def export(table: pd.DataFrame, profile: str, n_seeds: int, seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """results/<profile>/claims.{csv,md,tex}: every claim's verdict on the means with its check count,
    the number of seeds behind it and (``seeds``, :func:`per_seed`) on how many seeds it holds alone
    (the README's verdict table, via make readme)."""
    from .report import export as export_table

    out = verdicts(table, seeds=seeds).assign(seeds=n_seeds)
    export_table(out, "claims", profile)
    return out


def printable(table: pd.DataFrame, claims=None, exclude=()) -> str:
    """The checks as text, each value with its interval (``value ± half``, 2 decimals) and the number
    of seeds (only ``claims`` if given, minus ``exclude``)."""
    t = table
    if claims is not None:
        t = t[t["claim"].isin(claims)]
    t = t[~t["claim"].isin(exclude)]
    shownv = [shown(v, h) for v, h in zip(t["value"], t["half_width"])]
    need = ["-" if pd.isna(x) else str(int(x)) for x in t["seeds_to_decide"]]
    return (t.assign(**{"value ± 90% CI": shownv, "seeds to decide": need})
            [["claim", "scenario", "check", "value ± 90% CI", "n", "rule", "holds", "seeds to decide"]]
            .rename(columns={"n": "seeds"}).to_string(index=False))


def on_paper(th: Thresholds | None = None, claims=None) -> pd.DataFrame:
    """The same checks on the paper's own Table 3 numbers, one verdict column per data set: a
    calibration of the checks (C1–C6 should hold there; C7 has no paper data and is n/a). The paper
    gives single numbers, so they are judged as points."""
    from .table3 import PAPER_DATASETS, paper_table3

    cols = {}
    for ds in PAPER_DATASETS:
        v = verdicts(evaluate(paper_table3(ds), None, th, level=None), claims)
        cols[ds] = v.set_index("claim")["verdict"]
    return pd.DataFrame(cols).rename_axis("claim").reset_index()


__all__ = ["CLAIMS", "Thresholds", "evaluate", "export", "means", "on_paper", "per_seed", "printable", "verdicts"]
