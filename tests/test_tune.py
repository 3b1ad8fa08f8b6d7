"""The tuning protocol (docs/protocol.md#tuning) on constructed tables and a stubbed runner: no model
is trained here."""

from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from tarf import tune, unlearn
from tarf.paths import ROOT

SCENARIOS = ("all_matched", "target_mismatch", "model_mismatch", "data_mismatch")


def _row(setting: dict, scenario: str, seed: int, gap: float, ra: float, ra_original=93.0, **kw) -> dict:
    return {**setting, "scenario": scenario, "seed": seed, "UA": 0.0, "RA": ra, "TA": 80.0, "MIA": 100.0,
            "Gap": gap, "TIME_min": 0.1, "RA_original": ra_original, **kw}


def test_choose_ranks_settings_by_median_gap_over_seeds():
    rows = []
    # lr 0.1: best on one seed, collapses on the two others; lr 0.01: steady
    for seed, gap_a, gap_b in [(1, 1.0, 3.0), (2, 40.0, 3.5), (3, 38.0, 2.5)]:
        rows.append({"lr": 0.1, "scenario": "all_matched", "seed": seed, "UA": 0, "RA": 50, "TA": 50,
                     "MIA": 100, "Gap": gap_a, "TIME_min": 0.1})
        rows.append({"lr": 0.01, "scenario": "all_matched", "seed": seed, "UA": 0, "RA": 90, "TA": 85,
                     "MIA": 100, "Gap": gap_b, "TIME_min": 0.1})
    ranked = tune.choose(pd.DataFrame(rows))
    assert ranked["lr"].tolist() == [0.01, 0.1]
    assert ranked.loc[0, "Gap_median"] == 3.0 and ranked.loc[0, "Gap_max"] == 3.5
    assert ranked.loc[1, "Gap_median"] == 38.0 and ranked["seeds"].tolist() == [3, 3]
    # v1 rows (no RA_original) reject nothing
    assert not ranked["rejected"].any() and ranked["RA_margin_min"].isna().all()


def _iu_table() -> pd.DataFrame:
    """The IU case: alpha 0.5 has the lower median Gap but collapses (RA 22) on seed 2; alpha 0.2
    is steady. Gaps from the v1 all-matched sweep (mean 28.9 vs 24.3)."""
    gaps = {0.5: {1: 6.97, 2: 59.04, 3: 20.66}, 0.2: {1: 21.48, 2: 33.63, 3: 17.9}}
    ras = {0.5: {1: 90.0, 2: 22.0, 3: 90.5}, 0.2: {1: 89.0, 2: 88.5, 3: 90.0}}
    rows = []
    for alpha in gaps:
        for s in SCENARIOS:
            for seed in (1, 2, 3):
                # the collapse is on one cell only; every other cell of alpha 0.5 is healthy
                ra = ras[alpha][seed] if s == "all_matched" else 91.0
                gap = gaps[alpha][seed] if s == "all_matched" else (10.0 if alpha == 0.5 else 20.0)
                rows.append(_row({"alpha": alpha}, s, seed, gap, ra))
    return pd.DataFrame(rows)


def test_rejection_rule_rejects_a_setting_that_collapses_on_one_cell():
    df = _iu_table()
    med = df.groupby("alpha")["Gap"].median()
    assert med[0.5] < med[0.2]  # the median alone would pick alpha 0.5
    ranked = tune.choose(df)
    assert ranked["alpha"].tolist() == [0.2, 0.5]
    assert ranked["rejected"].tolist() == [False, True]
    bad = ranked.set_index("alpha").loc[0.5]
    assert bad["RA_min"] == 22.0 and bad["RA_margin_min"] == pytest.approx(22.0 - 93.0)
    assert ranked["cells"].tolist() == [12, 12]
    for col in ("Gap_median", "Gap_max", "RA_min", "RA_margin_min", "cells", "rejected", "on_edge"):
        assert col in ranked
    # alpha 0.2's worst cell (RA 88.5, 4.5 below) is inside the 5-point allowance; a looser rule accepts both
    assert not tune.choose(df, ra_drop=80.0)["rejected"].any()


def test_all_rejected_are_ranked_and_marked():
    rows = [_row({"lr": lr}, s, seed, gap, ra=50.0) for lr, gap in ((0.1, 5.0), (0.01, 9.0))
            for s in SCENARIOS for seed in (1, 2, 3)]
    ranked = tune.choose(pd.DataFrame(rows))
    assert ranked["lr"].tolist() == [0.1, 0.01]
    assert ranked["rejected"].all()


def test_on_edge_detection():
    grid = {"lr": [0.001, 0.003, 0.007], "bn_stats": ["keep", "update"], "epochs": [0.5, 1.0]}
    rows = []
    for hp in tune.settings(grid):
        gap = 1.0 if (hp["lr"] == 0.007 and hp["bn_stats"] == "keep" and hp["epochs"] == 0.5) else 10.0
        rows += [_row(hp, s, seed, gap, ra=92.0) for s in SCENARIOS for seed in (1, 2, 3)]
    df = pd.DataFrame(rows)
    ranked = tune.choose(df)
    best = ranked.iloc[0]
    assert best["lr"] == 0.007 and bool(best["on_edge"])
    # epochs has two values and bn_stats is not numeric: only lr is an axis with an edge
    assert tune.edge_axes(df, best) == ["lr"]
    assert tune.edge_warnings("ga", df, best) == ["GA: lr=0.007 is the grid's largest value: extend the grid"]
    inner = ranked[(ranked["lr"] == 0.003)].iloc[0]
    assert tune.edge_axes(df, inner) == [] and not inner["on_edge"]
    low = ranked[(ranked["lr"] == 0.001)].iloc[0]
    assert tune.edge_warnings("ga", df, low)[0].endswith("is the grid's smallest value: extend the grid")


def test_plan_validation_names_method_and_key():
    with pytest.raises(ValueError, match=r"methods\.ga\.grid\.alpha.*'ga'.*valid: .*bn_stats.*lr"):
        tune.validate_plan({"methods": {"ga": {"grid": {"alpha": [0.1, 0.2]}}}})
    with pytest.raises(ValueError, match=r"methods\.rl\.base\.gamma"):
        tune.validate_plan({"methods": {"rl": {"grid": {"lr": [0.1]}, "base": {"gamma": 1.0}}}})
    with pytest.raises(ValueError, match=r"methods\.l1_sparse\.grid\.gamma: expected a number"):
        tune.validate_plan(yaml.safe_load("methods: {l1_sparse: {grid: {gamma: [1e-4]}}}"))  # '1e-4' is a str
    with pytest.raises(ValueError, match=r"unknown method 'nope'"):
        tune.validate_plan({"methods": {"nope": {"grid": {"lr": [0.1]}}}})


def test_shipped_plan_is_valid_small_and_covers_every_method():
    plan = tune.load_plan(ROOT / "params" / "default" / "tuning_plan.yaml")
    assert set(plan) == set(unlearn.METHODS)
    for m, entry in plan.items():
        assert 1 < tune.n_settings(entry) - len(entry["extend"]) <= 18, m
        assert len(entry["extend"]) <= 2, m  # rule 5: a line per edge axis, not a new grid
        # v3: the steps are an axis of every method that takes optimiser steps, on the same values
        if m != "iu":
            assert entry["grid"]["batch_size"] == [32, 64, 128], m
        assert "epochs" not in entry["grid"], m  # budgets come from the budget scaling
    assert "batch_size" not in plan["iu"]["grid"]
    assert min(plan["ga"]["grid"]["lr"]) < 0.002  # below v2's low edge
    assert {"gamma", "lr"} <= set(plan["l1_sparse"]["grid"])
    assert set(plan["tarf"]["grid"]) == {"lr", "batch_size"}


def test_plan_batch_size_must_be_a_positive_integer():
    with pytest.raises(ValueError, match=r"methods\.ft\.grid\.batch_size: expected an integer >= 1, got 0"):
        tune.validate_plan({"methods": {"ft": {"grid": {"batch_size": [32, 0]}}}})
    with pytest.raises(ValueError, match=r"methods\.ft\.grid\.batch_size: expected an integer >= 1, got 32\.5"):
        tune.validate_plan({"methods": {"ft": {"grid": {"batch_size": [32.5]}}}})


def test_plan_extend_adds_whole_settings_beyond_the_grid():
    grid = {"lr": [0.01, 0.03], "batch_size": [64, 128]}
    entry = tune.validate_plan({"ft": {"grid": grid, "extend": [{"lr": 0.003, "batch_size": 128}]}})["ft"]
    assert tune.n_settings(entry) == 5
    assert tune.planned(entry)[-1] == {"lr": 0.003, "batch_size": 128}
    with pytest.raises(ValueError, match=r"methods\.ft\.extend\[0\]: expected a value for each grid axis"):
        tune.validate_plan({"ft": {"grid": grid, "extend": [{"lr": 0.003}]}})
    with pytest.raises(ValueError, match=r"methods\.ft\.extend\[0\]\.batch_size: expected an integer"):
        tune.validate_plan({"ft": {"grid": grid, "extend": [{"lr": 0.003, "batch_size": 1.5}]}})
    with pytest.raises(ValueError, match=r"methods\.ft\.extend\[0\]: .* is already in the grid"):
        tune.validate_plan({"ft": {"grid": grid, "extend": [{"lr": 0.03, "batch_size": 64}]}})


def _v3(setting, scenario, seed, gap, ra, ra_retrained=92.0):
    return _row(setting, scenario, seed, gap, ra, RA_retrained=ra_retrained, protocol="v3")


def test_v3_balances_scenarios_where_the_pooled_median_follows_the_easy_ones():
    # "little": Gap 1 in three scenarios and 30 in target mismatch; "forgets": 4 everywhere. The
    # pooled median of "little" is 1, so v2 ranks it first; balanced, one scenario counts a quarter.
    easy = {"little": {"all_matched": 1.0, "target_mismatch": 30.0, "model_mismatch": 1.0,
                       "data_mismatch": 1.0},
            "forgets": {s: 4.0 for s in SCENARIOS}}
    rows = [_v3({"lr": {"little": 0.01, "forgets": 0.03}[k]}, s, seed, gaps[s], ra=90.0)
            for k, gaps in easy.items() for s in SCENARIOS for seed in (1, 2, 3)]
    df = pd.DataFrame(rows)
    ranked = tune.choose(df)
    assert ranked["lr"].tolist() == [0.03, 0.01]  # balanced: 4.0 vs (1 + 30 + 1 + 1) / 4 = 8.25
    assert ranked["Gap_balanced"].tolist() == pytest.approx([4.0, 8.25])
    assert ranked.loc[1, "Gap_target_mismatch"] == 30.0 and ranked.loc[1, "Gap_median"] == 1.0
    # the same rows under v2's rule (pooled median) pick the other one
    assert tune.choose(df.assign(protocol="v2"))["lr"].tolist() == [0.01, 0.03]
    assert tune.setting_columns(ranked) == ["lr"]


def test_v3_guard_rejects_collapse_not_the_ra_cost_of_forgetting():
    rows = []
    for seed in (1, 2, 3):
        for s in SCENARIOS:
            # forgets at an RA cost of 10 below Retrained (and of 11 below the Original: v2 rejects it)
            rows.append(_v3({"lr": 0.03}, s, seed, 3.0, ra=82.0))
            # collapses on one cell only: 16 below Retrained
            rows.append(_v3({"lr": 0.1}, s, seed, 1.0, ra=76.0 if (s, seed) == ("model_mismatch", 2) else 91.0))
    df = pd.DataFrame(rows)
    ranked = tune.choose(df)
    assert ranked["lr"].tolist() == [0.03, 0.1] and ranked["rejected"].tolist() == [False, True]
    assert ranked.loc[1, "RA_vs_retrained_min"] == pytest.approx(-16.0)
    assert ranked.loc[0, "RA_vs_retrained_min"] == pytest.approx(-10.0)
    assert tune.choose(df.assign(protocol="v2"))["rejected"].all()  # v2's guard rejects both
    assert not tune.choose(df, ra_collapse=20.0)["rejected"].any()


def test_v3_setting_missing_a_scenario_ranks_last_and_mixed_protocols_are_refused():
    rows = [_v3({"lr": 0.01}, s, seed, 5.0, ra=90.0) for s in SCENARIOS for seed in (1, 2, 3)]
    rows += [_v3({"lr": 0.1}, s, seed, 0.5, ra=90.0) for s in SCENARIOS[:3] for seed in (1, 2, 3)]
    ranked = tune.choose(pd.DataFrame(rows))
    assert ranked["lr"].tolist() == [0.01, 0.1] and pd.isna(ranked.loc[1, "Gap_balanced"])
    with pytest.raises(ValueError, match=r"rows of protocols \['v2', 'v3'\]"):
        tune.choose(pd.DataFrame(rows + [_row({"lr": 0.3}, "all_matched", 1, 1.0, 90.0, protocol="v2")]))


def test_v3_ties_go_to_the_smaller_max_gap_and_batch_is_an_edge_axis():
    rows = []
    for bs in (32, 64, 128):
        for s in SCENARIOS:
            for seed, gap in zip((1, 2, 3), (2.0, 3.0, 4.0 if bs == 64 else 9.0)):
                rows.append(_v3({"lr": 0.01, "batch_size": bs}, s, seed, gap, ra=90.0))
    df = pd.DataFrame(rows)
    ranked = tune.choose(df)
    assert ranked["Gap_balanced"].nunique() == 1  # a tie on the criterion
    assert ranked.loc[0, "batch_size"] == 64 and not ranked.loc[0, "on_edge"]
    best32 = ranked[ranked["batch_size"] == 32].iloc[0]
    assert tune.edge_axes(df, best32) == ["batch_size"]


def test_evaluation_seeds_are_refused():
    for bad in (0, 4, 5):
        with pytest.raises(ValueError, match=rf"seed {bad} is not a tuning seed: tuning seeds are 1-3"):
            tune.check_seeds([1, bad])
    with pytest.raises(ValueError, match="seed 0"):
        tune.sweep(SimpleNamespace(profile="x", exp=SimpleNamespace(scenarios=SCENARIOS)), "ga",
                   {"lr": [0.1]}, seeds=(0,))
    with pytest.raises(ValueError, match="seed 4"):
        tune.run_plan("x", {"methods": {"ga": {"grid": {"lr": [0.1]}}}}, seeds=(1, 4), scenarios=SCENARIOS,
                      csv_dir="unused")


@pytest.fixture
def stub_runner(monkeypatch):
    """run_one / context stubs: a row's numbers are a function of the setting and the cell."""
    calls = []

    def fake_context(profile, overrides=None):
        return SimpleNamespace(profile=profile, hp=overrides["methods"])

    def fake_run_one(ctx, scenario, method, seed):
        if method == "original":
            return {"UA": 100.0, "RA": 93.0, "TA": 86.0, "MIA": 0.0, "Gap": 50.0, "TIME_min": 0.0}
        if method == "retrained":
            return {"UA": 0.0, "RA": 92.0, "TA": 85.0, "MIA": 100.0, "Gap": float("nan"), "TIME_min": 1.0}
        calls.append((method, ctx.hp[method]["lr"], ctx.hp[method].get("epochs"), scenario, seed))
        lr = ctx.hp[method]["lr"]
        return {"UA": 10.0, "RA": 90.0 - 100 * lr, "TA": 80.0, "MIA": 90.0, "Gap": 10 * lr + seed,
                "TIME_min": 0.01}

    monkeypatch.setattr(tune, "context", fake_context)
    monkeypatch.setattr(tune, "run_one", fake_run_one)
    return calls


def test_run_plan_resumes_and_keeps_v1_rows(tmp_path, stub_runner):
    # a v1 table: all matched only, no RA_original / protocol, epochs written as 0.5 (float)
    v1 = pd.DataFrame([{"lr": 0.007, "epochs": 0.5, "scenario": "all_matched", "seed": 1, "UA": 1.0,
                        "RA": 80.0, "TA": 70.0, "MIA": 99.0, "Gap": 15.0, "TIME_min": 0.01}])
    v1.to_csv(tmp_path / "tuning_ga.csv", index=False)
    plan = {"methods": {"ga": {"grid": {"lr": [0.001, 0.007, 0.01]}, "base": {"epochs": 0.5}}}}
    kw = dict(scenarios=SCENARIOS, csv_dir=tmp_path)
    total = 3 * len(SCENARIOS) * 3

    tune.run_plan("default", plan, max_rows=5, **kw)
    assert len(stub_runner) == 5
    df = pd.read_csv(tmp_path / "tuning_ga.csv")
    assert (df["protocol"] == "v1").sum() == 1 and (df["protocol"] == "v3").sum() == 5
    assert df.loc[df["protocol"] == "v3", "RA_original"].eq(93.0).all()
    assert df.loc[df["protocol"] == "v3", "RA_retrained"].eq(92.0).all()

    first = list(stub_runner)
    tables = tune.run_plan("default", plan, **kw)
    assert len(stub_runner) == total  # the second call computed only the missing rows
    assert not set(stub_runner[5:]) & set(first)
    df = pd.read_csv(tmp_path / "tuning_ga.csv")
    v3 = df[df["protocol"] == "v3"]
    assert len(v3) == total and not v3.duplicated(["lr", "epochs", "scenario", "seed"]).any()
    assert (df["protocol"] == "v1").sum() == 1  # the old row is kept
    assert len(tables["ga"]) == total + 1
    assert tune.plan_status(df, tune.validate_plan(plan)["ga"], SCENARIOS) == (total, total)

    tune.run_plan("default", plan, **kw)  # complete: nothing to do
    assert len(stub_runner) == total
    ranked = tune.choose(tune.protocol_rows(df))
    assert ranked["lr"].tolist() == [0.001, 0.007, 0.01] and ranked["cells"].eq(12).all()
    assert ranked["rejected"].tolist() == [False, False, False]
    assert tune.protocol_rows(df, "v1")["lr"].tolist() == [0.007]

    plan["methods"]["ga"]["extend"] = [{"lr": 0.0005}]  # an edge extension: only its cells run
    tune.run_plan("default", plan, **kw)
    assert len(stub_runner) == total + len(SCENARIOS) * 3
    df = pd.read_csv(tmp_path / "tuning_ga.csv")
    assert (df.loc[df["protocol"] == "v3", "lr"] == 0.0005).sum() == len(SCENARIOS) * 3


def test_run_plan_stops_before_max_minutes(tmp_path, stub_runner):
    plan = {"methods": {"ga": {"grid": {"lr": [0.001, 0.01]}}}}
    tune.run_plan("default", plan, max_minutes=0, scenarios=SCENARIOS, csv_dir=tmp_path)
    assert stub_runner == [] and not (tmp_path / "tuning_ga.csv").exists()


def test_setting_values_match_across_csv_and_yaml():
    assert tune._key({"lr": 0.007, "epochs": 1}) == tune._key({"lr": 0.0070000000000000001, "epochs": 1.0})
    assert tune._key({"lr": 0.1, "bn_stats": float("nan")}) == tune._key({"lr": 0.1})
