"""The fit study of issue 17 (tarf/fit_study.py) on the smoke profile: one cell, one seed, one row."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tarf import fit_study

ONE = {"profile": "smoke", "widths": [8], "base_epochs": [1], "seeds": [1], "variants": ["default"],
       "cell_filter": ["target_mismatch:Sneaker"],
       # one thread; a shorter TARF run than the smoke profile's (T 3) still has all three phases
       "overrides": {"num_threads": 1, "methods": {"tarf": {"epochs": 1.5, "t1": 0.5, "t0": 0.5}}}}


@pytest.fixture(autouse=True)
def _dtype():
    dtype = torch.get_default_dtype()  # runner.context sets the profile's process-wide
    yield
    torch.set_default_dtype(dtype)


def test_cells_are_every_request_with_K(smoke_ds):
    cells = fit_study.cells(smoke_ds)
    assert len(cells) == 14
    assert {c["concept"] for c in cells} == {"tops", "footwear"}
    assert {c["scenario"] for c in cells} == set(fit_study.SCENARIOS)
    assert [c["id"] for c in fit_study.select_cells(cells, ["Coat"])] == [
        "target_mismatch:Coat", "data_mismatch:Coat"]
    assert len(fit_study.select_cells(cells, ["data_mismatch"])) == 7
    with pytest.raises(ValueError, match="target_mismatch:Sneaker"):
        fit_study.select_cells(cells, ["Trouser"])


def test_refuses_the_evaluation_seed_and_unknown_variants(tmp_path):
    with pytest.raises(ValueError, match="seed 0"):
        fit_study.run_study(**{**ONE, "seeds": [0]}, csv_path=tmp_path / "x.csv")
    with pytest.raises(ValueError, match="paper_dose"):
        fit_study.run_study(**{**ONE, "variants": ["bogus"]}, csv_path=tmp_path / "x.csv")


def test_one_row_then_resume_skips_it(tmp_path, files):
    csv = tmp_path / "results" / "fit_study.csv"
    res = fit_study.run_study(**ONE, csv_path=csv)
    assert (res.computed, res.skipped, res.stopped) == (1, 0, False)
    df = pd.read_csv(csv)
    assert len(df) == 1
    row = df.iloc[0]
    for col in fit_study.KEY_COLUMNS + ["concept", "hp", "group_score", "K", "hidden", "train_acc",
                                        "test_acc", "run_groups", "run_hit", "run_precision",
                                        "run_recall", "tarf_UA", "tarf_RA", "tarf_FR_acc",
                                        "oracle_UA", "oracle_RA", "oracle_FR_acc"]:
        assert col in df.columns, col
    for r in fit_study.READOUTS:
        for col in ("top_k", "hit", "precision", "recall", "scores", "margin"):
            assert f"{r}_{col}" in df.columns
        assert 0.0 <= row[f"{r}_precision"] <= 1.0 and 0.0 <= row[f"{r}_recall"] <= 1.0
        assert len(json.loads(row[f"{r}_top_k"])) == row["K"] == 2  # Sandal, Ankle boot
    assert json.loads(row["hidden"]) == [5, 9]
    assert (row["width"], row["base_epochs"], row["seed"], row["variant"]) == (8, 1, 1, "default")
    assert json.loads(row["hp"])["oracle"] is False
    assert 0 <= row["train_acc"] <= 100 and 0 <= row["test_acc"] <= 100
    assert len(fit_study.summary(df)) == 1

    stored = files()
    again = fit_study.run_study(**ONE, csv_path=csv)
    assert (again.computed, again.skipped) == (0, 1)
    assert len(pd.read_csv(csv)) == 1 and files() == stored  # nothing new computed or stored


def test_max_minutes_stops_before_a_row(tmp_path):
    res = fit_study.run_study(**{**ONE, "max_minutes": -1}, csv_path=tmp_path / "x.csv")
    assert res.stopped and res.computed == 0
    assert res.remaining == [(8, 1, 1, "target_mismatch:Sneaker", "default")]
    assert not (tmp_path / "x.csv").exists()


def test_hit_ignores_rank_order():
    rec = {f"group_{r}": {0: 0.1, 5: 0.5, 9: 0.9, 3: 0.2} for r in fit_study.READOUTS}
    y_un = np.array([0, 5, 5, 9, 3])
    cols = fit_study.readout_columns(rec, y_un, np.isin(y_un, [5, 9]), 2, [5, 9])
    assert json.loads(cols["proximity_top_k"]) == [9, 5] and cols["proximity_hit"]
    assert (cols["acc_drop_precision"], cols["acc_drop_recall"]) == (1.0, 1.0)
    assert cols["absorption_margin"] == pytest.approx(0.5 - 0.2)


@pytest.mark.slow
def test_a_row_of_other_tarf_settings_is_kept_but_not_taken_as_done(tmp_path):
    # a variant is relative to the profile's TARF settings: when those change, the old row is a
    # record of other settings, so the study computes the row again and appends it
    csv = tmp_path / "fit_study.csv"
    fit_study.run_study(**ONE, csv_path=csv)
    other = {**ONE["overrides"], "methods": {"tarf": {**ONE["overrides"]["methods"]["tarf"], "lr": 0.005}}}
    res = fit_study.run_study(**{**ONE, "overrides": other}, csv_path=csv)
    assert (res.computed, res.skipped) == (1, 0)
    df = pd.read_csv(csv)
    assert len(df) == 2 and df["hp"].nunique() == 2
    now = fit_study.grid_rows(df, [8], [1], [1], ["default"], hps=res.hps)
    assert len(now) == 1 and json.loads(now.iloc[0]["hp"])["lr"] == 0.005
