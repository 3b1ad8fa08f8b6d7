"""The headline-claim checks C1–C7 (docs/protocol.md#claims) on constructed tables with known verdicts."""

import numpy as np
import pandas as pd
import pytest

from tarf import claims
from tarf.checks import FAILS, HOLDS, NA, TIED, UNDECIDED

SCEN = ("all_matched", "target_mismatch", "model_mismatch", "data_mismatch")
BASE = ("ft", "rl", "ga", "iu", "bs", "l1_sparse", "salun", "scrub")


def _results(seeds=(0, 1, 2)) -> pd.DataFrame:
    """A table on which every claim holds with the default thresholds, beyond seed noise (TARF's Gap
    2.0-2.2 against the best baseline's 5.0 on every seed; the rest the same on every seed)."""
    rows = []
    for seed in seeds:
        for s in SCEN:
            ret_ua = 90.0 if s == "model_mismatch" else 0.0
            rows.append({"scenario": s, "method": "retrained", "seed": seed, "UA": ret_ua, "RA": 99.0, "TA": 94.0,
                         "MIA": 100.0, "Gap": np.nan, "TIME_min": 40.0})
            for i, m in enumerate(BASE):
                ua = {"ft": 60.0 if s in ("target_mismatch", "data_mismatch") else ret_ua,
                      "ga": 10.0 if s == "model_mismatch" else ret_ua}.get(m, ret_ua)
                rows.append({"scenario": s, "method": m, "seed": seed, "UA": ua, "RA": 97.0, "TA": 92.0,
                             "MIA": 90.0, "Gap": 5.0 + i, "TIME_min": 4.0 + 0.1 * i})
            rows.append({"scenario": s, "method": "tarf", "seed": seed, "UA": 1.0 if ret_ua == 0 else 88.0,
                         "RA": 98.0, "TA": 93.0, "MIA": 99.0, "Gap": 2.0 + 0.1 * seed, "TIME_min": 4.2})
            rows.append({"scenario": s, "method": "original", "seed": seed, "UA": 100.0, "RA": 99.0, "TA": 94.0,
                         "MIA": 0.0, "Gap": 40.0, "TIME_min": 0.0})
    return pd.DataFrame(rows)


def _ident(exact=(True, True)) -> pd.DataFrame:
    return pd.DataFrame([{"scenario": s, "seed": 0, "exact": e} for s, e in zip(("target_mismatch", "data_mismatch"), exact)])


def _holds(table, claim):
    return set(table.loc[table["claim"] == claim, "holds"])


def test_everything_holds_on_the_constructed_table():
    t = claims.evaluate(_results(), _ident())
    assert set(t["holds"]) == {HOLDS}, t.to_string()
    assert list(t.columns) == claims.COLUMNS
    v = claims.verdicts(t)
    assert list(v["claim"]) == [f"C{i}" for i in range(1, 8)]
    assert set(v["verdict"]) == {HOLDS}
    # C3: the mean of the paired per-seed differences (TARF 2.0, 2.1, 2.2 vs FT's 5.0) ± its interval
    c3 = t[(t["claim"] == "C3") & (t["scenario"] == "target_mismatch")].iloc[0]
    assert c3["value"] == pytest.approx(-2.9) and "ft" in c3["check"] and c3["n"] == 3
    assert c3["half_width"] == pytest.approx(2.919986 * 0.1 / np.sqrt(3), rel=1e-5)
    assert c3["check"].endswith("tied for lowest: tarf")


@pytest.mark.parametrize("claim, method, scenario, col, val", [
    ("C1", "ft", "data_mismatch", "UA", 10.0),  # FT forgets the hidden target: no miss
    ("C2", "ga", "model_mismatch", "UA", 80.0),  # GA keeps the affected data: no over-forgetting
    ("C4", "tarf", "target_mismatch", "MIA", 50.0),  # TARF's MIA far from Retrained's
    ("C4", "tarf", "data_mismatch", "UA", 6.0),  # just above the 5-point UA threshold
])
def test_one_broken_claim_fails_alone(claim, method, scenario, col, val):
    df = _results()
    df.loc[(df.method == method) & (df.scenario == scenario), col] = val
    v = claims.verdicts(claims.evaluate(df, _ident())).set_index("claim")["verdict"]
    assert v[claim] == FAILS
    assert set(v.drop(claim)) == {HOLDS}


def test_gap_claims_c3_c5_and_margins():
    df = _results()
    df.loc[(df.method == "tarf") & (df.scenario == "model_mismatch"), "Gap"] = 5.5  # FT has 5.0
    df.loc[(df.method == "tarf") & (df.scenario == "all_matched"), "Gap"] = 5.9  # within 1 of FT's 5.0
    t = claims.evaluate(df, _ident())
    c3 = t[t["claim"] == "C3"].set_index("scenario")["holds"]
    assert c3["model_mismatch"] == FAILS and c3["target_mismatch"] == HOLDS
    assert _holds(t, "C5") == {HOLDS}
    t = claims.evaluate(df, _ident(), claims.Thresholds(c3_margin=0.6, c5_margin=0.5))
    assert _holds(t, "C3") == {HOLDS} and _holds(t, "C5") == {FAILS}


def test_time_claim_c6():
    df = _results()
    df.loc[(df.method == "tarf") & (df.scenario == "all_matched"), "TIME_min"] = 12.0  # 3 × FT, 0.3 × Retrained
    t = claims.evaluate(df, _ident())
    c6 = t[(t["claim"] == "C6") & (t["scenario"] == "all_matched")]
    assert list(c6["holds"]) == [FAILS, FAILS]
    assert list(c6["value"].round(2)) == [3.0, 0.3]
    t = claims.evaluate(df, _ident(), claims.Thresholds(c6_max_vs_ft=3.5, c6_max_vs_retrained=0.5))
    assert _holds(t, "C6") == {HOLDS}


def test_identification_claim_c7():
    t = claims.evaluate(_results(), _ident((True, False)))
    c7 = t[t["claim"] == "C7"].set_index("scenario")
    assert c7.loc["target_mismatch", "holds"] == HOLDS and c7.loc["data_mismatch", "holds"] == FAILS
    two_seeds = pd.DataFrame({"scenario": ["target_mismatch"] * 2, "seed": [0, 1], "exact": [True, False]})
    t = claims.evaluate(_results(), two_seeds, claims.Thresholds(c7_min_exact=0.5))
    assert t.loc[t["claim"] == "C7", "value"].tolist() == [0.5] and _holds(t, "C7") == {HOLDS}
    v = claims.verdicts(claims.evaluate(_results(), None)).set_index("claim")["verdict"]
    assert v["C7"] == NA


def test_missing_inputs_are_not_applicable_never_a_pass():
    df = _results()
    df = df[df["method"] != "ft"]
    t = claims.evaluate(df, _ident())
    assert _holds(t, "C1") == {NA}
    assert claims.verdicts(t).set_index("claim").loc["C1", "verdict"] == NA
    only = _results()[lambda d: d["scenario"] == "all_matched"]
    t = claims.evaluate(only, None)
    assert set(t["scenario"]) <= {"all_matched", "-"}  # scenarios not run give no rows


def test_printable_rounds_and_filters():
    t = claims.evaluate(_results(), _ident())
    text = claims.printable(t, exclude=("C6",))
    assert "C6" not in text and "C7" in text and "-2.90 ± 0.17" in text
    assert "C1" not in claims.printable(t, claims=("C6",))


def test_claims_hold_on_the_papers_own_numbers():
    v = claims.on_paper()
    assert list(v.columns) == ["claim", "cifar10", "cifar100"]
    got = v.set_index("claim")
    assert set(got.loc["C1":"C6"].to_numpy().ravel()) == {HOLDS}
    assert set(got.loc["C7"]) == {NA}


def test_per_seed_verdicts_count_the_seeds_that_hold_alone():
    """C4 fails on seed 1 alone (TARF UA 12 there) but holds on the mean over three seeds (UA 4.67);
    C3 holds on every seed. The per-seed column counts each seed's own verdict."""
    df = _results((0, 1, 2))
    df.loc[(df.method == "tarf") & (df.scenario == "data_mismatch") & (df.seed == 1), "UA"] = 12.0
    ident = pd.DataFrame([{"scenario": s, "seed": seed, "exact": not (seed == 2 and s == "target_mismatch")}
                          for seed in (0, 1, 2) for s in ("target_mismatch", "data_mismatch")])
    per = claims.per_seed(df, ident)
    assert list(per.columns) == ["seed 0", "seed 1", "seed 2"]
    assert per.loc["C4"].tolist() == [HOLDS, FAILS, HOLDS]
    assert per.loc["C7"].tolist() == [HOLDS, HOLDS, FAILS]
    v = claims.verdicts(claims.evaluate(df, ident), seeds=per).set_index("claim")
    # mean UA (1 + 12 + 1) / 3 = 4.67 ≤ 5, but its interval (4.67 ± 10.71) contains 5: undecided
    assert v.loc["C4", "verdict"] == UNDECIDED
    assert v.loc["C4", "per seed"] == "2/3 seeds" and v.loc["C3", "per seed"] == "3/3 seeds"
    assert v.loc["C7", "per seed"] == "2/3 seeds" and v.loc["C7", "verdict"] == FAILS


# --- the interval rule on hand-made tables (docs/protocol.md#how-sure-a-verdict-is) --------------


def _c3(df, scenario="model_mismatch"):
    t = claims.evaluate(df, _ident())
    return t[(t["claim"] == "C3") & (t["scenario"] == scenario)].iloc[0]


def test_c3_clear_fail_straddle_and_nan():
    df = _results()
    # clear fail: TARF 1 point above FT on every seed (the interval is a point)
    df.loc[(df.method == "tarf") & (df.scenario == "model_mismatch"), "Gap"] = 6.0
    assert _c3(df)["holds"] == FAILS
    # straddle: TARF 2 below FT on two seeds and 4 above on the third -> tied for lowest, names both
    df.loc[(df.method == "tarf") & (df.scenario == "model_mismatch"), "Gap"] = [3.0, 3.0, 9.0]
    row = _c3(df)
    assert row["holds"] == TIED and row["value"] == pytest.approx(0.0)
    assert row["check"].endswith("tied for lowest: ft, tarf") and "original" not in row["check"]
    assert claims.verdicts(claims.evaluate(df, _ident())).set_index("claim").loc["C3", "verdict"] == TIED
    # NaN: TARF not run in that scenario
    df = df[~((df.method == "tarf") & (df.scenario == "model_mismatch"))]
    assert _c3(df)["holds"] == NA


def test_c3_tie_with_the_original_says_doing_nothing_is_as_good():
    df = _results()
    sel = (df.scenario == "model_mismatch")
    df.loc[sel & (df.method == "original"), "Gap"] = [0.1, 0.4, 0.2]
    df.loc[sel & (df.method == "iu"), "Gap"] = [0.2, 0.1, 0.3]
    df.loc[sel & (df.method == "tarf"), "Gap"] = [0.3, 0.2, 0.1]
    row = _c3(df)
    assert row["holds"] == TIED and "best baseline: iu" in row["check"]
    assert "original" in row["check"] and row["check"].endswith("(doing nothing is as good here)")


def test_undecided_check_and_seeds_to_decide():
    df = _results()
    # C1 in data mismatch: FT's UA 20, 40, 30 over Retrained's 0: mean 30 >= 25, interval 30 +/- 16.9
    df.loc[(df.method == "ft") & (df.scenario == "data_mismatch"), "UA"] = [20.0, 40.0, 30.0]
    t = claims.evaluate(df, _ident())
    c1 = t[(t["claim"] == "C1") & (t["scenario"] == "data_mismatch")].iloc[0]
    assert c1["holds"] == UNDECIDED and c1["half_width"] == pytest.approx(16.86, abs=0.01)
    assert c1["seeds_to_decide"] == 13  # t(0.95, n - 1) * 10 / sqrt(n) < 5 first at n = 13 (4.94)
    assert claims.verdicts(t).set_index("claim").loc["C1", "verdict"] == UNDECIDED


def test_one_seed_is_undecided_and_the_paper_is_judged_as_points():
    t = claims.evaluate(_results((0,)), _ident())
    judged = t[t["claim"] != "C7"]
    assert set(judged["holds"]) == {UNDECIDED}  # no interval from one seed
    assert set(t.loc[t["claim"] == "C7", "holds"]) == {HOLDS}  # a count, as a point
    assert set(claims.evaluate(_results((0,)), _ident(), level=None)["holds"]) == {HOLDS}


def test_c7_names_its_read_out_and_the_papers_beside_it():
    ident = pd.DataFrame({"scenario": ["target_mismatch"] * 3, "seed": [0, 1, 2], "score": "proximity",
                          "exact": [True, True, True], "exact_acc_drop": [False, True, False]})
    c7 = claims.evaluate(_results(), ident).set_index("claim").loc["C7"]
    assert c7["holds"] == HOLDS
    assert c7["check"].endswith("(read-out: proximity; the paper's accuracy drop: 1/3 seeds exact)")
