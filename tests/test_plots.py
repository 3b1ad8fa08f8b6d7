"""The figures of tarf.plots on hand-made long-form data: readable width, seeds and spread stated,
legends off the data and named, no line across unrelated categories (issue 34, item 4)."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tarf import plots, reviewers  # noqa: E402

MAX_PX = 2100  # at save()'s dpi 200: at most ~10.5 in, so 8-9 pt text still reads at README width


def _png_width(fig) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=200)  # as plots.save
    plt.close(fig)
    return Image.open(buf).size[0]


def _texts(fig) -> str:
    """Every title, suptitle and legend text of the figure, joined."""
    parts = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        parts.append(ax.get_title())
        if ax.get_legend():
            parts += [t.get_text() for t in ax.get_legend().get_texts()]
    for leg in fig.legends:
        parts += [t.get_text() for t in leg.get_texts()] + [leg.get_title().get_text()]
    return " | ".join(parts)


def test_seed_note():
    assert plots.seed_note([]) == ""
    assert plots.seed_note([3]) == "seed 3"
    assert plots.seed_note([0, 4, 5], "bars: mean", "error bars: SD") == \
        "bars: mean over seeds 0, 4, 5; error bars: SD"


# --- notebooks 03-08 ------------------------------------------------------------------------------

def _points():
    rng = np.random.default_rng(0)
    n = 6
    return pd.DataFrame({"scenario": "model_mismatch", "model": np.repeat(["coarse", "fine"], n),
                         "index": np.tile(np.arange(n), 2), "fine id": np.tile([5, 5, 7, 7, 9, 9], 2),
                         "fine class": np.tile(["Sandal"] * 2 + ["Sneaker"] * 2 + ["Ankle boot"] * 2, 2),
                         "coarse class": "footwear",
                         "role": np.tile(["D_ar"] * 2 + ["D_f"] * 2 + ["D_ar"] * 2, 2),
                         "dim 1": rng.normal(size=2 * n), "dim 2": rng.normal(size=2 * n)})


def test_obs5_names_the_rest_of_the_superclass_in_the_fine_model():
    fig = plots.obs5(_points(), seed=4)
    coarse, fine = ([t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes)
    assert any("(D_ar)" in t for t in coarse)
    assert not any("D_ar" in t for t in fine) and any("rest of footwear" in t for t in fine)
    assert fig._suptitle.get_text().endswith("seed 4")
    for ax in fig.axes:  # the legend sits under the panel, off the points
        assert ax.get_legend().get_window_extent().y1 <= ax.get_window_extent().y0 + 1
    assert _png_width(fig) <= MAX_PX


def test_embedding_and_loss_figures_name_their_seed():
    pts = _points()
    pts["group"] = np.where(pts.role == "D_f", "D_f: " + pts["fine class"], pts["fine class"])
    assert plots.obs1(pts[pts.model == "fine"], seed=2).axes[0].get_title().endswith("seed 2")
    fig = plots.obs3(pts, seed=2)
    assert fig._suptitle.get_text().endswith("seed 2")
    assert _png_width(fig) <= MAX_PX
    curves = pd.DataFrame({"seed": 5, "model": "coarse", "scenario": "model_mismatch", "step": np.repeat([0, 1], 3),
                           "set": ["D_f", "D_ar", "other"] * 2, "ce": [0.1, 0.2, 0.3, 0.5, 0.4, 0.3]})
    assert plots.obs6(curves)._suptitle.get_text().endswith("seed 5")  # from the data's seed column
    plt.close("all")


def _bars_long():
    rows = []
    for seed, ua in ((0, 10.0), (4, 30.0), (5, 50.0)):
        for s in ("target_mismatch", "data_mismatch"):
            rows += [(s, "Retrained", seed, "UA", 0.0), (s, "Retrained", seed, "RA", 90.0),
                     (s, "GA", seed, "UA", ua), (s, "GA", seed, "RA", 80.0 + seed)]
    return pd.DataFrame(rows, columns=["scenario", "method", "seed", "metric", "value"])


def test_bars_state_seeds_and_sd_and_write_labels_above_the_error_bars():
    long = _bars_long()
    fig = plots.bars(long, "Obs. 4")
    head = fig._suptitle.get_text()
    assert "Obs. 4" in head and "mean over seeds 0, 4, 5" in head and "error bars: SD" in head
    ax = fig.axes[0]
    ga_ua = long[(long.method == "GA") & (long.metric == "UA") & (long.scenario == "target_mismatch")]["value"]
    label = next(t for t in ax.texts if t.get_text() == f"{ga_ua.mean():.0f}")
    assert label.xy[1] == pytest.approx(ga_ua.mean() + ga_ua.std())  # on top of the SD bar, not in it
    assert _png_width(fig) <= MAX_PX
    one = plots.bars(long[long.seed == 0], "Obs. 2")
    assert one._suptitle.get_text().endswith("seed 0") and "SD" not in one._suptitle.get_text()
    plt.close("all")


# --- notebook 09 ----------------------------------------------------------------------------------

def _groups():
    rows = []
    for s, names, target in (("target_mismatch", ["T-shirt", "Trouser", "Sandal", "Bag", "Ankle boot"], {2, 4}),
                             ("data_mismatch", ["tops", "bottoms", "footwear", "bags"], {2})):
        for g, name in enumerate(names):
            rows.append({"scenario": s, "seed": 0, "label": g, "group": name, "acc_drop": 10.0 * g,
                         "abs_acc_change": 10.0 * g, "abs_loss_change": 0.1 * g, "absorption": 5.0 - g,
                         "proximity": 0.9 if g in target else 0.3, "target": g in target,
                         "identified": g in target, "K": len(target)})
    return pd.DataFrame(rows)


def test_identification_says_when_proximity_is_taken():
    fig = plots.identification(_groups(), score="proximity")
    head = fig._suptitle.get_text()
    assert head.startswith("feature cosine to D_f in the original model (before Phase I), seed 0")
    assert "after Phase I" not in head.split("\n")[0]
    assert "after Phase I" in plots.identification(_groups(), score="acc_drop")._suptitle.get_text()
    plt.close("all")


def test_probe_wraps_scores_into_rows_at_readme_width():
    fig = plots.probe(_groups())
    assert len(fig.axes) == 4 * 2  # one row per score, one column per scenario
    assert fig.axes[0].get_gridspec().get_geometry() == (4, 2)
    assert "seed 0" in fig._suptitle.get_text()
    assert _png_width(fig) <= MAX_PX


def _dynamics():
    dyn = pd.DataFrame({"scenario": "target_mismatch", "variant": ["TARF"] * 3 + ["TARF, t0 = 0"] * 2,
                        "t": [0.0, 1.0, 2.0, 0.0, 2.0], "acc D_t": [98, 70, 50, 98, 30.0],
                        "acc D_r": [90, 65, 90, 90, 87.0], "acc D_f": [97, 55, 0, 97, 0.0],
                        "acc D_fr": [98, 77, 79, 98, 50.0]})
    dyn["acc D_r - acc D_t"] = dyn["acc D_r"] - dyn["acc D_t"]
    levels = pd.DataFrame({"scenario": ["target_mismatch"], "variant": ["Retrained"], "acc D_t": [0.0],
                           "acc D_r": [92.0], "acc D_f": [0.0], "acc D_fr": [0.0], "acc D_r - acc D_t": [92.0]})
    sched = pd.DataFrame({"scenario": "target_mismatch", "t_start": [0.0, 1.0, 1.5], "t_end": [1.0, 1.5, 2.0],
                          "phase": [1, 2, 3], "k": [0.015, 0.005, 0.0], "tau=1 fraction": [0.0, 0.8, 0.8]})
    return dyn, levels, sched


def test_dynamics_ticks_retrained_column_and_distinct_variant_colours():
    dyn, levels, sched = _dynamics()
    fig = plots.dynamics(dyn, levels, sched, seed=0)
    top, bottom = fig.axes[:2]
    assert top.get_title().endswith("seed 0")
    fig.canvas.draw()
    for ax in (top, bottom):  # the top panel keeps its tick labels despite sharex
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_visible()]
        assert labels[-1] == "Retrained" and "1" in labels
    # Retrained's equal levels (0, 0, 0) are three diamonds side by side, not one hidden line
    diamonds = [ln for ln in top.lines if ln.get_marker() == "D"]
    zero = [ln.get_xdata()[0] for ln in diamonds if ln.get_ydata()[0] == 0.0]
    assert len(set(zero)) == 3
    variant_colours = {matplotlib.colors.to_hex(ln.get_color()) for ln in bottom.lines if ln.get_label().startswith("TARF")}
    assert len(variant_colours) == 2 and not variant_colours & set(plots.SET_COLORS.values())
    plt.close(fig)


def test_ablations_label_small_bars_and_keep_one_metric_order():
    rows = [("k", v, s, 50.0 - 400 * v) for v in (0.01, 0.02, 0.08) for s in ("target_mismatch", "data_mismatch")]
    abl = pd.DataFrame([{"knob": k, "value": str(v), "scenario": s, "Gap": g, "UA": np.nan, "RA": np.nan}
                        for k, v, s, g in rows])
    abl = pd.concat([abl, pd.DataFrame([
        {"knob": "schedule", "value": v, "scenario": "model_mismatch", "UA": 99.8, "RA": 99.1, "Gap": g}
        for v, g in (("constant", 0.29), ("annealed", 0.34))] + [
        {"knob": "identified_op", "value": v, "scenario": "target_mismatch", "UA": u, "RA": 90.0, "Gap": g}
        for v, u, g in (("clean", 52.7, 26.8), ("ascent", 89.4, 45.0))])], ignore_index=True)
    for c in ("TA", "MIA", "FR_acc", "UA_R"):
        abl[c] = np.nan
    fig = plots.ablations(abl, default_k=0.02, seed=0)
    assert fig._suptitle.get_text().endswith("seed 0")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Gap", "UA", "RA"]
    sched = fig.axes[1]
    assert {"0.3", "100", "99"} <= {t.get_text() for t in sched.texts}  # a Gap of 0.3 is written out
    for ax in fig.axes[1:3]:  # bars in the legend's order in every panel
        drawn = [np.array(c.patches[0].get_facecolor()[:3]) for c in ax.containers]
        nearest = [min(("Gap", "UA", "RA"), key=lambda m: np.abs(matplotlib.colors.to_rgb(plots.METRIC_COLORS[m]) - c).sum())
                   for c in drawn]  # seaborn desaturates the palette a little
        assert nearest == ["Gap", "UA", "RA"]
    assert _png_width(fig) <= MAX_PX


# --- notebooks 11 and 12 --------------------------------------------------------------------------

def test_concepts_has_a_title_and_names_the_baselines():
    df = pd.DataFrame([{"scenario": s, "given": g, "seed": seed, "precision": 100.0, "recall": 100.0,
                        "Gap TARF": 10.0 + seed, "Gap best baseline": 30.0, "Gap Original": 50.0,
                        "best baseline": "ft"}
                       for s in ("target_mismatch", "data_mismatch") for g in ("Coat", "Shirt") for seed in (0, 4)])
    fig = plots.concepts(df, ["ft", "ga"])
    text = _texts(fig)
    assert "seeds 0, 4" in fig._suptitle.get_text()
    assert "Gap best of FT, GA" in text and "Gap best baseline" not in text
    assert _png_width(fig) <= MAX_PX


def _ks():
    rows = []
    for s, variants in (("target_mismatch", ["K-1", "K", "K+1", "p=5", "p=10"]),
                        ("data_mismatch", ["K", "K+1", "p=5", "p=10"])):
        for seed in (0, 4):
            for i, v in enumerate(variants):
                rows.append({"scenario": s, "seed": seed, "variant": v,
                             "mode": "sample" if v.startswith("p=") else "group",
                             "Gap": 30.0 + i, "UA": 60.0 + i, "recall": 100.0 - 10 * i, "fr_share": 22.2})
    return pd.DataFrame(rows)


def test_k_sensitivity_joins_no_line_across_the_two_families():
    fig = plots.k_sensitivity(_ks())
    assert "mean over seeds 0, 4" in fig._suptitle.get_text()
    for ax in fig.axes:
        ticks = dict(zip((t.get_text() for t in ax.get_xticklabels()), ax.get_xticks()))
        p_start = min(x for name, x in ticks.items() if name.startswith("p="))
        for ln in ax.lines:
            x = np.asarray(ln.get_xdata(), dtype=float)
            if len(x) > 1:  # every drawn line stays within one family
                assert (x < p_start - 0.5).all() or (x > p_start - 0.5).all()
    assert _png_width(fig) <= MAX_PX


def test_mia_decision_names_scenario_seed_and_its_legend():
    grid = np.linspace(0, 1, 11)
    rows = [pd.DataFrame({"scenario": "target_mismatch", "seed": 0, "method": m, "kind": "grid",
                          "confidence": grid, "decision": grid - 0.5, "member": grid > 0.5})
            for m in ("retrained", "tarf")]
    rows += [pd.DataFrame({"scenario": "target_mismatch", "seed": 0, "method": m, "kind": k,
                           "confidence": np.linspace(0, 1, 20), "decision": 0.0, "member": False})
             for m in ("retrained", "tarf") for k in ("D_t", "member", "non-member")]
    fig = plots.mia_decision(pd.concat(rows, ignore_index=True))
    head = fig._suptitle.get_text()
    assert "target mismatch" in head and head.endswith("seed 0")
    (leg,) = fig.legends
    assert leg.get_title().get_text() not in ("", "kind")
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert _png_width(fig) <= MAX_PX


def test_gap_terms_names_its_seeds():
    d = pd.DataFrame({"scenario": "all_matched", "method": ["scrub", "ft"], "n_seeds": 3,
                      "dUA": [0.0, 2.0], "dRA": [2.0, 7.0], "dTA": [0.5, 5.0], "dMIA": [0.0, 2.0]})
    assert "mean over seeds 0, 4, 5" in plots.gap_terms(d, [0, 4, 5])._suptitle.get_text()
    assert "mean over 3 seeds" in plots.gap_terms(d)._suptitle.get_text()
    plt.close("all")


def test_reviewers_verdict_answers_each_question_per_scenario():
    informed = pd.DataFrame([{"scenario": "target_mismatch", "Gap TARF": 32.5, "best +id": "salun+id",
                              "Gap +id": 4.5, "TARF below best +id": False}])
    k = pd.DataFrame([{"scenario": "data_mismatch", "Gap K": 48.8, "best wrong K": "K+1", "Gap wrong K": 52.0,
                       "best p": "p=2.5", "Gap best p": 50.1, "true K lowest Gap": True}])
    changes = pd.DataFrame([{"scenario": "target_mismatch", "best_Gap": "ft", "Gap": 31.6,
                             "best_Gap_no_MIA": "tarf", "Gap_no_MIA": 22.4, "differs": True, "n_moved": 2}])
    v = reviewers.verdict(informed, k, changes)
    assert v["answer"].tolist() == ["no", "yes", "yes"]
    assert v["scenario"].tolist() == ["target_mismatch", "data_mismatch", "target_mismatch"]
    assert "salun+id 4.50" in v["evidence"].iloc[0] and "ft 31.60 -> tarf 22.40" in v["evidence"].iloc[2]
