"""The reviewers' questions (tarf/reviewers.py): Gap without MIA on a constructed table whose answers
are known by hand; K sensitivity, the MIA features and the attack's decision on the smoke profile.

The smoke tests share one store for the module (the original, Retrained and TARF runs are made
once), so they also show that everything they compute is cached.
"""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.svm import SVC

from tarf import metrics, reviewers, runner, train, unlearn

SC, SEED = "target_mismatch", 0  # smoke: D_fr = Sandal and Ankle boot hidden in D_un, K = 2
SMOKE = {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}}  # as tests/conftest.py


# --- 2. Gap without MIA, by hand ---------------------------------------------------------------------

RET = {0: {"UA": 0.0, "RA": 90.0, "TA": 80.0, "MIA": 100.0}, 1: {"UA": 0.0, "RA": 92.0, "TA": 82.0, "MIA": 100.0}}
# |Δ| to Retrained per method and seed (UA, RA, TA, MIA); signs alternate so only |Δ| gives the means
DELTAS = {
    "tarf": {0: (2, -2, 2, -20), 1: (2, 2, -2, -40)},  # mean |Δ| 2, 2, 2, 30: Gap 9, no MIA 2
    "ft": {0: (10, -1, 1, 0), 1: (10, 1, -1, 0)},  # 10, 1, 1, 0: Gap 3, no MIA 4
    "ga": {0: (20, -10, -10, -40), 1: (20, -10, -10, -40)},  # 20, 10, 10, 40: Gap 20, no MIA 40/3
    "original": {0: (50, 5, 5, -100), 1: (50, 5, 5, -100)},  # a reference row: kept, never ranked
    "ft+id": {0: (0, 0, 0, 0), 1: (0, 0, 0, 0)},  # not one of the nine: kept, never ranked
}


def _table() -> pd.DataFrame:
    rows = []
    for seed, ret in RET.items():
        rows.append({"scenario": "a", "method": "retrained", "seed": seed, **ret, "Gap": np.nan})
        for m, per_seed in DELTAS.items():
            d = dict(zip(("UA", "RA", "TA", "MIA"), per_seed[seed]))
            rows.append({"scenario": "a", "method": m, "seed": seed, **{k: ret[k] + d[k] for k in ret},
                         "Gap": float(np.mean(np.abs(list(d.values()))))})
    # scenario b, one seed: the same order with and without MIA
    rows.append({"scenario": "b", "method": "retrained", "seed": 0, **RET[0], "Gap": np.nan})
    for m, d in (("ft", (1, 1, 1, 1)), ("tarf", (4, 4, 4, 4))):
        rows.append({"scenario": "b", "method": m, "seed": 0, **{k: RET[0][k] + v for k, v in zip(RET[0], d)},
                     "Gap": float(np.mean(d))})
    return pd.DataFrame(rows).sample(frac=1, random_state=0)  # row order must not matter


def test_k_answer_known_by_hand():
    rows = [("a", 0, "K", 10, 100), ("a", 1, "K", 12, 50), ("a", 0, "K-1", 20, 50), ("a", 1, "K-1", 20, 50),
            ("a", 0, "K+1", 14, 100), ("a", 1, "K+1", 14, 100), ("a", 0, "p=5", 30, 5), ("a", 1, "p=5", 30, 5),
            ("a", 0, "p=10", 9, 40), ("a", 1, "p=10", 9, 20),  # sample mode beats the true K in a
            ("b", 0, "K", 3, 100), ("b", 0, "p=5", 8, 10)]  # b: K = 1, no wrong K possible
    ks = pd.DataFrame(rows, columns=["scenario", "seed", "variant", "Gap", "recall"]).sample(frac=1, random_state=0)
    got = reviewers.k_answer(ks).set_index("scenario")
    a, b = got.loc["a"], got.loc["b"]
    assert (a["Gap K"], a["recall K"], a["best wrong K"], a["Gap wrong K"]) == (11, 75, "K+1", 14)
    assert (a["best p"], a["Gap best p"], a["recall best p"], a["true K lowest Gap"]) == ("p=10", 9, 30, False)
    assert b["best wrong K"] == "-" and math.isnan(b["Gap wrong K"])
    assert (b["best p"], b["true K lowest Gap"]) == ("p=5", True)


def test_gap_decomposition_known_by_hand():
    d = reviewers.gap_decomposition(_table())
    a = d[d["scenario"] == "a"].set_index("method")
    assert "retrained" not in a.index
    assert list(a.index[:3]) == ["ft", "tarf", "ga"]  # ranked by Gap, best first; the rest after
    expect = {"tarf": (2, 2, 2, 30, 9, 2), "ft": (10, 1, 1, 0, 3, 4), "ga": (20, 10, 10, 40, 20, 40 / 3),
              "original": (50, 5, 5, 100, 40, 20)}
    for m, vals in expect.items():
        got = a.loc[m, ["dUA", "dRA", "dTA", "dMIA", "Gap", "Gap_no_MIA"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, vals, err_msg=m)
    assert a.loc["tarf", "MIA_share"] == pytest.approx(100 * 30 / 36)
    assert a.loc["ft", "MIA_share"] == 0.0
    assert (a["n_seeds"] == 2).all()
    # the ranking changes when MIA is dropped: TARF first, FT second
    assert a.loc[["ft", "tarf", "ga"], "rank_Gap"].tolist() == [1, 2, 3]
    assert a.loc[["ft", "tarf", "ga"], "rank_Gap_no_MIA"].tolist() == [2, 1, 3]
    assert a.loc[["ft", "tarf", "ga"], "rank_change"].tolist() == [1, -1, 0]
    # Original: kept and flagged; it and the informed baseline are not ranked
    assert bool(a.loc["original", "reference"]) and not a.loc[["ft", "tarf", "ga", "ft+id"], "reference"].any()
    assert a.loc[["original", "ft+id"], ["rank_Gap", "rank_Gap_no_MIA", "rank_change"]].isna().all().all()

    ch = reviewers.ranking_changes(d).set_index("scenario")
    assert ch.loc["a", ["best_Gap", "best_Gap_no_MIA"]].tolist() == ["ft", "tarf"]
    assert bool(ch.loc["a", "differs"]) and ch.loc["a", "n_moved"] == 2
    assert ch.loc["a", "Gap"] == pytest.approx(3) and ch.loc["a", "Gap_no_MIA"] == pytest.approx(2)
    assert ch.loc["b", ["best_Gap", "best_Gap_no_MIA"]].tolist() == ["ft", "ft"]
    assert not ch.loc["b", "differs"] and ch.loc["b", "n_moved"] == 0
    assert ch.loc["b", "spearman"] == pytest.approx(1.0)


def test_gap_decomposition_needs_retrained_of_the_same_seed():
    t = _table()
    t = t[~((t["method"] == "retrained") & (t["seed"] == 1))]
    with pytest.raises(ValueError, match="no retrained row"):
        reviewers.gap_decomposition(t)


# --- 3. the features, by hand --------------------------------------------------------------------------

def test_mia_features_known_by_hand():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [1.0, 0.0, 0.0]], dtype=torch.float64)
    logits, y = p.clamp_min(1e-300).log(), torch.tensor([0, 0, 0])
    np.testing.assert_allclose(metrics.mia_feature(logits, y, "confidence"), [0.7, 0.1, 1.0])
    np.testing.assert_array_equal(metrics.mia_feature(logits, y, "correctness"), [1.0, 0.0, 1.0])
    ent = [-(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)),
           -(0.1 * math.log(0.1) + 0.6 * math.log(0.6) + 0.3 * math.log(0.3)), 0.0]
    np.testing.assert_allclose(metrics.mia_feature(logits, y, "entropy"), ent, atol=1e-12)
    # Song & Mittal: −(1 − p_y) log p_y − Σ_{i≠y} p_i log(1 − p_i)
    m = [-(0.3 * math.log(0.7) + 0.2 * math.log(0.8) + 0.1 * math.log(0.9)),
         -(0.9 * math.log(0.1) + 0.6 * math.log(0.4) + 0.3 * math.log(0.7)), 0.0]
    np.testing.assert_allclose(metrics.mia_feature(logits, y, "modified_entropy"), m, atol=1e-12)
    # a diverged row has no feature (the attack counts NaN as 0); confidence stays as the MIA's
    bad = torch.cat([logits, torch.full((1, 3), float("nan"))])
    for f in metrics.MIA_FEATURES:
        assert np.isnan(metrics.mia_feature(bad, torch.tensor([0, 0, 0, 0]), f)[-1]), f
    with pytest.raises(ValueError, match="unknown MIA feature"):
        metrics.mia_feature(logits, y, "prob")


# --- the smoke profile, one store for the module ------------------------------------------------------

@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    return tmp_path_factory.mktemp("reviewers_store")


@pytest.fixture(autouse=True)
def _shared_store(monkeypatch, shared_root, smoke_exp):
    """After conftest's per-test store: this module's runs go to one store; smoke computes in float64."""
    monkeypatch.setenv("TARF_STORE", str(shared_root))
    torch.set_default_dtype(getattr(torch, smoke_exp.dtype))


@pytest.fixture(scope="module")
def ctx(shared_root):
    mp = pytest.MonkeyPatch()
    mp.setenv("TARF_STORE", str(shared_root))
    yield runner.context("smoke", SMOKE)
    mp.undo()


def _no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a cached result was recomputed")

    monkeypatch.setattr(unlearn, "run", boom)
    monkeypatch.setattr(train, "fit", boom)


@pytest.mark.slow
def test_k_sensitivity_on_smoke(ctx, monkeypatch):
    sc = ctx.split[SC]
    assert sc.K == 2
    kw = dict(scenarios=(SC,), seeds=(SEED,), deltas=(-1, 0, 1), ps=(10,))
    df = reviewers.k_sensitivity("smoke", SMOKE, **kw)
    assert df["variant"].tolist() == ["K-1", "K", "K+1", "p=10"]
    assert df["K"].tolist() == [1, 2, 3, 2]
    assert df["mode"].tolist() == ["group"] * 3 + ["sample"]
    assert df["p"].isna().tolist() == [True, True, True, False] and df["p"].iloc[3] == 10
    assert (df["fr_share"] == 100 * len(sc.fr) / len(sc.un)).all()
    assert df["n_identified"].iloc[3] == math.ceil(0.1 * len(sc.un))
    assert df[["precision", "recall"]].apply(lambda c: c.between(0, 100)).all().all()
    # delta 0 is Table 3's TARF row; the others are different runs
    row = runner.run_one(ctx, SC, "tarf", SEED)
    k = df.set_index("variant").loc["K"]
    assert all(k[m] == row[m] for m in ("UA", "RA", "TA", "MIA", "Gap"))
    # D_fr is two whole groups: one group (K - 1) cannot hold all of it, three (K + 1) hold another
    v = df.set_index("variant")
    assert v.loc["K-1", "recall"] < 100 and v.loc["K+1", "precision"] < 100
    assert v.loc["K-1", "n_identified"] < v.loc["K", "n_identified"] < v.loc["K+1", "n_identified"]

    _no_training(monkeypatch)  # every row is cached: a second call runs nothing
    pd.testing.assert_frame_equal(reviewers.k_sensitivity("smoke", SMOKE, **kw), df)


def test_k_variants_skip_impossible_k(ctx):
    labels = [v for v, _ in reviewers.k_variants(ctx, "data_mismatch", deltas=(-2, -1, 0, 1), ps=())]
    assert ctx.split["data_mismatch"].K == 1 and labels == ["K", "K+1"]  # K - 1 = 0 and K - 2 < 1 skipped
    n_groups = reviewers._n_groups(ctx, SC)
    big = n_groups - ctx.split[SC].K  # K + big = every group of D_un: TARF refuses it
    assert [v for v, _ in reviewers.k_variants(ctx, SC, deltas=(big,), ps=())] == []


def _mia_before(model, sets):
    """The MIA as tarf.metrics computed it before mia_attack existed (a verbatim copy of its steps)."""
    conf = {k: metrics.confidence(model, *sets[k]) for k in ("mia_members", "mia_nonmembers", "t")}
    conf_target = np.nan_to_num(np.asarray(conf["t"], dtype=np.float64), nan=0.0).reshape(-1, 1)
    x = np.nan_to_num(np.concatenate([np.asarray(conf["mia_members"], np.float64),
                                      np.asarray(conf["mia_nonmembers"], np.float64)]), nan=0.0)
    y = np.concatenate([np.ones(len(conf["mia_members"])), np.zeros(len(conf["mia_nonmembers"]))])
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(x.reshape(-1, 1), y)
    return 100.0 * float(np.mean(clf.predict(conf_target) == 0))


def test_method_model_is_the_runner_s_and_the_mia_is_unchanged(ctx, monkeypatch):
    sets = runner.eval_sets(ctx, SC)
    for m in ("original", "tarf", "ft"):
        model = reviewers.method_model(ctx, SC, m, SEED)
        row = runner.run_one(ctx, SC, m, SEED)
        assert metrics.accuracy(model, *sets["t"]) == row["UA"], m  # same seed → same model
        before = _mia_before(model, sets)
        assert metrics.evaluate(model, sets)["MIA"] == before == row["MIA"], m
        assert metrics.mia_attack(model, sets)["MIA"] == before, m
    _no_training(monkeypatch)  # the re-made models are cached too
    assert metrics.accuracy(reviewers.method_model(ctx, SC, "ft", SEED), *sets["t"]) == \
        runner.run_one(ctx, SC, "ft", SEED)["UA"]


def test_mia_features_on_smoke(ctx):
    df = reviewers.mia_features(ctx, SC, SEED, methods=("retrained", "tarf"))
    assert df["method"].tolist() == ["retrained", "tarf"]
    vals = df[list(metrics.MIA_FEATURES)]
    assert vals.notna().all().all() and ((vals >= 0) & (vals <= 100)).all().all()
    assert (df["confidence"] == df["MIA_table"]).all()  # the confidence feature is the reported MIA


def test_mia_decision_on_smoke(ctx):
    d = reviewers.mia_decision(ctx, SC, SEED, methods=("retrained", "tarf"))
    grid = d[d["kind"] == "grid"]
    assert grid.groupby("method").size().to_dict() == {"retrained": 101, "tarf": 101}
    np.testing.assert_allclose(grid[grid["method"] == "tarf"]["confidence"], np.linspace(0, 1, 101))
    n_t = len(ctx.split[SC].t)
    assert (d[d["kind"] == "D_t"].groupby("method").size() == n_t).all()
    assert (d["member"] == (d["decision"] > 0)).all()  # decision_function > 0 is the member side
    ex = reviewers.mia_extrapolation(d).set_index("method")
    feats = reviewers.mia_features(ctx, SC, SEED, methods=("retrained", "tarf")).set_index("method")
    assert ex["MIA"].to_dict() == pytest.approx(feats["confidence"].to_dict())
    assert ex[["D_t_outside_shadow"]].apply(lambda c: c.between(0, 100)).all().all()


def test_notebook_09_read_out_frames_carry_every_group_score(ctx):
    """Notebook 09 plots the score the profile ranks by, proximity included (default profile)."""
    import matplotlib.pyplot as plt

    from tarf import plots, tarf_analysis

    groups = tarf_analysis.groups_frame(ctx, [SC], SEED)
    assert groups[list(tarf_analysis.SCORES)].notna().all().all()
    assert len(groups) == reviewers._n_groups(ctx, SC)
    probe = tarf_analysis.probe(ctx, groups)
    assert probe["score"].tolist() == list(tarf_analysis.SCORES)
    assert probe["used by TARF"].sum() == 1
    for score in tarf_analysis.SCORES:
        plt.close(plots.identification(groups, score=score))
    assert len(plots.probe(groups).axes) == 4
    plt.close("all")
