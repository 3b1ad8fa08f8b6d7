"""Table 3: the paper's numbers as package data, the layout, the exports, the join with the paper,
and the truth TARF's identification is judged against (is_fr on the smoke split)."""

import numpy as np
import pandas as pd
import pytest

from tarf import table3
from tarf.unlearn import tarf as tarf_method

SMOKE = {"num_threads": 1}  # as in conftest.SMOKE: one thread, not in any key


# --- the paper's numbers ------------------------------------------------------------------------------

def test_paper_table_loads_with_80_rows():
    p = table3.paper_table3()
    assert len(p) == 80
    assert list(p.columns) == ["dataset", "scenario", "method", "UA", "RA", "TA", "MIA", "Gap", "TIME_min"]
    assert p.groupby("dataset").size().to_dict() == {"cifar10": 40, "cifar100": 40}
    assert set(p["method"]) == set(table3.METHOD_ORDER) - {"original"}  # ours only
    assert p.loc[p["method"] == "retrained", "Gap"].isna().all()
    assert p.loc[p["method"] != "retrained", "Gap"].notna().all()
    assert len(table3.paper_table3("cifar100")) == 40
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        table3.paper_table3("fmnist")


def test_exactly_the_flagged_paper_gaps_do_not_add_up():
    """docs/protocol.md#table-3: five printed Gaps differ by > 0.02 from the mean of the four printed |differences|."""
    p = table3.paper_table3()
    ret = p[p["method"] == "retrained"].set_index(["dataset", "scenario"])
    off = set()
    for _, r in p[p["method"] != "retrained"].iterrows():
        base = ret.loc[(r["dataset"], r["scenario"])]
        gap = np.mean([abs(r[m] - base[m]) for m in ("UA", "RA", "TA", "MIA")])
        if abs(gap - r["Gap"]) > 0.02:
            off.add((r["dataset"], r["scenario"], r["method"]))
    assert off == table3.PAPER_GAP_FLAGS


# --- the layout --------------------------------------------------------------------------------------

def _long(seeds=(0, 1)) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        for s in ("model_mismatch", "all_matched"):  # out of order on purpose
            for i, m in enumerate(("tarf", "ft", "retrained")):
                rows.append({"dataset": "x", "scenario": s, "method": m, "seed": seed, "UA": 10.0 * i + seed,
                             "RA": 90.0, "TA": 80.0 + seed, "MIA": 50.0, "Gap": np.nan if m == "retrained" else 1.0 + seed,
                             "TIME_min": 0.5})
    return pd.DataFrame(rows)


def test_layout_rows_in_paper_order_and_mean_pm_std():
    lay = table3.layout(_long())
    assert list(lay.columns) == list(table3.METRICS)
    assert list(lay.index) == [("all matched", "Retrained"), ("all matched", "FT"), ("all matched", "TARF"),
                               ("model mismatch", "Retrained"), ("model mismatch", "FT"), ("model mismatch", "TARF")]
    assert lay.loc[("all matched", "TARF"), "UA"] == "0.50 ± 0.71"  # seeds 0 and 1: mean 0.5, sample std
    assert lay.loc[("all matched", "FT"), "RA"] == "90.00 ± 0.00"
    assert lay.loc[("all matched", "Retrained"), "Gap"] == "-"
    one = table3.layout(_long(seeds=(0,)), names=False)
    assert one.loc[("all_matched", "ft"), "UA"] == "10.00"  # one seed: the mean alone


def test_export_writes_long_csv_and_summary_md_tex(tmp_path, monkeypatch):
    from tarf import report

    monkeypatch.setattr(table3, "results_dir", lambda profile: tmp_path / profile)
    monkeypatch.setattr(report, "results_dir", lambda profile: tmp_path / profile)
    df = _long()
    df.loc[0, "UA"] = 1 / 3
    summary = table3.export(df, "t")
    back = pd.read_csv(tmp_path / "t" / "table.csv")
    assert len(back) == len(df) and back.loc[0, "UA"] == pytest.approx(1 / 3, abs=1e-15)  # full precision
    md = (tmp_path / "t" / "table.md").read_text()
    assert "TIME (min)" in md and "all matched" in md and "±" in md
    tex = (tmp_path / "t" / "table.tex").read_text()
    assert "TIME (min)" in tex and "TIME_min" not in tex  # no bare underscore in LaTeX
    assert list(summary.columns[:2]) == ["scenario", "method"]


def test_compare_with_paper_joins_on_scenario_and_method():
    ours = table3.paper_table3("cifar10").assign(seed=0)
    ours.loc[ours["method"] == "tarf", "UA"] += 1.0
    cmp = table3.compare_with_paper(ours, "cifar10")
    assert len(cmp) == 40
    assert cmp[("UA", "diff")].loc[(slice(None), "TARF")].eq(1.0).all()
    assert cmp[("RA", "diff")].abs().max() == 0
    assert cmp[("paper Gap", "note")].eq("does not add up").sum() == 1  # cifar10 · data mismatch · BS
    assert table3.compare_with_paper(ours, "fmnist_embedded").empty


def test_gap_matrix_and_time_table():
    m = table3.gap_matrix(_long())
    assert list(m.index) == ["all matched", "model mismatch"] and list(m.columns) == ["FT", "TARF"]
    assert m.loc["all matched", "FT"] == pytest.approx(1.5)
    t = table3.time_table(_long())
    assert t["TIME / Retrained"].eq(1.0).all()


# --- the truth for identification: is_fr on the smoke split -------------------------------------------

@pytest.fixture(scope="module")
def smoke_ctx(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("TARF_STORE", str(tmp_path_factory.mktemp("store")))
    import tarf

    ctx = tarf.context("smoke", SMOKE)
    yield ctx
    mp.undo()


def test_is_fr_marks_the_d_un_positions_of_d_fr(smoke_ctx, tmp_store):
    from tarf import tarf_analysis

    ctx = smoke_ctx
    names = ctx.ds.classes
    for s in ("target_mismatch", "data_mismatch"):
        sc = ctx.split[s]
        mask = tarf_analysis.is_fr(ctx, s)
        assert mask.dtype == bool and len(mask) == len(sc.un)
        assert mask.sum() == len(sc.fr) > 0
        assert np.array_equal(np.sort(sc.un[mask]), np.sort(sc.fr))
        fine = {names[i] for i in ctx.ds.y_train[sc.un[mask]].tolist()}
        assert fine == {"Sandal", "Ankle boot"}  # the concept's classes that were not given
        assert not np.isin(sc.un[~mask], sc.fr).any()
        q = tarf_method.identification_quality(np.flatnonzero(mask), mask)
        assert (q["precision"], q["recall"]) == (1.0, 1.0)
    for s in ("all_matched", "model_mismatch"):
        assert not tarf_analysis.is_fr(ctx, s).any()


def test_target_groups_and_names_on_the_smoke_split(smoke_ctx):
    from tarf import tarf_analysis

    ctx = smoke_ctx
    names = tarf_analysis.group_names(ctx, "target_mismatch")
    assert [names[g] for g in tarf_analysis.target_groups(ctx, "target_mismatch")] == ["Sandal", "Ankle boot"]
    coarse = tarf_analysis.group_names(ctx, "data_mismatch")
    assert [coarse[g] for g in tarf_analysis.target_groups(ctx, "data_mismatch")] == ["footwear"]
    assert tarf_analysis.target_groups(ctx, "model_mismatch") == []
    assert len(tarf_analysis.target_groups(ctx, "target_mismatch")) == ctx.split["target_mismatch"].K


def test_identification_record_restores_int_keys_and_top_k_ties():
    from tarf import tarf_analysis

    log = [{"epoch": 0}, {"epoch": 1, "identification": {
        "groups": [2], "group_scores": {"0": 1.0, "2": 3.0}, "group_acc_drop": {"0": 1.0, "2": 3.0},
        "group_abs_loss_change": {"0": 0.1, "2": 0.2}}}]
    rec = tarf_analysis.identification_record(log)
    assert rec["group_acc_drop"] == {0: 1.0, 2: 3.0} and rec["group_abs_loss_change"][2] == 0.2
    assert tarf_analysis._top({3: 1.0, 1: 1.0, 0: 0.5}, 2) == [1, 3]  # ties: lower label first


def test_variant_hp_resolves_k_from_the_request(smoke_ctx):
    from tarf import tarf_analysis

    ctx = smoke_ctx
    assert tarf_analysis.variant_hp(ctx, "target_mismatch")["k"] == pytest.approx(0.04)  # K > 0: k_target
    assert tarf_analysis.variant_hp(ctx, "all_matched")["k"] == pytest.approx(0.02)  # K = 0: k_matched
    assert tarf_analysis.variant_hp(ctx, "all_matched", k=0.3)["k"] == 0.3
    assert tarf_analysis.variant_hp(ctx, "all_matched", schedule="constant")["schedule"] == "constant"
