"""Figures of the observation notebooks (03–08): the paper's Fig. 2 and Fig. 3 redrawn from our runs.

Each function takes the long-form DataFrame made by ``tarf.observations`` and returns a figure;
notebooks save it with ``tarf.plotting.save(fig, name, profile, data)`` and show it. Colours are
fixed by role, so the same data have the same colour in every figure: D_f red, D_fr orange,
D_ar blue, everything else grey.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from .plotting import save  # noqa: F401  (re-exported: figures.save is plotting.save)

ROLE_COLORS = {"D_f": "#d62728", "D_fr": "#ff7f0e", "D_ar": "#1f77b4", "rest": "#c7c7c7", "other": "#7f7f7f"}
ROLE_ORDER = ("rest", "D_ar", "D_fr", "D_f")  # drawing order: the rest first, D_f on top
METRIC_COLORS = {"UA": "#dd8452", "RA": "#4c72b0", "TA": "#55a868", "MIA": "#8172b3"}
# colours for classes that are not D_f (D_f's classes are always red)
_CLASS_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94"]
_EMBEDDING_NAMES = {"tsne": "t-SNE", "pca": "PCA"}
_SCENARIO_TITLES = {"all_matched": "all matched", "target_mismatch": "target mismatch",
                    "model_mismatch": "model mismatch", "data_mismatch": "data mismatch"}


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
    colors = {g: _CLASS_PALETTE[i % len(_CLASS_PALETTE)] for i, g in enumerate(others)}
    colors |= {g: ROLE_COLORS["D_f"] for g in df_groups}
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _scatter(ax, pts, "group", colors, others + df_groups, {g: 16 for g in df_groups})
    ax.set_title(f"Obs. 1 — {_SCENARIO_TITLES.get(pts['scenario'].iloc[0], '')}: fine original ({_EMBEDDING_NAMES.get(method, method)})")
    ax.legend(fontsize=9, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def obs3(pts: pd.DataFrame, method: str = "tsne"):
    """One panel per mismatch scenario, each its own original, points coloured by role."""
    scen = list(dict.fromkeys(pts["scenario"]))
    fig, axes = plt.subplots(1, len(scen), figsize=(4.6 * len(scen), 4.4), squeeze=False)
    for ax, s in zip(axes[0], scen):
        d = pts[pts["scenario"] == s]
        _scatter(ax, d, "role", ROLE_COLORS, ROLE_ORDER, {"rest": 5, "D_f": 14, "D_fr": 12, "D_ar": 12})
        ax.set_title(f"{_SCENARIO_TITLES.get(s, s)} ({d['model'].iloc[0]} original)")
        ax.legend(fontsize=9, markerscale=1.5, loc="best", frameon=False)
    fig.suptitle(f"Obs. 3 — representation by role ({_EMBEDDING_NAMES.get(method, method)})")
    fig.tight_layout()
    return fig


def obs5(pts: pd.DataFrame, method: str = "tsne"):
    """The concept's classes only: coarse original (left) vs fine original (right), by fine class."""
    classes = list(dict.fromkeys(pts.sort_values("fine id", kind="stable")["fine class"]))
    given = set(pts.loc[pts["role"] == "D_f", "fine class"])
    others = [c for c in classes if c not in given]
    colors = {c: ROLE_COLORS["D_f"] for c in given}
    colors |= {c: _CLASS_PALETTE[i % len(_CLASS_PALETTE)] for i, c in enumerate(others)}
    order = others + sorted(given)
    labels = {c: f"{c} (D_f)" if c in given else f"{c} (D_ar)" for c in classes}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    for ax, ls in zip(axes, ("coarse", "fine")):
        d = pts[pts["model"] == ls].assign(cls=lambda x: x["fine class"].map(labels))
        _scatter(ax, d, "cls", {labels[c]: colors[c] for c in classes}, [labels[c] for c in order])
        ax.set_title(f"{ls} original")
        ax.legend(fontsize=9, markerscale=1.5, loc="best", frameon=False)
    fig.suptitle(f"Obs. 5 — the concept's classes only ({_EMBEDDING_NAMES.get(method, method)})")
    fig.tight_layout()
    return fig


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
        ax.set_title(_SCENARIO_TITLES.get(s, s) if len(scen) > 1 else (title or _SCENARIO_TITLES.get(s, s)))
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
        sns.lineplot(data=d, x="step", y="ce", hue="set", hue_order=sets, palette=ROLE_COLORS, marker="o",
                     markersize=4, ax=ax)
        ax.set_title(f"{ls} original, GA on D_f ({_SCENARIO_TITLES.get(d['scenario'].iloc[0], '')} request)")
        ax.set_xlabel("GA step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean cross-entropy")
        ax.legend(fontsize=8, frameon=False)
    fig.suptitle("Obs. 6 — losses during gradient ascent on D_f")
    fig.tight_layout()
    return fig
