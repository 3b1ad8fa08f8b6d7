"""Every figure of the companion, and how it is saved.

One function per figure, each taking the long-form DataFrame its notebook builds and returning a
matplotlib figure: ``partition_grid`` (notebook 01), ``training_curves`` (02), ``obs1`` / ``bars`` /
``obs3`` / ``obs5`` / ``obs6`` (03–08; the paper's Fig. 2 and Fig. 3), ``phases`` /
``identification`` / ``probe`` / ``dynamics`` / ``ablations`` (09; Fig. 4, 5a, 5b, 7 and the
Fashion-MNIST probe, docs/tarf.md#fashion-mnist-probe), ``gap_heatmaps`` (10) and ``concepts`` (11).

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
_EMBEDDING_NAMES = {"tsne": "t-SNE", "pca": "PCA"}


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


def obs1(pts: pd.DataFrame, method: str = "tsne"):
    """Fine original: D_f (red) against each retaining class (its own colour)."""
    groups = list(dict.fromkeys(pts.sort_values("fine id", kind="stable")["group"]))  # fine-id order
    df_groups = [g for g in groups if g.startswith("D_f: ")]
    others = [g for g in groups if g not in df_groups]
    colors = {g: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, g in enumerate(others)}
    colors |= {g: SET_COLORS["D_f"] for g in df_groups}
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _scatter(ax, pts, "group", colors, others + df_groups, {g: 16 for g in df_groups})
    ax.set_title(f"Obs. 1 — {SCENARIO_NAMES.get(pts['scenario'].iloc[0], '')}: fine original ({_EMBEDDING_NAMES.get(method, method)})")
    ax.legend(fontsize=9, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def _embedding_figure(fig, title: str, method: str):
    """Legends in every panel and the title naming the embedding (Obs. 3 and Obs. 5)."""
    for ax in fig.axes:
        ax.legend(fontsize=9, markerscale=1.5, loc="best", frameon=False)
    fig.suptitle(f"{title} ({_EMBEDDING_NAMES.get(method, method)})")
    fig.tight_layout()
    return fig


def obs3(pts: pd.DataFrame, method: str = "tsne"):
    """One panel per mismatch scenario, each its own original, points coloured by role."""
    scen = list(dict.fromkeys(pts["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(4.6 * len(scen), 4.4), squeeze=False)
    for ax, s in zip(axes[0], scen):
        d = pts[pts["scenario"] == s]
        _scatter(ax, d, "role", SET_COLORS, ROLE_ORDER, {"rest": 5, "D_f": 14, "D_fr": 12, "D_ar": 12})
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} ({d['model'].iloc[0]} original)")
    return _embedding_figure(fig, "Obs. 3 — representation by role", method)


def obs5(pts: pd.DataFrame, method: str = "tsne"):
    """The concept's classes only: coarse original (left) vs fine original (right), by fine class."""
    classes = list(dict.fromkeys(pts.sort_values("fine id", kind="stable")["fine class"]))
    given = set(pts.loc[pts["role"] == "D_f", "fine class"])
    others = [c for c in classes if c not in given]
    colors = {c: SET_COLORS["D_f"] for c in given}
    colors |= {c: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, c in enumerate(others)}
    order = others + sorted(given)
    labels = {c: f"{c} (D_f)" if c in given else f"{c} (D_ar)" for c in classes}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, ls in zip(axes, ("coarse", "fine")):
        d = pts[pts["model"] == ls].assign(cls=lambda x: x["fine class"].map(labels))
        _scatter(ax, d, "cls", {labels[c]: colors[c] for c in classes}, [labels[c] for c in order])
        ax.set_title(f"{ls} original")
    return _embedding_figure(fig, "Obs. 5 — the concept's classes only", method)


def bars(long: pd.DataFrame, title: str = ""):
    """Grouped bars of UA and RA per method, one panel per scenario (Obs. 2, Obs. 4)."""
    scen = list(dict.fromkeys(long["scenario"]))
    methods = list(dict.fromkeys(long["method"]))
    metrics = list(dict.fromkeys(long["metric"]))
    several = long["seed"].nunique() > 1
    # one panel per scenario, stacked, so the figure stays readable at README width
    fig, axes = plt.subplots(len(scen), 1, figsize=(max(6.0, 0.75 * len(methods) + 2.0), 2.9 * len(scen)),
                             squeeze=False, sharey=True)
    for ax, s in zip(axes[:, 0], scen):
        sns.barplot(data=long[long["scenario"] == s], x="method", y="value", hue="metric", order=methods,
                    hue_order=metrics, palette=METRIC_COLORS, errorbar="sd" if several else None, ax=ax)
        for c in ax.containers:
            ax.bar_label(c, fmt="%.0f", fontsize=8, padding=1)
        ax.set_title(SCENARIO_NAMES.get(s, s) if len(scen) > 1 else (title or SCENARIO_NAMES.get(s, s)))
        ax.set_xlabel("")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 115)
        ax.get_legend().remove()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=len(metrics), frameon=False, fontsize=9)
    if title and len(scen) > 1:
        fig.suptitle(title, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def obs6(curves: pd.DataFrame):
    """Mean CE per GA step on D_f, the aligned data and the other data; coarse left, fine right,
    on one y scale: the observation compares how much each set's loss rises."""
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
    fig.suptitle("Obs. 6 — losses during gradient ascent on D_f")
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


def phases(sched: pd.DataFrame):
    """Fig. 4: k(t) and the τ = 1 share of D_un over the epochs, one column per scenario (their lines
    would overlap in one panel), phases shaded, the phase legend below the panels."""
    scen = list(dict.fromkeys(sched["scenario"]))
    fig, axes = plt.subplots(2, len(scen), figsize=(3.1 * len(scen), 4.6), sharex=True, sharey="row",
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
    fig.suptitle("TARF's schedule (paper Fig. 4)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _group_bars(ax, g: pd.DataFrame, score: str, marked: set) -> None:
    colors = [TARGET if t else OTHER for t in g["target"]]
    edges = ["black" if lab in marked else "none" for lab in g["label"]]
    ax.bar(range(len(g)), g[score], color=colors, edgecolor=edges, linewidth=1.5)
    top = g[score].max() if len(g) else 0
    for i, lab in enumerate(g["label"]):
        if lab in marked:
            ax.annotate("★", (i, g[score].iloc[i]), ha="center", va="bottom", fontsize=11,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(g)), g["group"], rotation=45, ha="right", fontsize=8)
    for tick, t in zip(ax.get_xticklabels(), g["target"]):  # a zero bar is invisible: colour its name
        if t:
            tick.set_color(TARGET)
            tick.set_fontweight("bold")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylim(top=max(top, 0) * 1.15 + 1e-9 if top > 0 else None)


def identification(groups: pd.DataFrame, score: str = "acc_drop"):
    """Fig. 5a: each model-label group's score after Phase I, target groups orange, top-K starred."""
    scen = list(dict.fromkeys(groups["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(4.5 * len(scen), 3.6), squeeze=False)
    for ax, s in zip(axes[0], scen):
        g = groups[groups["scenario"] == s].sort_values("label")
        _group_bars(ax, g, score, set(g.loc[g["identified"], "label"]))
        K = int(g["K"].iloc[0])
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} (K = {K})")
        ax.set_ylabel(SCORE_LABELS[score])
    handles = [plt.Rectangle((0, 0), 1, 1, color=TARGET), plt.Rectangle((0, 0), 1, 1, color=OTHER),
               plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black")]
    fig.legend(handles, ["target-concept group (D_fr)", "other group", "identified (top-K, ★)"],
               loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(f"{SCORE_LABELS[score]} after Phase I, the score TARF ranked by (paper Fig. 5a)")
    fig.tight_layout()
    return fig


def probe(groups: pd.DataFrame, scores=("acc_drop", "abs_loss_change", "absorption", "proximity")):
    """docs/tarf.md#fashion-mnist-probe: the group scores side by side, each with its own top-K starred
    (a score absent or all NaN in `groups` is left out)."""
    scores = [c for c in scores if c in groups and groups[c].notna().all()]
    scen = list(dict.fromkeys(groups["scenario"]))
    fig, axes = plt.subplots(len(scen), len(scores), figsize=(4.2 * len(scores), 3.3 * len(scen)), squeeze=False)
    for row, s in zip(axes, scen):
        g = groups[groups["scenario"] == s].sort_values("label")
        K = int(g["K"].iloc[0])
        for ax, sc in zip(row, scores):
            _group_bars(ax, g, sc, set(rank_groups(dict(zip(g["label"], g[sc])))[:K]))
            ax.set_title(f"{SCENARIO_NAMES.get(s, s)}: {sc}", fontsize=9)
            ax.set_ylabel(SCORE_LABELS[sc], fontsize=8)
    fig.suptitle("Which groups each score would identify (★ = its top-K; orange = target)")
    fig.tight_layout()
    return fig


def dynamics(dyn: pd.DataFrame, levels: pd.DataFrame, sched: pd.DataFrame | None = None):
    """Fig. 5b. Left: accuracy on each monitored set through the phases (first variant), dashed lines
    at Retrained's. Right: acc(D_r) − acc(D_t) per variant, against Retrained's RA − UA."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.4), sharex=True)
    first = dyn["variant"].iloc[0]
    d0 = dyn[dyn["variant"] == first]
    if sched is not None:
        for ax in axes:
            _shade(ax, sched)
    for col in [c for c in dyn.columns if c.startswith("acc D_") and c != "acc D_r - acc D_t"]:
        name = col[4:]
        if d0[col].notna().any():
            axes[0].plot(d0["t"], d0[col], marker="o", color=SET_COLORS.get(name), label=name)
            axes[0].axhline(levels[col].iloc[0], color=SET_COLORS.get(name), ls="--", lw=1)
    axes[0].set_title(f"{first}: accuracy per set")
    axes[0].set_ylabel("accuracy (%)")
    h, lab = axes[0].get_legend_handles_labels()
    h.append(plt.Line2D([], [], color="grey", ls="--", lw=1))
    lab.append("Retrained (dashed, same colour)")
    axes[0].legend(h, lab, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    for v, d in dyn.groupby("variant", sort=False):
        axes[1].plot(d["t"], d["acc D_r - acc D_t"], marker="o", label=v)
    axes[1].axhline(levels["acc D_r - acc D_t"].iloc[0], color="black", ls="--", label="Retrained RA − UA")
    axes[1].set_title("retain − forget accuracy (paper Fig. 5b; shading: full TARF)")
    axes[1].set_ylabel("acc(D_r) − acc(D_t) (points)")
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    for ax in axes:
        ax.set_xlabel("epoch t (0 = original)")
    fig.tight_layout()
    return fig


_PANEL_METRICS = {"k": ("Gap",), "schedule": ("Gap", "UA", "RA"), "identified_op": ("UA", "RA", "Gap"),
                  "t0": ("Gap", "UA", "RA"), "group_score": ("Gap", "FR_acc")}


_KNOB_LABELS = {"k": "initial k", "schedule": "k(t) schedule", "identified_op": "identified data: op",
                "t0": "Phase III length t0 (epochs)", "group_score": "group score"}


def ablations(abl: pd.DataFrame, default_k: float | None = None):
    """Fig. 7: one panel per knob, two per row. The k sweep as Gap lines per scenario (the profile's k
    marked); every other knob as bars. Legends sit outside the data."""
    knobs = list(dict.fromkeys(abl["knob"]))
    ncol = min(2, len(knobs))
    nrow = -(-len(knobs) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax in axes.flat[len(knobs):]:
        ax.axis("off")
    for ax, knob in zip(axes.flat, knobs):
        d = abl[abl["knob"] == knob]
        if knob == "k":
            ks = sorted({float(v) for v in d["value"]})
            for s, g in d.groupby("scenario", sort=False):
                g = g.assign(k=g["value"].astype(float)).sort_values("k")
                ax.plot(g["k"], g["Gap"], marker="o", label=SCENARIO_NAMES.get(s, s))
            ax.set_xscale("log")
            ax.set_xticks(ks, [f"{k:g}" for k in ks])
            ax.minorticks_off()
            if default_k is not None:
                ax.axvline(default_k, color="grey", ls=":", label=f"profile's k = {default_k:g}")
            ax.set_ylabel("Gap")
        else:
            ms = [m for m in _PANEL_METRICS.get(knob, ("Gap",)) if d[m].notna().any()]
            long = d.melt(id_vars=["value", "scenario"], value_vars=ms, var_name="metric", value_name="score")
            long["x"] = long["value"] + ("\n" + long["scenario"].map(lambda s: SCENARIO_NAMES.get(s, s))
                                         if d["scenario"].nunique() > 1 else "")
            sns.barplot(data=long, x="x", y="score", hue="metric", hue_order=ms, palette=METRIC_COLORS, ax=ax)
            ax.set_ylabel("points")
            ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(_KNOB_LABELS.get(knob, knob))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        scen = ", ".join(SCENARIO_NAMES.get(s, s) for s in dict.fromkeys(d["scenario"]))
        ax.set_title(f"{_KNOB_LABELS.get(knob, knob)} ({scen})", fontsize=9)
    fig.suptitle("TARF ablations (paper Fig. 7)")
    fig.tight_layout()
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

def concepts(df: pd.DataFrame):
    """Notebook 11. Left: identification precision and recall per request; right: TARF's Gap against
    the best baseline's and the Original's (mean over seeds, each seed a dot)."""
    d = df.assign(request=df["given"] + " (" + df["scenario"].str.replace("_mismatch", "") + ")")
    order = list(dict.fromkeys(d["request"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.38 * len(order) + 1.6), sharey=True)
    pr = d.melt(id_vars=["request"], value_vars=["precision", "recall"], var_name="measure", value_name="%")
    sns.barplot(data=pr, y="request", x="%", hue="measure", order=order, errorbar=None, ax=axes[0],
                palette=MEASURE_COLORS)
    axes[0].set_xlim(0, 105)
    axes[0].set_xlabel("identification vs D_fr (%)")
    axes[0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    gp = d.melt(id_vars=["request"], value_vars=["Gap TARF", "Gap best baseline", "Gap Original"],
                var_name="row", value_name="Gap")
    sns.stripplot(data=gp, y="request", x="Gap", hue="row", order=order, dodge=True, size=6, ax=axes[1],
                  palette=GAP_ROW_COLORS)
    axes[1].set_xlabel("Gap to Retrained (lower is better)")
    axes[1].set_ylabel("")
    axes[1].legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    for ax in axes:
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# --- notebook 12: the reviewers' questions ------------------------------------------------------------

def k_sensitivity(ks: pd.DataFrame):
    """Gap and UA of TARF per identification variant (K − 1, K, K + 1, sample mode p), one panel
    per scenario, mean over seeds; the panel title gives D_fr's true share of D_un."""
    scen = list(dict.fromkeys(ks["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(5.2 * len(scen), 3.6), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], scen):
        d = ks[ks["scenario"] == s].melt(id_vars=["variant"], value_vars=["Gap", "UA", "recall"],
                                        var_name="measure", value_name="value")
        sns.pointplot(data=d, x="variant", y="value", hue="measure", errorbar=None, ax=ax,
                      palette={"Gap": METRIC_COLORS["Gap"], "UA": METRIC_COLORS["UA"], "recall": "#1f77b4"})
        share = ks.loc[ks["scenario"] == s, "fr_share"].iloc[0]
        ax.set_title(f"{SCENARIO_NAMES.get(s, s)} (D_fr = {share:.1f}% of D_un)")
        ax.set_xlabel("identification")
        ax.set_ylabel("points (%)")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def gap_terms(decomp: pd.DataFrame):
    """Each method's Gap split into its four terms (|Δ| / 4 per metric, stacked), one panel per
    scenario: how much of the Gap is MIA."""
    scen = list(dict.fromkeys(decomp["scenario"]))
    terms = ["dUA", "dRA", "dTA", "dMIA"]
    fig, axes = plt.subplots(len(scen), 1, figsize=(8, 2.4 * len(scen)), squeeze=False)
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
    axes[0, 0].legend(loc="lower center", bbox_to_anchor=(0.5, 1.15), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def mia_decision(dec: pd.DataFrame):
    """The confidence attack's SVC decision over the confidence axis (line; > 0 = member) with the
    confidences of its shadow members, non-members and of D_t below, one panel per method."""
    methods = list(dict.fromkeys(dec["method"]))
    fig, axes = plt.subplots(2, len(methods), figsize=(4.6 * len(methods), 4.6), squeeze=False,
                             sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    colors = {"member": SET_COLORS["D_r"], "non-member": "#7f7f7f", "D_t": SET_COLORS["D_t"]}
    for j, m in enumerate(methods):
        d = dec[dec["method"] == m]
        g = d[d["kind"] == "grid"]
        axes[0, j].plot(g["confidence"], g["decision"], color="black")
        axes[0, j].axhline(0, color="grey", lw=0.8, ls="--")
        axes[0, j].set_title(METHOD_NAMES.get(m, m))
        axes[0, j].set_ylabel("SVC decision (> 0: member)")
        pts = d[d["kind"] != "grid"]
        sns.histplot(data=pts, x="confidence", hue="kind", bins=np.linspace(0, 1, 26), stat="percent",
                     common_norm=False, element="step", fill=False, palette=colors, ax=axes[1, j])
        axes[1, j].set_xlabel("confidence p[y]")
    fig.tight_layout()
    return fig


__all__ = ["gap_terms", "k_sensitivity", "mia_decision", "CLASS_PALETTE", "GAP_ROW_COLORS", "MEASURE_COLORS", "METHOD_NAMES", "METRIC_COLORS", "PHASE_COLORS",
           "PHASE_NAMES", "SCENARIO_NAMES", "SCORE_LABELS", "SET_COLORS", "ablations", "bars", "concepts",
           "dynamics", "gap_heatmaps", "identification", "obs1", "obs3", "obs5", "obs6", "partition_grid",
           "phases", "probe", "save", "training_curves"]
