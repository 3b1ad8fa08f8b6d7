"""Figures: saved as PNG and PDF (byte-stable) with the plotted numbers as CSV, under figures/<profile>/."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .paths import figures_dir
from .store import atomic_write_bytes


def save(fig, name: str, profile: str, data: pd.DataFrame | None = None) -> None:
    """Write figures/<profile>/<name>.{png,pdf} (and .csv of ``data``) atomically."""
    out = figures_dir(profile)
    for ext, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, metadata=meta, bbox_inches="tight", dpi=200)  # readable at README width
        atomic_write_bytes(out / f"{name}.{ext}", buf.getvalue())
    if data is not None:
        atomic_write_bytes(out / f"{name}.csv", data.to_csv(index=False).encode())


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
