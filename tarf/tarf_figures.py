"""Figures of notebooks 09 (TARF: paper Fig. 4, 5a, 5b, 7 and the Fashion-MNIST probe (docs/tarf.md#fashion-mnist-probe)) and 10 (Table 3 Gaps).

Each function takes the DataFrame made by ``tarf.tarf_analysis`` or ``tarf.table3`` and returns a
figure; notebooks save it with ``tarf.plotting.save(fig, name, profile, data)`` and show it.
Colours: target-concept groups orange, TARF's identified groups outlined in black and starred,
other groups grey; phases I / II / III shaded red / yellow / green.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .plotting import save  # noqa: F401  (re-exported: tarf_figures.save is plotting.save)

PHASE_COLORS = {1: "#f4cccc", 2: "#fff2cc", 3: "#d9ead3"}
PHASE_NAMES = {1: "I identification", 2: "II separation", 3: "III retraining approx."}
TARGET, OTHER = "#ff7f0e", "#c7c7c7"
SET_COLORS = {"D_t": "#d62728", "D_f": "#9467bd", "D_fr": "#ff7f0e", "D_ar": "#1f77b4", "D_r": "#2ca02c"}
METRIC_COLORS = {"UA": "#dd8452", "RA": "#4c72b0", "TA": "#55a868", "MIA": "#8172b3", "Gap": "#595959",
                 "FR_acc": "#ff7f0e", "UA_R": "#1f77b4"}
_TITLES = {"all_matched": "all matched", "target_mismatch": "target mismatch",
           "model_mismatch": "model mismatch", "data_mismatch": "data mismatch"}
_SCORE_LABELS = {"acc_drop": "accuracy drop (points)", "abs_acc_change": "|accuracy change| (points)",
                 "abs_loss_change": "mean |loss change|", "absorption": "share of D_f absorbed (points)",
                 "proximity": "feature cosine to D_f"}


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
        axes[0, j].set_title(_TITLES.get(s, s), fontsize=10)
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
        ax.set_title(f"{_TITLES.get(s, s)} (K = {K})")
        ax.set_ylabel(_SCORE_LABELS[score])
    handles = [plt.Rectangle((0, 0), 1, 1, color=TARGET), plt.Rectangle((0, 0), 1, 1, color=OTHER),
               plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black")]
    fig.legend(handles, ["target-concept group (D_fr)", "other group", "identified (top-K, ★)"],
               loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(f"{_SCORE_LABELS[score]} after Phase I, the score TARF ranked by (paper Fig. 5a)")
    fig.tight_layout()
    return fig


def probe(groups: pd.DataFrame, scores=("acc_drop", "abs_acc_change", "abs_loss_change")):
    """docs/tarf.md#fashion-mnist-probe: the three group scores side by side, each with its own top-K starred."""
    scen = list(dict.fromkeys(groups["scenario"]))
    fig, axes = plt.subplots(len(scen), len(scores), figsize=(4.2 * len(scores), 3.3 * len(scen)), squeeze=False)
    for row, s in zip(axes, scen):
        g = groups[groups["scenario"] == s].sort_values("label")
        K = int(g["K"].iloc[0])
        for ax, sc in zip(row, scores):
            ranked = sorted(zip(g[sc], g["label"]), key=lambda t: (-t[0], t[1]))[:K]
            _group_bars(ax, g, sc, {lab for _, lab in ranked})
            ax.set_title(f"{_TITLES.get(s, s)}: {sc}", fontsize=9)
            ax.set_ylabel(_SCORE_LABELS[sc], fontsize=8)
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
                ax.plot(g["k"], g["Gap"], marker="o", label=_TITLES.get(s, s))
            ax.set_xscale("log")
            ax.set_xticks(ks, [f"{k:g}" for k in ks])
            ax.minorticks_off()
            if default_k is not None:
                ax.axvline(default_k, color="grey", ls=":", label=f"profile's k = {default_k:g}")
            ax.set_ylabel("Gap")
        else:
            ms = [m for m in _PANEL_METRICS.get(knob, ("Gap",)) if d[m].notna().any()]
            long = d.melt(id_vars=["value", "scenario"], value_vars=ms, var_name="metric", value_name="score")
            long["x"] = long["value"] + ("\n" + long["scenario"].map(lambda s: _TITLES.get(s, s))
                                         if d["scenario"].nunique() > 1 else "")
            sns.barplot(data=long, x="x", y="score", hue="metric", hue_order=ms, palette=METRIC_COLORS, ax=ax)
            ax.set_ylabel("points")
            ax.tick_params(axis="x", labelsize=8)
        ax.set_xlabel(_KNOB_LABELS.get(knob, knob))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        scen = ", ".join(_TITLES.get(s, s) for s in dict.fromkeys(d["scenario"]))
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


__all__ = ["METRIC_COLORS", "PHASE_COLORS", "ablations", "dynamics", "gap_heatmaps", "identification", "phases", "probe"]
