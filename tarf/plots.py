"""Every figure of the companion, and how it is saved.

One function per figure, each taking the long-form DataFrame its notebook builds and returning a
matplotlib figure: ``partition_grid`` (notebook 01), ``training_curves`` (02), ``obs1`` / ``bars`` /
``obs3`` / ``obs5`` / ``obs6`` (03–08; the paper's Fig. 2 and Fig. 3), ``phases`` /
``identification`` / ``probe`` / ``dynamics`` / ``ablations`` (09; Fig. 4, 5a, 5b, 7 and the
Fashion-MNIST probe, docs/tarf.md#fashion-mnist-probe), ``gap_heatmaps`` (10), ``concepts`` (11)
and ``k_sensitivity`` / ``gap_terms`` / ``mia_decision`` (12).

The figures of 03–09, 11 and 12 say which seeds they show: "seed N" in the title of a one-seed
figure (the notebooks pass ``seed`` where the data do not carry it), "mean over seeds …" and the
spread drawn otherwise (``seed_note``).

Notebooks save a figure with ``save(fig, name, profile, data)``: ``figures/<profile>/<name>.png``
and ``.pdf`` (byte-stable: no creation date, producer or software stamp) and, when ``data`` is
given, ``<name>.csv`` with the plotted numbers.

The palette is defined once, at the top, and fixed by role, so the same data have the same colour
in every figure: D_f red, D_fr orange, D_ar blue, D_t purple, D_r green, everything else grey;
metrics UA orange, RA blue, TA green, MIA purple, Gap dark grey; TARF's phases I / II / III shaded
red / yellow / green, target-concept groups orange. Scenario and method names come from
``tarf.table3``.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from . import timing
from .paths import figures_dir
from .store import atomic_write_bytes
from .table3 import METHOD_NAMES, SCENARIO_NAMES
from .unlearn.tarf import rank_groups

# --- palette --------------------------------------------------------------------------------------

# data sets and partitions (docs/scenarios.md#partitions); "rest"/"other": data outside them
SET_COLORS = {"D_f": "#d62728", "D_fr": "#ff7f0e", "D_ar": "#1f77b4", "D_t": "#9467bd", "D_r": "#2ca02c",
              "rest": "#c7c7c7", "other": "#7f7f7f"}
ROLE_ORDER = ("rest", "D_ar", "D_fr", "D_f")  # drawing order: the rest first, D_f on top
# colours for classes that are not D_f (D_f's classes are always red)
CLASS_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94"]
METRIC_COLORS = {"UA": "#dd8452", "RA": "#4c72b0", "TA": "#55a868", "MIA": "#8172b3", "Gap": "#595959",
                 "FR_acc": "#ff7f0e", "UA_R": "#1f77b4"}
# TARF's identification: target-concept groups (D_fr) orange, the others grey
TARGET, OTHER = SET_COLORS["D_fr"], SET_COLORS["rest"]
PHASE_COLORS = {1: "#f4cccc", 2: "#fff2cc", 3: "#d9ead3"}
PHASE_NAMES = {1: "I identification", 2: "II separation", 3: "III retraining approx."}
# notebook 11: identification precision / recall, and the Gap rows compared
MEASURE_COLORS = {"precision": METRIC_COLORS["RA"], "recall": METRIC_COLORS["UA"]}
GAP_ROW_COLORS = {"Gap TARF": "#c44e52", "Gap best baseline": METRIC_COLORS["Gap"],
                  "Gap Original": SET_COLORS["rest"]}
SCORE_LABELS = {"acc_drop": "accuracy drop (points)", "abs_acc_change": "|accuracy change| (points)",
                "abs_loss_change": "mean |loss change|", "absorption": "share of D_f absorbed (points)",
                "proximity": "feature cosine to D_f"}
# when each score is taken: proximity in the original model alone, the others from Phase I's change
SCORE_WHEN = {"proximity": "in the original model (before Phase I)"}
_EMBEDDING_NAMES = {"tsne": "t-SNE", "pca": "PCA"}


def _seeds(data: pd.DataFrame | None = None, seed=None) -> list[int]:
    """The seeds a figure shows: ``seed`` (an int or a list) when given, else those in the data's
    "seed" column ([] when neither says)."""
    if seed is not None:
        return [int(s) for s in np.atleast_1d(seed)]
    if data is not None and "seed" in data:
        return sorted(int(s) for s in pd.unique(data["seed"].dropna()))
    return []


def seed_note(seeds, what: str = "mean", spread: str = "") -> str:
    """How many seeds a figure shows, for its title: "seed 0", or "mean over seeds 0, 4, 5" with
    ``spread`` appended (e.g. "error bars: SD"); "" when the seeds are unknown."""
    seeds = list(seeds)
    if not seeds:
        return ""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"{what} over seeds {', '.join(str(s) for s in seeds)}" + (f"; {spread}" if spread else "")


def _titled(title: str, seeds) -> str:
    note = seed_note(seeds)
    return f"{title}, {note}" if note else title


@timing.stage("figure export")
def save(fig, name: str, profile: str, data: pd.DataFrame | None = None) -> None:
    """Write figures/<profile>/<name>.{png,pdf} (and .csv of ``data``) atomically."""
    out = figures_dir(profile)
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, metadata=meta, bbox_inches="tight", dpi=200)  # readable at README width
        atomic_write_bytes(out / f"{name}.{ext}", buf.getvalue())
    if data is not None:
        atomic_write_bytes(out / f"{name}.csv", data.to_csv(index=False).encode())


# --- notebooks 01–02: splits and base training ----------------------------------------------------

def partition_grid(ctx, scenario: str, per_part: int = 8, seed: int = 0):
    """A row of example training images for each partition of one scenario (notebook 01)."""
    sc = ctx.split[scenario]
    parts = [p for p in ("f", "fr", "ar", "r") if len(sc.idx[p])]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(parts), per_part, figsize=(per_part * 0.9, len(parts) * 1.0), squeeze=False)
    for row, p in zip(axes, parts):
        pick = rng.choice(sc.idx[p], size=min(per_part, len(sc.idx[p])), replace=False)
        for ax, i in zip(row, np.sort(pick)):
            img = ctx.ds.x_train[i].permute(1, 2, 0).numpy()
            ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None)
            ax.set_xticks([]), ax.set_yticks([])
        for ax in row[len(pick):]:
            ax.axis("off")
        row[0].set_ylabel(f"D_{p}", rotation=0, ha="right", va="center")
    fig.suptitle(scenario.replace("_", " "))
    return fig


def training_curves(logs: pd.DataFrame):
    """Loss and test accuracy per epoch, one line per trained model (notebook 02)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    sns.lineplot(data=logs, x="epoch", y="loss", hue="model", marker="o", ax=axes[0])
    sns.lineplot(data=logs, x="epoch", y="test_acc", hue="model", marker="o", ax=axes[1], legend=False)
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("test accuracy (%)")
    fig.tight_layout()
    return fig


# --- notebooks 03–08: the observations (paper Fig. 2, Fig. 3) -------------------------------------

def _scatter(ax, pts: pd.DataFrame, hue: str, colors: dict, order, size: dict | None = None) -> None:
    for g in order:
        d = pts[pts[hue] == g]
        if len(d):
            s = (size or {}).get(g, 10)
            ax.scatter(d["dim 1"], d["dim 2"], s=s, c=colors[g], label=f"{g} ({len(d)})", alpha=0.8,
                       linewidths=0, rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])


def obs1(pts: pd.DataFrame, method: str = "tsne", seed: int | None = None):
    """Fine original: D_f (red) against each retaining class (its own colour); ``seed`` (the
    original's) goes into the title."""
    groups = list(dict.fromkeys(pts.sort_values("fine id", kind="stable")["group"]))  # fine-id order
    df_groups = [g for g in groups if g.startswith("D_f: ")]
    others = [g for g in groups if g not in df_groups]
    colors = {g: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, g in enumerate(others)}
    colors |= {g: SET_COLORS["D_f"] for g in df_groups}
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _scatter(ax, pts, "group", colors, others + df_groups, {g: 16 for g in df_groups})
    ax.set_title(_titled(f"Obs. 1 — {SCENARIO_NAMES.get(pts['scenario'].iloc[0], '')}: fine original "
                         f"({_EMBEDDING_NAMES.get(method, method)})", _seeds(pts, seed)))
    ax.legend(fontsize=9, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def _embedding_figure(fig, title: str, method: str, seeds=()):
    """Legends under every panel (off the points) and the title naming the embedding and the seed
    (Obs. 3 and Obs. 5)."""
    for ax in fig.axes:
        ax.legend(fontsize=9, markerscale=1.5, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                  frameon=False, handletextpad=0.1, columnspacing=1.0)
    fig.suptitle(_titled(f"{title} ({_EMBEDDING_NAMES.get(method, method)})", seeds))
    fig.tight_layout()
    return fig


def obs3(pts: pd.DataFrame, method: str = "tsne", seed: int | None = None):
    """One panel per mismatch scenario, each its own original (seed ``seed``), points coloured by role."""
    scen = list(dict.fromkeys(pts["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(min(3.4 * len(scen), 10.5), 3.7), squeeze=False)
    for ax, s in zip(axes[0], scen):
        d = pts[pts["scenario"] == s]
        _scatter(ax, d, "role", SET_COLORS, ROLE_ORDER, {"rest": 5, "D_f": 14, "D_fr": 12, "D_ar": 12})
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} ({d['model'].iloc[0]} original)")
    return _embedding_figure(fig, "Obs. 3 — representation by role", method, _seeds(pts, seed))


def obs5(pts: pd.DataFrame, method: str = "tsne", seed: int | None = None):
    """The concept's classes only: coarse original (left) vs fine original (right), by fine class.
    The other classes of the superclass are D_ar only for the coarse model (model mismatch); in the
    fine model they are just the rest of the superclass (docs/scenarios.md#partitions)."""
    classes = list(dict.fromkeys(pts.sort_values("fine id", kind="stable")["fine class"]))
    given = set(pts.loc[pts["role"] == "D_f", "fine class"])
    others = [c for c in classes if c not in given]
    colors = {c: SET_COLORS["D_f"] for c in given}
    colors |= {c: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, c in enumerate(others)}
    order = others + sorted(given)
    sup = pts["coarse class"].iloc[0] if "coarse class" in pts and len(pts) else "the superclass"
    rest = {"coarse": "D_ar", "fine": f"rest of {sup}"}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, ls in zip(axes, ("coarse", "fine")):
        labels = {c: f"{c} (D_f)" if c in given else f"{c} ({rest[ls]})" for c in classes}
        d = pts[pts["model"] == ls]
        d = d.assign(cls=d["fine class"].map(labels))
        _scatter(ax, d, "cls", {labels[c]: colors[c] for c in classes}, [labels[c] for c in order])
        ax.set_title(f"{ls} original")
    return _embedding_figure(fig, "Obs. 5 — the concept's classes only", method, _seeds(pts, seed))


def bars(long: pd.DataFrame, title: str = ""):
    """Grouped bars of UA and RA per method, one panel per scenario (Obs. 2, Obs. 4): the mean over
    the seeds in ``long``, error bars one SD (sample), each mean written above its error bar."""
    scen = list(dict.fromkeys(long["scenario"]))
    methods = list(dict.fromkeys(long["method"]))
    metrics = list(dict.fromkeys(long["metric"]))
    seeds = _seeds(long)
    several = len(seeds) > 1
    note = seed_note(seeds, "bars: mean", "error bars: SD")
    # seaborn's "sd" is the sample SD (ddof 1), so the labels sit on the drawn error bars
    stats = long.groupby(["scenario", "method", "metric"])["value"].agg(["mean", "std"])
    # one panel per scenario, stacked, so the figure stays readable at README width
    fig, axes = plt.subplots(len(scen), 1, figsize=(max(6.0, 0.75 * len(methods) + 2.0), 2.9 * len(scen) + 0.4),
                             squeeze=False, sharey=True)
    for ax, s in zip(axes[:, 0], scen):
        sns.barplot(data=long[long["scenario"] == s], x="method", y="value", hue="metric", order=methods,
                    hue_order=metrics, palette=METRIC_COLORS, errorbar="sd" if several else None, ax=ax)
        for metric, c in zip(metrics, ax.containers):
            for patch in c:  # a bar's category is its rounded x (dodged bars sit within ± 0.4)
                m = methods[int(round(patch.get_x() + patch.get_width() / 2))]
                if (s, m, metric) not in stats.index:
                    continue
                mean, sd = stats.loc[(s, m, metric)]
                top = mean + (sd if several and np.isfinite(sd) else 0.0)
                ax.annotate(f"{mean:.0f}", (patch.get_x() + patch.get_width() / 2, max(top, 0.0)),
                            xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=8)
        if len(scen) > 1:
            ax.set_title(SCENARIO_NAMES.get(s, s))
        ax.set_xlabel("")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 125)  # room for a label above a 100 ± SD bar
        ax.set_yticks(range(0, 101, 20))
        ax.get_legend().remove()
    head = title or ", ".join(SCENARIO_NAMES.get(s, s) for s in scen)
    fig.suptitle("\n".join(t for t in (head, note) if t), x=0.02, ha="left", fontsize=10)
    fig.tight_layout()
    handles, labels = axes[0, 0].get_legend_handles_labels()  # after the layout, beside the title
    fig.legend(handles, labels, loc="upper right", ncol=len(metrics), frameon=False, fontsize=9)
    return fig


def obs6(curves: pd.DataFrame, seed: int | None = None):
    """Mean CE per GA step on D_f, the aligned data and the other data; coarse left, fine right,
    on one y scale: the observation compares how much each set's loss rises. One seed: ``seed``,
    else the data's "seed" column, in the title."""
    models = list(dict.fromkeys(curves["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False, sharey=True)
    for ax, ls in zip(axes[0], models):
        d = curves[curves["model"] == ls]
        sets = list(dict.fromkeys(d["set"]))
        sns.lineplot(data=d, x="step", y="ce", hue="set", hue_order=sets, palette=SET_COLORS, marker="o",
                     markersize=4, ax=ax)
        ax.set_title(f"{ls} original, GA on D_f ({SCENARIO_NAMES.get(d['scenario'].iloc[0], '')} request)")
        ax.set_xlabel("GA step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean cross-entropy")
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle(_titled("Obs. 6 — losses during gradient ascent on D_f", _seeds(curves, seed)))
    fig.tight_layout()
    return fig


# --- notebook 09: TARF (paper Fig. 4, 5a, 5b, 7); notebook 10: the Gap heatmaps -------------------

def _shade(ax, segs: pd.DataFrame) -> None:
    """Shade each phase over its [t_start, t_end) stretch (one legend entry per phase)."""
    seen = set()
    for _, r in segs.iterrows():
        ph = int(r["phase"])
        if ph not in PHASE_COLORS:
            continue
        ax.axvspan(r["t_start"], r["t_end"], color=PHASE_COLORS[ph], zorder=0,
                   label=None if ph in seen else f"phase {PHASE_NAMES[ph]}")
        seen.add(ph)


def _steps(d: pd.DataFrame, col: str):
    x = np.append(d["t_start"].to_numpy(), d["t_end"].to_numpy()[-1])
    y = np.append(d[col].to_numpy(), d[col].to_numpy()[-1])
    return x, y


def phases(sched: pd.DataFrame, seed: int | None = None):
    """Fig. 4: k(t) and the τ = 1 share of D_un over the epochs, one column per scenario (their lines
    would overlap in one panel), phases shaded, the phase legend below the panels."""
    scen = list(dict.fromkeys(sched["scenario"]))
    fig, axes = plt.subplots(2, len(scen), figsize=(min(2.6 * len(scen), 10.0), 4.6), sharex=True, sharey="row",
                             squeeze=False)
    for j, s in enumerate(scen):
        d = sched[sched["scenario"] == s]
        for ax, col in zip(axes[:, j], ("k", "tau=1 fraction")):
            _shade(ax, d)
            ax.step(*_steps(d, col), where="post", color="black", lw=2)
        axes[0, j].set_title(SCENARIO_NAMES.get(s, s), fontsize=10)
        axes[1, j].set_xlabel("epoch t")
    axes[0, 0].set_ylabel("k(t)")
    axes[1, 0].set_ylabel("share of D_un, τ = 1")
    axes[1, 0].set_ylim(-0.05, 1.05)
    handles = [plt.Rectangle((0, 0), 1, 1, color=PHASE_COLORS[p]) for p in PHASE_COLORS]
    fig.legend(handles, [f"phase {PHASE_NAMES[p]}" for p in PHASE_COLORS], loc="lower center", ncol=3,
               fontsize=9, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(_titled("TARF's schedule (paper Fig. 4)", _seeds(sched, seed)))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _group_bars(ax, g: pd.DataFrame, score: str, marked: set, labels: bool = True) -> None:
    colors = [TARGET if t else OTHER for t in g["target"]]
    edges = ["black" if lab in marked else "none" for lab in g["label"]]
    ax.bar(range(len(g)), g[score], color=colors, edgecolor=edges, linewidth=1.5)
    top = g[score].max() if len(g) else 0
    for i, lab in enumerate(g["label"]):
        if lab in marked:
            ax.annotate("★", (i, g[score].iloc[i]), ha="center", va="bottom", fontsize=11,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(g)), g["group"] if labels else [], rotation=45, ha="right", fontsize=8)
    for tick, t in zip(ax.get_xticklabels(), g["target"]):  # a zero bar is invisible: colour its name
        if t:
            tick.set_color(TARGET)
            tick.set_fontweight("bold")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(top=max(top, 0) * 1.25 + 1e-9 if top > 0 else None)  # room for the star


def _group_legend(fig, y: float) -> None:
    handles = [plt.Rectangle((0, 0), 1, 1, color=TARGET), plt.Rectangle((0, 0), 1, 1, color=OTHER),
               plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black")]
    fig.legend(handles, ["target-concept group (D_fr)", "other group", "identified (top-K, ★)"],
               loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, y), frameon=False)


def identification(groups: pd.DataFrame, score: str = "acc_drop"):
    """Fig. 5a: each model-label group's score — Phase I's change (original → θ_t1), or for
    proximity the original model's, before Phase I — target groups orange, top-K starred."""
    scen = list(dict.fromkeys(groups["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(4.5 * len(scen), 3.6), squeeze=False)
    for ax, s in zip(axes[0], scen):
        g = groups[groups["scenario"] == s].sort_values("label")
        _group_bars(ax, g, score, set(g.loc[g["identified"], "label"]))
        K = int(g["K"].iloc[0])
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} (K = {K})")
        ax.set_ylabel(SCORE_LABELS[score])
    _group_legend(fig, -0.08)
    when = SCORE_WHEN.get(score, "after Phase I")
    paper = "paper Fig. 5a" if score == "acc_drop" else "paper Fig. 5a ranks by the accuracy drop after Phase I"
    fig.suptitle(_titled(f"{SCORE_LABELS[score]} {when}", _seeds(groups))
                 + f": the score TARF ranked by\n({paper})", fontsize=11)
    fig.tight_layout()
    return fig


def probe(groups: pd.DataFrame, scores=("acc_drop", "abs_loss_change", "absorption", "proximity")):
    """docs/tarf.md#fashion-mnist-probe: the group scores, one row per score and one column per
    scenario (so the figure stays README-wide), each with its own top-K starred (a score absent or
    all NaN in `groups` is left out)."""
    scores = [c for c in scores if c in groups and groups[c].notna().all()]
    scen = list(dict.fromkeys(groups["scenario"]))
    n = [int((groups["scenario"] == s).sum()) for s in scen]  # panel widths follow the group counts
    fig, axes = plt.subplots(len(scores), len(scen), figsize=(min(2.4 + 0.55 * sum(n), 9.5), 2.2 * len(scores) + 1.4),
                             squeeze=False, sharex="col", gridspec_kw={"width_ratios": n})
    for j, s in enumerate(scen):
        g = groups[groups["scenario"] == s].sort_values("label")
        K = int(g["K"].iloc[0])
        for i, sc in enumerate(scores):
            ax = axes[i, j]
            _group_bars(ax, g, sc, set(rank_groups(dict(zip(g["label"], g[sc])))[:K]),
                        labels=i == len(scores) - 1)
            ax.set_title(f"{SCENARIO_NAMES.get(s, s)} (K = {K}): {sc}", fontsize=9)
            ax.set_ylabel(SCORE_LABELS[sc].replace(" (", "\n("), fontsize=8)
            ax.tick_params(axis="y", labelsize=8)
    _group_legend(fig, 0.0)
    when = "; ".join(f"{', '.join(c for c in scores if SCORE_WHEN.get(c, 'over Phase I') == w)}: {w}"
                     for w in dict.fromkeys(SCORE_WHEN.get(c, "over Phase I") for c in scores))
    fig.suptitle(_titled("Which groups each score would identify (★ = its top-K)", _seeds(groups)) + f"\n{when}",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


# Fig. 5b's runs: black and brown, no colour of the monitored sets (SET_COLORS); Retrained grey dashed
VARIANT_STYLES = ({"color": "black", "marker": "o", "ls": "-"}, {"color": "#8c564b", "marker": "s", "ls": "-."},
                  {"color": "#17becf", "marker": "^", "ls": ":"})
RETRAINED_STYLE = {"color": "#7f7f7f", "ls": "--", "lw": 1.2}


def dynamics(dyn: pd.DataFrame, levels: pd.DataFrame, sched: pd.DataFrame | None = None,
             seed: int | None = None):
    """Fig. 5b. Top: accuracy on each monitored set through the phases (first variant), Retrained's
    as a dashed line and a diamond in the "Retrained" column (side by side, so equal levels stay
    visible). Bottom: acc(D_r) − acc(D_t) per variant, against Retrained's RA − UA."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.4), sharex=True)
    first = dyn["variant"].iloc[0]
    d0 = dyn[dyn["variant"] == first]
    t_max = float(dyn["t"].max())
    x_ret = t_max + 0.2 * max(t_max, 1.0)  # the Retrained column, right of the last epoch
    if sched is not None:
        for ax in axes:
            _shade(ax, sched)
    cols = [c for c in dyn.columns if c.startswith("acc D_") and c != "acc D_r - acc D_t" and d0[c].notna().any()]
    dx = 0.035 * max(t_max, 1.0)
    for i, col in enumerate(cols):
        name, c = col[4:], SET_COLORS.get(col[4:])
        axes[0].plot(d0["t"], d0[col], marker="o", color=c, label=name)
        axes[0].axhline(levels[col].iloc[0], color=c, ls="--", lw=1, alpha=0.7)
        axes[0].plot(x_ret + (i - (len(cols) - 1) / 2) * dx, levels[col].iloc[0], marker="D", color=c, ms=7,
                     mec="black", mew=0.6, ls="none", clip_on=False)
    axes[0].set_title(_titled(f"{first}: accuracy per set", _seeds(dyn, seed)))
    axes[0].set_ylabel("accuracy (%)")
    h, lab = axes[0].get_legend_handles_labels()
    h.append(plt.Line2D([], [], color="grey", ls="--", lw=1, marker="D", mec="black", mew=0.6))
    lab.append("Retrained (same colour)")
    axes[0].legend(h, lab, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    for (v, d), st in zip(dyn.groupby("variant", sort=False), VARIANT_STYLES * len(dyn)):
        axes[1].plot(d["t"], d["acc D_r - acc D_t"], label=v, **st)
    ret = levels["acc D_r - acc D_t"].iloc[0]
    axes[1].axhline(ret, **RETRAINED_STYLE)
    axes[1].plot(x_ret, ret, marker="D", color=RETRAINED_STYLE["color"], ms=7, mec="black", mew=0.6, ls="none")
    axes[1].plot([], [], marker="D", mec="black", mew=0.6, label="Retrained RA − UA", **RETRAINED_STYLE)
    axes[1].set_title("retain − forget accuracy (paper Fig. 5b; shading: full TARF)")
    axes[1].set_ylabel("acc(D_r) − acc(D_t) (points)")
    h, lab = axes[1].get_legend_handles_labels()
    keep = [k for k, text in enumerate(lab) if not text.startswith("phase ")]  # phases: top legend
    axes[1].legend([h[k] for k in keep], [lab[k] for k in keep], fontsize=8, loc="center left",
                   bbox_to_anchor=(1.0, 0.5), frameon=False)
    ticks = sorted(set(dyn["t"].dropna().astype(float)))
    for ax in axes:
        ax.set_xticks([*ticks, x_ret], [f"{t:g}" for t in ticks] + ["Retrained"])
        ax.tick_params(axis="x", labelbottom=True)  # sharex hides the top panel's labels otherwise
        ax.set_xlim(min(ticks) - 0.05 * max(t_max, 1.0), x_ret + 0.12 * max(t_max, 1.0))
        ax.set_xlabel("epoch t (0 = original)")
    fig.tight_layout()
    return fig


_PANEL_METRICS = {"k": ("Gap",), "schedule": ("Gap", "UA", "RA"), "identified_op": ("Gap", "UA", "RA"),
                  "t0": ("Gap", "UA", "RA"), "group_score": ("Gap", "FR_acc")}
_METRIC_ORDER = ("Gap", "UA", "RA", "TA", "MIA", "FR_acc", "UA_R")  # one order in every panel and legend


# the k sweep's lines: colours no metric uses (UA orange and RA blue are the bars beside them)
SCENARIO_STYLES = {"all_matched": {"color": "#e377c2", "marker": "D"},
                   "target_mismatch": {"color": "#8c564b", "marker": "o"},
                   "model_mismatch": {"color": "#bcbd22", "marker": "^"},
                   "data_mismatch": {"color": "#17becf", "marker": "s"}}
_KNOB_LABELS = {"k": "initial k", "schedule": "k(t) schedule", "identified_op": "identified data: op",
                "t0": "Phase III length t0 (epochs)", "group_score": "group score"}


def _value(v: float) -> str:
    """A bar's label: one decimal below 10, so a Gap of 0.3 next to a UA of 100 still reads."""
    return "" if not np.isfinite(v) else f"{v:.1f}" if abs(v) < 10 else f"{v:.0f}"


def ablations(abl: pd.DataFrame, default_k: float | None = None, seed: int | None = None):
    """Fig. 7: one panel per knob, two per row. The k sweep as Gap lines per scenario (the profile's k
    marked); every other knob as bars, each labelled with its value, metrics always in the order
    Gap, UA, RA (one legend for all bar panels). Legends sit outside the data."""
    knobs = list(dict.fromkeys(abl["knob"]))
    ncol = min(2, len(knobs))
    nrow = -(-len(knobs) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.0 * ncol, 3.3 * nrow + 0.5), squeeze=False)
    for ax in axes.flat[len(knobs):]:
        ax.axis("off")
    shown = set()
    for ax, knob in zip(axes.flat, knobs):
        d = abl[abl["knob"] == knob]
        if knob == "k":
            ks = sorted({float(v) for v in d["value"]})
            for s, g in d.groupby("scenario", sort=False):
                g = g.assign(k=g["value"].astype(float)).sort_values("k")
                ax.plot(g["k"], g["Gap"], label=SCENARIO_NAMES.get(s, s), **SCENARIO_STYLES.get(s, {"marker": "o"}))
            ax.set_xscale("log")
            ax.set_xticks(ks, [f"{k:g}" for k in ks])
            ax.minorticks_off()
            if default_k is not None:
                ax.axvline(default_k, color="grey", ls=":", label=f"profile's k = {default_k:g}")
            ax.set_ylabel("Gap")
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        else:
            ms = sorted((m for m in _PANEL_METRICS.get(knob, ("Gap",)) if d[m].notna().any()),
                        key=_METRIC_ORDER.index)
            shown |= set(ms)
            long = d.melt(id_vars=["value", "scenario"], value_vars=ms, var_name="metric", value_name="score")
            long["x"] = long["value"] + ("\n" + long["scenario"].map(lambda s: SCENARIO_NAMES.get(s, s))
                                         if d["scenario"].nunique() > 1 else "")
            sns.barplot(data=long, x="x", y="score", hue="metric", hue_order=ms, palette=METRIC_COLORS, ax=ax,
                        legend=False)
            for c in ax.containers:
                ax.bar_label(c, labels=[_value(b.get_height()) for b in c], fontsize=8, padding=1)
            ax.set_ylim(0, max(float(long["score"].max()), 1.0) * 1.15)
            ax.set_ylabel("points")
            ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(_KNOB_LABELS.get(knob, knob))
        scen = ", ".join(SCENARIO_NAMES.get(s, s) for s in dict.fromkeys(d["scenario"]))
        ax.set_title(f"{_KNOB_LABELS.get(knob, knob)} ({scen})", fontsize=9)
    if shown:
        ms = [m for m in _METRIC_ORDER if m in shown]
        fig.legend([plt.Rectangle((0, 0), 1, 1, color=METRIC_COLORS[m]) for m in ms], ms, loc="lower center",
                   ncol=len(ms), fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(_titled("TARF ablations (paper Fig. 7)", _seeds(abl, seed)))
    fig.tight_layout(rect=(0, 0.04 if shown else 0, 1, 1))
    return fig


def gap_heatmaps(matrices: dict[str, pd.DataFrame]):
    """Notebook 10: mean Gap per scenario × method, one heatmap per source (ours, the paper's)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(7.5 * len(matrices), 3.6), squeeze=False)
    for ax, (title, m) in zip(axes[0], matrices.items()):
        m = m.astype(float)
        sns.heatmap(m, annot=True, fmt=".2f", cmap="viridis_r", cbar=True, ax=ax, annot_kws={"fontsize": 8},
                    cbar_kws={"label": "Gap", "shrink": 0.8})
        # the best (lowest-Gap) unlearning method of each scenario, outlined
        for i, (_, row) in enumerate(m.iterrows()):
            if row.notna().any():
                j = list(m.columns).index(row.idxmin())
                ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_title(f"Gap — {title} (lower = closer to Retrained; red box: best per row)")
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


# --- notebook 11: every request of the hierarchy --------------------------------------------------

def concepts(df: pd.DataFrame, baselines=None):
    """Notebook 11. Left: identification precision and recall per request (mean over seeds); right:
    TARF's Gap against the best of ``baselines`` (per seed, the lower Gap of them; default: those
    named in the "best baseline" column) and the Original's, one dot per seed."""
    d = df.assign(request=df["given"] + " (" + df["scenario"].str.replace("_mismatch", "") + ")")
    order = list(dict.fromkeys(d["request"]))
    if baselines is None:
        baselines = sorted(b for b in d["best baseline"].dropna().unique() if b != "-")
    best = f"Gap best of {', '.join(METHOD_NAMES.get(b, b) for b in baselines)}"
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 0.36 * len(order) + 2.0), sharey=True)
    pr = d.melt(id_vars=["request"], value_vars=["precision", "recall"], var_name="measure", value_name="%")
    sns.barplot(data=pr, y="request", x="%", hue="measure", order=order, errorbar=None, ax=axes[0],
                palette=MEASURE_COLORS)
    axes[0].set_xlim(0, 105)
    axes[0].set_xlabel("identification vs D_fr (%, mean)")
    axes[0].set_ylabel("request: given class (scenario)")
    axes[0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    gp = d.melt(id_vars=["request"], value_vars=["Gap TARF", "Gap best baseline", "Gap Original"],
                var_name="row", value_name="Gap")
    sns.stripplot(data=gp, y="request", x="Gap", hue="row", order=order, dodge=True, size=5, ax=axes[1],
                  palette=GAP_ROW_COLORS, jitter=False)
    axes[1].set_xlabel("Gap to Retrained (lower is better)")
    axes[1].set_ylabel("")
    h, lab = axes[1].get_legend_handles_labels()
    axes[1].legend(h, [best if t == "Gap best baseline" else t for t in lab], loc="lower center",
                   bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False, handletextpad=0.2,
                   columnspacing=0.8)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Every request of the hierarchy: TARF's identification and its Gap\n"
                 f"seeds {', '.join(str(s) for s in _seeds(d))}: bars = mean, one dot per seed", fontsize=10)
    fig.tight_layout()
    return fig


# --- notebook 12: the reviewers' questions ------------------------------------------------------------

K_MEASURES = {"Gap": METRIC_COLORS["Gap"], "UA": METRIC_COLORS["UA"], "recall": "#1f77b4"}


def k_sensitivity(ks: pd.DataFrame):
    """Gap and UA of TARF and the identification's recall per variant, one panel per scenario, mean
    over seeds; the wrong-K variants (group mode: K − 1, K, K + 1) and the K-free ones (sample mode:
    top p%) are two families, each joined by its own line, none across them. The panel title gives
    D_fr's true share of D_un."""
    scen = list(dict.fromkeys(ks["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(min(4.6 * len(scen), 9.5), 3.9), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], scen):
        d = ks[ks["scenario"] == s]
        variants = list(dict.fromkeys(d["variant"]))
        mean = d.groupby("variant", sort=False)[list(K_MEASURES)].mean()
        mode = d.groupby("variant", sort=False)["mode"].first()
        fams = [[v for v in variants if mode[v] == m] for m in dict.fromkeys(mode[variants])]
        x, pos = {}, 0.0
        for fam in fams:  # a one-slot gap between the families
            x |= {v: pos + i for i, v in enumerate(fam)}
            pos += len(fam) + 1
        for j, (meas, c) in enumerate(K_MEASURES.items()):
            off = (j - 1) * 0.12  # dodge: equal values (UA and recall at 100) stay visible
            for k, fam in enumerate(fams):
                ax.plot([x[v] + off for v in fam], mean.loc[fam, meas], marker="o", ms=6, color=c, lw=1.8,
                        label=meas if k == 0 else None)
        for k in range(1, len(fams)):
            ax.axvline(x[fams[k][0]] - 1, color="grey", lw=0.8, ls=":")
        ax.set_xticks([x[v] for v in variants], variants)
        share = d["fr_share"].iloc[0]
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} (D_fr = {share:.1f}% of D_un)", fontsize=10)
        ax.set_xlabel("group mode: K ± 1    |    sample mode: top p% of D_un", fontsize=9)
        ax.set_ylabel("points (%)")
        ax.grid(axis="y", alpha=0.3)
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="lower center", ncol=len(K_MEASURES), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(_titled("TARF with a wrong K or without K", _seeds(ks)).replace(", mean", ": mean"), fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def gap_terms(decomp: pd.DataFrame, seeds=None):
    """Each method's Gap split into its four terms (|Δ| / 4 per metric, stacked), one panel per
    scenario: how much of the Gap is MIA. ``seeds`` (the means' seeds) go into the title."""
    scen = list(dict.fromkeys(decomp["scenario"]))
    terms = ["dUA", "dRA", "dTA", "dMIA"]
    fig, axes = plt.subplots(len(scen), 1, figsize=(8, 2.4 * len(scen) + 0.4), squeeze=False)
    for ax, s in zip(axes[:, 0], scen):
        d = decomp[decomp["scenario"] == s].set_index("method")
        left = np.zeros(len(d))
        for t in terms:
            v = d[t].to_numpy() / 4
            ax.barh([METHOD_NAMES.get(m, m) for m in d.index], v, left=left, label=t[1:],
                    color=METRIC_COLORS[t[1:]])
            left += v
        ax.invert_yaxis()
        ax.set_title(SCENARIO_NAMES.get(s, s), fontsize=10)
        ax.set_xlabel("Gap = sum of |Δ| / 4")
        ax.grid(axis="x", alpha=0.3)
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper right", ncol=4, fontsize=8, frameon=False)
    note = seed_note(_seeds(seed=seeds) if seeds is not None else [])
    if not note and "n_seeds" in decomp and decomp["n_seeds"].nunique() == 1:
        note = f"mean over {int(decomp['n_seeds'].iloc[0])} seeds"
    fig.suptitle("Gap to Retrained, split into its four terms" + (f"\n{note}" if note else ""),
                 x=0.02, ha="left", fontsize=10)
    fig.tight_layout()
    return fig


MIA_KINDS = {"D_t": ("D_t (the attacked set)", SET_COLORS["D_t"]),
             "member": ("shadow members", SET_COLORS["D_r"]),
             "non-member": ("shadow non-members", "#7f7f7f")}


def mia_decision(dec: pd.DataFrame):
    """The confidence attack's SVC decision over the confidence axis (line; > 0 = member) with the
    confidences of its shadow members, non-members and of D_t below, one panel per method; the
    scenario and seed in the title."""
    methods = list(dict.fromkeys(dec["method"]))
    fig, axes = plt.subplots(2, len(methods), figsize=(min(4.4 * len(methods), 9.5), 5.0), squeeze=False,
                             sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    for j, m in enumerate(methods):
        d = dec[dec["method"] == m]
        g = d[d["kind"] == "grid"]
        axes[0, j].plot(g["confidence"], g["decision"], color="black")
        axes[0, j].axhline(0, color="grey", lw=0.8, ls="--")
        axes[0, j].set_title(METHOD_NAMES.get(m, m))
        axes[0, j].set_ylabel("SVC decision (> 0: member)")
        pts = d[d["kind"] != "grid"]
        kinds = [k for k in MIA_KINDS if (pts["kind"] == k).any()]
        if kinds:
            sns.histplot(data=pts, x="confidence", hue="kind", hue_order=kinds, bins=np.linspace(0, 1, 26),
                         stat="percent", common_norm=False, element="step", fill=False,
                         palette={k: MIA_KINDS[k][1] for k in kinds}, ax=axes[1, j], legend=False)
        axes[1, j].set_ylabel("share of the set (%)")
        axes[1, j].set_xlabel("confidence p[y]")
    handles = [plt.Line2D([], [], color=c) for _, c in MIA_KINDS.values()]
    fig.legend(handles, [lab for lab, _ in MIA_KINDS.values()], title="confidences of", loc="lower center",
               ncol=3, fontsize=8, title_fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
    scen = ", ".join(SCENARIO_NAMES.get(s, s) for s in dict.fromkeys(dec["scenario"]))
    fig.suptitle(_titled(f"Confidence MIA: the SVC's decision and the data ({scen})", _seeds(dec)), fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


__all__ = ["gap_terms", "k_sensitivity", "mia_decision", "seed_note", "CLASS_PALETTE", "GAP_ROW_COLORS", "MEASURE_COLORS", "METHOD_NAMES", "METRIC_COLORS", "PHASE_COLORS",
           "PHASE_NAMES", "SCENARIO_NAMES", "SCORE_LABELS", "SET_COLORS", "ablations", "bars", "concepts",
           "dynamics", "gap_heatmaps", "identification", "obs1", "obs3", "obs5", "obs6", "partition_grid",
           "phases", "probe", "save", "training_curves"]
