"""Observation notebooks 03–08: the embedded sample, the embedding, the Obs. 6 GA run and the checks.

Smoke profile, one thread, base training cut to one epoch; every test has its own empty store
(tests/conftest.py points TARF_STORE at tmp_path).
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

import tarf
from tarf import checks, embedding, observations, plots, runner, store, train, unlearn
from tarf.checks import FAILS as N
from tarf.checks import HOLDS as Y
from tarf.checks import NA, UNDECIDED

QUICK = {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}}


@pytest.fixture
def ctx():
    return tarf.context("smoke", QUICK)


# --- the sample and the embedding ---------------------------------------------------------------

def test_sample_is_seeded_stratified_and_persisted(ctx, files):
    idx = embedding.sample(ctx, per_class=7, seed=0)
    stored = [f for f in files() if f.startswith("samples/")]
    assert len(stored) == 2  # the json and its checksum sidecar
    y = ctx.ds.y_train.numpy()[idx]
    assert np.all(np.bincount(y, minlength=10) == 7)
    assert np.all(np.diff(idx) > 0) and np.isin(idx, ctx.split.train).all()
    # a second call loads the persisted indices (no new file)
    again = embedding.sample(ctx, per_class=7, seed=0)
    assert np.array_equal(idx, again) and [f for f in files() if f.startswith("samples/")] == stored
    k = store.key({"dataset": ctx.exp.dataset, "split": ctx.split.hash, "per_class": 7, "seed": 0, "v": 1})
    assert store.get_json("samples", k)["idx"] == idx.tolist()
    # the same seed in a fresh store draws the same images; another seed draws others
    store.discard("samples", k, "json")
    assert np.array_equal(embedding.sample(ctx, per_class=7, seed=0), idx)
    assert not np.array_equal(embedding.sample(ctx, per_class=7, seed=1), idx)
    # more than a class holds: every image of D
    assert len(embedding.sample(ctx, per_class=10_000, seed=0)) == len(ctx.split.train)
    with pytest.raises(ValueError, match="per_class"):
        embedding.sample(ctx, per_class=0)


def test_embedding_shapes_classes_and_cache(ctx, files):
    emb = embedding.compute(ctx, "fine", seed=0, method="pca", per_class=5)
    n, d = 5 * len(ctx.ds.classes), 8 * ctx.exp.model.width  # ResNet-18: 8w pooled channels
    assert emb.index.shape == (n,) and emb.features.shape == (n, d) and emb.coords.shape == (n, 2)
    assert np.isfinite(emb.coords).all()
    frame = emb.frame(ctx.ds)
    assert list(frame.columns) == ["index", "fine id", "fine class", "coarse class", "dim 1", "dim 2"]
    assert set(frame["fine class"]) == set(ctx.ds.classes)
    # features and coordinates are stored; a second call recomputes nothing
    before = files()
    assert any(f.startswith("features/") for f in before) and any(f.startswith("embeddings/") for f in before)
    again = embedding.compute(ctx, "fine", seed=0, method="pca", per_class=5)
    assert files() == before
    assert np.array_equal(again.coords, emb.coords) and np.array_equal(again.features, emb.features)
    # restricted to the concept's classes: the same images of those classes, with the same features
    concept = observations.concept_classes(ctx)
    assert concept == ["Sandal", "Sneaker", "Ankle boot"]
    sub = embedding.compute(ctx, "fine", seed=0, method="pca", per_class=5, classes=concept)
    assert sub.coords.shape == (15, 2)
    keep = np.isin(emb.index, sub.index)
    np.testing.assert_allclose(sub.features, emb.features[keep], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="valid"):
        embedding.compute(ctx, "fine", method="umap")
    with pytest.raises(ValueError, match="valid"):
        embedding.compute(ctx, "fine", classes=["Sneakers"])


def test_tsne_projection_shape_and_seed():
    feats = np.random.default_rng(0).normal(size=(40, 6))
    a = embedding.project(feats, "tsne", seed=0)  # perplexity is capped below n / 3
    assert a.shape == (40, 2)
    assert np.array_equal(a, embedding.project(feats, "tsne", seed=0))
    assert embedding.project(feats, "pca").shape == (40, 2)


# --- Obs. 6: GA with the losses per step --------------------------------------------------------------

def test_obs6_logs_every_step_for_all_groups_and_d_f_loss_rises(ctx, files):
    hp = {"epochs": 1, "lr": 0.01}
    curves = observations.obs6(ctx, seed=0, hp=hp, eval_per_class=10)
    n_f = len(ctx.split["model_mismatch"].f)
    steps = -(-n_f // ctx.exp.unlearn_batch_size)  # one epoch of D_f batches
    for ls, s in observations.OBS6_MODELS:
        d = curves[curves.model == ls]
        assert (d.scenario == s).all()
        assert sorted(d.step.unique()) == list(range(steps + 1))  # step 0 = the original
        assert set(d.group) == {"D_f", "aligned", "other"}
        assert (d.groupby("step").size() == 3).all() and d.ce.notna().all()
        aligned = {"coarse": "D_ar", "fine": "D_fr"}[ls]
        assert set(d.set) == {"D_f", aligned, "other"}
        f = d[d.group == "D_f"].set_index("step")["ce"]
        assert f[steps] > f[0], f"{ls}: GA must raise the loss on D_f"
        assert d.loc[d.group == "D_f", "n"].iloc[0] == 10  # the sample: ≤ 10 Sneakers
    summary = observations.loss_summary(curves)
    assert summary.loc[summary.group == "D_f", "rise / D_f rise"].tolist() == [1.0, 1.0]
    # cached: a second call trains nothing and returns the same numbers
    before = files()
    pd.testing.assert_frame_equal(observations.obs6(ctx, seed=0, hp=hp, eval_per_class=10), curves)
    assert files() == before


def test_ga_tracked_is_plain_ga(ctx):
    """The tracked run is GA's own code path: same final weights as tarf.unlearn.run('ga', ...), for
    both BN treatments."""
    model, _ = train.original(ctx.exp, ctx.ds, ctx.split, "coarse", 0)
    data = runner.unlearn_data(ctx, "model_mismatch")
    data.batch_size = 16  # D_f has 30 images on smoke: two batches per epoch
    x, y = data.x_f[:8], data.y_f[:8]
    finals = {}
    for bn in ("update", "keep"):
        hp = {"epochs": 1.5, "lr": 0.01, "bn_stats": bn}
        tracked, rows = observations.ga_tracked(model, data, hp, 0, {"D_f": (x, y)})
        plain, log = unlearn.run("ga", model, data, hp, 0)
        for (name, a), b in zip(tracked.state_dict().items(), plain.state_dict().values()):
            assert torch.equal(a, b), name
        finals[bn] = tracked.state_dict()
    # bn_stats reaches the tracked run: "keep" leaves the running statistics where they were
    assert any(not torch.equal(finals["update"][k], finals["keep"][k]) for k in finals["keep"] if "running_mean" in k)
    steps = 2 + 1  # 1.5 epochs of two batches each: 2 + round(0.5 · 2)
    assert [r["step"] for r in rows] == list(range(steps + 1))
    assert [r["epoch"] for r in rows] == [0.0, 0.5, 1.0, 1.5]
    assert log[-1]["epoch"] == 1.5
    with pytest.raises(ValueError, match="valid"):
        observations.ga_tracked(model, data, {"lrr": 1}, 0, {})


# --- the representation statistics ----------------------------------------------------------------

def test_mixing_index_on_constructed_points():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, size=(30, 4))
    far = rng.normal(50, 1, size=(60, 4))
    same = rng.normal(0, 1, size=(60, 4))
    mask_a = np.r_[np.ones(30, bool), np.zeros(60, bool)]
    apart = observations.mixing(np.r_[a, far], mask_a, ~mask_a, k=5)
    assert apart["mixing"] == 0.0 and apart["n_a"] == 30 and apart["n_b"] == 60
    assert apart["chance"] == pytest.approx(60 / 89)
    mixed = observations.mixing(np.r_[a, same], mask_a, ~mask_a, k=5)
    assert 0.7 < mixed["mixing"] < 1.3
    # points outside both sets play no part
    extra = np.r_[a, far, same]
    m = observations.mixing(extra, np.r_[mask_a, np.zeros(60, bool)], np.r_[~mask_a, np.zeros(60, bool)], k=5)
    assert m["mixing"] == 0.0
    assert np.isnan(observations.mixing(a, np.ones(30, bool), np.zeros(30, bool))["mixing"])
    with pytest.raises(ValueError, match="overlap"):
        observations.mixing(a, np.ones(30, bool), np.ones(30, bool))


def test_roles_and_partners(ctx):
    sc = ctx.split["model_mismatch"]
    idx = np.r_[sc.f[:3], sc.ar[:2], np.setdiff1d(sc.r, sc.ar)[:4]]
    assert observations.roles(ctx, "model_mismatch", idx).tolist() == ["D_f"] * 3 + ["D_ar"] * 2 + ["rest"] * 4
    assert observations.partner(ctx, "model_mismatch") == "D_ar"
    assert observations.partner(ctx, "target_mismatch") == "D_fr"
    assert observations.partner(ctx, "data_mismatch") == "D_fr"
    assert observations.partner(ctx, "all_matched") is None


# --- verdicts on constructed inputs --------------------------------------------------------------

def _holds(verdict):
    return verdict["holds"].tolist()


def _mix(rows, seeds=(0, 1, 2)):
    """A mixing table with the same values on every seed (no spread: each check is decided), or
    per-seed values where ``v`` is a tuple."""
    return pd.DataFrame([{"seed": sd, "scenario": s, "model": m, "A": "D_f", "B": b,
                          "mixing": v[i] if isinstance(v, tuple) else v}
                         for i, sd in enumerate(seeds) for s, m, b, v in rows])


def test_obs1_verdict():
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", 0.2)]))) == [Y]
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", 0.8)]))) == [N]
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", 0.8)]), split_max=0.9)) == [Y]
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", np.nan)]))) == [NA]
    # a straddle over seeds, and one seed alone, are undecided
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", (0.2, 0.8, 0.5))]))) == \
        [UNDECIDED]
    assert _holds(observations.obs1_verdict(_mix([("all_matched", "fine", "rest", 0.2)], seeds=(0,)))) == \
        [UNDECIDED]


def test_obs3_and_obs5_verdicts():
    paper_like = _mix([("target_mismatch", "fine", "D_fr", 0.1), ("model_mismatch", "coarse", "D_ar", 0.9),
                       ("data_mismatch", "coarse", "D_fr", 0.8)])
    assert _holds(observations.obs3_verdict(paper_like)) == [Y, Y, Y]
    reversed_ = _mix([("target_mismatch", "fine", "D_fr", 0.9), ("model_mismatch", "coarse", "D_ar", 0.1),
                      ("data_mismatch", "coarse", "D_fr", 0.6)])
    assert _holds(observations.obs3_verdict(reversed_)) == [N, N, Y]
    assert _holds(observations.obs3_verdict(reversed_, merged_min=0.7)) == [N, N, N]
    ok = _mix([("model_mismatch", "coarse", "D_ar", 0.8), ("model_mismatch", "fine", "D_ar", 0.3)])
    assert _holds(observations.obs5_verdict(ok)) == [Y, Y, Y]
    assert _holds(observations.obs5_verdict(ok, margin=0.6)) == [Y, Y, N]
    close = _mix([("model_mismatch", "coarse", "D_ar", 0.55), ("model_mismatch", "fine", "D_ar", 0.45)])
    assert _holds(observations.obs5_verdict(close)) == [Y, Y, N]
    # coarse - fine is paired per seed: 0.3 on every seed although each model's mixing varies
    paired = _mix([("model_mismatch", "coarse", "D_ar", (0.6, 0.8, 0.9)),
                   ("model_mismatch", "fine", "D_ar", (0.3, 0.5, 0.6))])
    v = observations.obs5_verdict(paired)
    assert _holds(v) == [Y, UNDECIDED, Y] and v["value"].iloc[2] == pytest.approx(0.3)


def _rows(values, seeds=(0, 1, 2)):
    """Results rows; a row given for seed 0 is repeated on every seed of ``seeds``."""
    return pd.DataFrame([{"scenario": s, "method": m, "seed": sd, "UA": ua, "RA": ra}
                         for s, m, seed, ua, ra in values for sd in (seeds if seed == 0 else (seed,))])


def test_obs2_verdict():
    rows = _rows([("all_matched", "retrained", 0, 0.0, 99.0), ("all_matched", "ft", 0, 1.0, 98.0),
                  ("all_matched", "ga", 0, 0.5, 95.2), ("all_matched", "bs", 0, 60.0, 50.0)])
    v = observations.obs2_verdict(rows)
    assert v["check"].tolist() == ["|UA(FT) - UA(Retrained)|", "|RA(FT) - RA(Retrained)|",
                                   "|UA(GA) - UA(Retrained)|", "|RA(GA) - RA(Retrained)|"]
    assert _holds(v) == [Y, Y, Y, Y]
    assert _holds(observations.obs2_verdict(rows, tolerance=2.0)) == [Y, Y, Y, N]
    # per seed |UA(FT) - UA(Retrained)|: 1, 1, 20 -> mean 7.33, its interval contains 5
    rows.loc[(rows.method == "ft") & (rows.seed == 2), "UA"] = 20.0
    v = observations.obs2_verdict(rows)
    assert v["value"].tolist()[0] == pytest.approx(22 / 3) and _holds(v)[0] == UNDECIDED


def test_obs4_verdict():
    paper = _rows([("target_mismatch", "retrained", 0, 0.0, 99.4), ("target_mismatch", "ft", 0, 50.4, 98.5),
                   ("data_mismatch", "retrained", 0, 0.0, 99.5), ("data_mismatch", "ft", 0, 96.8, 98.5),
                   ("model_mismatch", "retrained", 0, 87.8, 99.6), ("model_mismatch", "ga", 0, 5.8, 87.0),
                   ("target_mismatch", "ga", 0, 40.8, 97.0), ("data_mismatch", "ga", 0, 8.7, 96.4),
                   ("model_mismatch", "ft", 0, 94.7, 98.5)])
    v = observations.obs4_verdict(paper)  # CIFAR-10 numbers of the paper's Table 3
    assert v["scenario"].tolist() == ["target_mismatch", "data_mismatch", "model_mismatch", "model_mismatch"]
    assert _holds(v) == [Y, Y, Y, Y]
    assert _holds(observations.obs4_verdict(paper, ft_miss=60.0, ga_miss=90.0, ga_ra_drop=15.0)) == \
        [N, Y, N, N]


def _summary(coarse, fine, seeds=(0, 1, 2)):
    rows = []
    for sd in seeds:
        for m, s, vals in (("coarse", "model_mismatch", coarse), ("fine", "target_mismatch", fine)):
            for g, (ratio, rise, rel) in zip(("D_f", "aligned", "other"), vals):
                rows.append({"seed": sd, "model": m, "scenario": s, "group": g, "end / start": ratio, "rise": rise,
                             "rise / D_f rise": rel})
    return pd.DataFrame(rows)


def test_obs6_verdict():
    paper_like = _summary(coarse=[(5.0, 2.0, 1.0), (4.0, 1.6, 0.8), (1.1, 0.2, 0.1)],
                          fine=[(5.0, 2.0, 1.0), (1.5, 0.4, 0.2), (1.0, 0.0, 0.0)])
    v = observations.obs6_verdict(paper_like)
    assert _holds(v) == [Y] * 5
    assert v["value"].tolist()[2] == pytest.approx(0.6)  # 0.8 − 0.2
    no_drag = _summary(coarse=[(5.0, 2.0, 1.0), (1.2, 0.2, 0.1), (1.1, 0.2, 0.1)],
                       fine=[(5.0, 2.0, 1.0), (1.5, 0.4, 0.2), (3.0, 1.8, 0.9)])
    assert _holds(observations.obs6_verdict(no_drag)) == [Y, Y, N, Y, N]
    no_rise = _summary(coarse=[(0.9, -0.1, np.nan), (1.0, 0.0, np.nan), (1.0, 0.0, np.nan)],
                       fine=[(1.0, 0.0, np.nan), (1.0, 0.0, np.nan), (1.0, 0.0, np.nan)])
    # D_f's CE does not rise: its two checks fail, and the rises relative to it are not defined (n/a)
    v = observations.obs6_verdict(no_rise)
    assert _holds(v) == [N, N, NA, NA, NA]
    assert checks.overall(v["holds"]) == (N, 0, 2)


def test_print_verdict_sentence(capsys):
    v = observations.obs1_verdict(_mix([("all_matched", "fine", "rest", 0.2)]))
    observations.print_verdict(v, "Observation 1", "default")
    out = capsys.readouterr().out
    assert "Observation 1 holds on profile 'default': 1/1 checks pass, over 3 seeds." in out and "smoke" not in out
    v = observations.obs3_verdict(_mix([("target_mismatch", "fine", "D_fr", 0.9)]))
    observations.print_verdict(v, "Observation 3", "smoke")
    out = capsys.readouterr().out
    assert "Observation 3 does not hold on profile 'smoke': 0/1 checks pass, over 3 seeds." in out
    assert "only shows that the check runs" in out


# --- figures draw from the long-form data ---------------------------------------------------------

def test_figures_draw_constructed_data():
    rng = np.random.default_rng(0)
    pts = pd.DataFrame({"scenario": "model_mismatch", "model": np.repeat(["coarse", "fine"], 6),
                        "index": np.tile(np.arange(6), 2), "fine id": np.tile([5, 5, 7, 7, 9, 9], 2),
                        "fine class": np.tile(["Sandal"] * 2 + ["Sneaker"] * 2 + ["Ankle boot"] * 2, 2),
                        "role": np.tile(["D_ar"] * 2 + ["D_f"] * 2 + ["D_ar"] * 2, 2),
                        "dim 1": rng.normal(size=12), "dim 2": rng.normal(size=12)})
    pts["group"] = np.where(pts.role == "D_f", "D_f: " + pts["fine class"], pts["fine class"])
    long = observations.bars_frame(_rows([("all_matched", "retrained", 0, 0.0, 99.0),
                                          ("all_matched", "ft", 0, 1.0, 98.0)], seeds=(0,)))
    assert long["method"].tolist() == ["Retrained", "FT", "Retrained", "FT"]
    curves = pd.DataFrame({"model": "coarse", "scenario": "model_mismatch", "step": np.repeat([0, 1], 3),
                           "group": ["D_f", "aligned", "other"] * 2, "set": ["D_f", "D_ar", "other"] * 2,
                           "ce": [0.1, 0.2, 0.3, 0.5, 0.4, 0.3]})
    for fig in (plots.obs1(pts[pts.model == "fine"]), plots.obs3(pts), plots.obs5(pts),
                plots.bars(long, "t"), plots.obs6(curves)):
        assert fig.axes
        plt.close(fig)
