"""Penultimate features of an original model and their 2-D embedding (docs/protocol.md#observations, Obs. 1, 3, 5).

Features are the pooled activations before the linear head (``model.features``), in eval mode.
They are computed on a seeded, persisted sample of at most ``per_class`` training images per fine
class of D, drawn once and reused by every figure, so the same images appear in Obs. 1, 3 and 5.
The 2-D embedding is sklearn's t-SNE (perplexity 30, PCA init, ``random_state = seed``) or, for
the smoke profile, a PCA projection (seconds instead of minutes). The sample, the features and
the embedding are kept in the artifact store, each keyed by exactly what determines it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import store, timing, train
from .batches import to_input

METHODS = ("tsne", "pca")


def sample(ctx, per_class: int = 300, seed: int = 0) -> np.ndarray:
    """Sorted global indices of ≤ ``per_class`` images per fine class of D, drawn once and persisted.

    Keyed by the split hash, ``per_class`` and ``seed``; a second call (or another notebook) loads
    the same indices from the store.
    """
    if per_class <= 0:
        raise ValueError(f"per_class must be a positive integer, got {per_class!r}")
    k = store.key({"dataset": ctx.exp.dataset, "split": ctx.split.hash, "per_class": per_class, "seed": seed, "v": 1})
    cached = store.get_json("samples", k)
    if cached is not None:
        return np.asarray(cached["idx"], dtype=np.int64)
    rng = np.random.default_rng(seed)
    D = np.asarray(ctx.split.train, dtype=np.int64)
    y = ctx.ds.y_train.numpy()[D]
    picked = [np.sort(rng.choice(D[y == c], size=min(per_class, int((y == c).sum())), replace=False))
              for c in np.unique(y)]
    idx = np.sort(np.concatenate(picked)).astype(np.int64)
    store.put_json("samples", k, {"idx": idx, "split": ctx.split.hash, "per_class": per_class, "seed": seed})
    return idx


@torch.no_grad()
@timing.stage("embedding")
def features(model, x_uint8: torch.Tensor, device: str = "cpu", batch_size: int = 512) -> np.ndarray:
    """Penultimate (pooled) activations of uint8 images, eval mode, float32 (n, d)."""
    was_training = model.training
    model.eval()
    out = [model.features(to_input(x_uint8[i : i + batch_size], device)).float().cpu()
           for i in range(0, len(x_uint8), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


@timing.stage("embedding")
def project(feats: np.ndarray, method: str = "tsne", seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """(n, d) features → (n, 2): t-SNE (PCA init, ``random_state = seed``) or PCA."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}; valid: {', '.join(METHODS)}")
    feats = np.asarray(feats, dtype=np.float64)
    if method == "pca":
        return PCA(n_components=2, svd_solver="full").fit_transform(feats)
    # t-SNE needs perplexity < n; a concept-only sample of a tiny profile can be smaller than 3 × 30
    perp = min(float(perplexity), max(1.0, (len(feats) - 1) / 3))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(feats)


@dataclass
class Embedding:
    index: np.ndarray  # global training indices of the points (sorted)
    features: np.ndarray  # (n, d) penultimate activations
    coords: np.ndarray  # (n, 2) t-SNE or PCA coordinates
    label_space: str  # "fine" | "coarse": which original model
    method: str  # "tsne" | "pca"

    def frame(self, ds) -> pd.DataFrame:
        """One row per point: training index, fine and coarse class names, the two coordinates."""
        y = ds.y_train[torch.as_tensor(self.index)]
        coarse = ds.coarse_of[y].numpy()
        return pd.DataFrame({"index": self.index, "fine id": y.numpy(),
                             "fine class": [ds.classes[i] for i in y.numpy()],
                             "coarse class": [ds.coarse_classes[i] for i in coarse],
                             "dim 1": self.coords[:, 0], "dim 2": self.coords[:, 1]})


def _arr_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _arr_load(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(b), allow_pickle=False)


def class_ids(ds, classes) -> list[int]:
    """Fine ids of class names (None → every class); an unknown name is an error naming the valid ones."""
    if classes is None:
        return list(range(len(ds.classes)))
    names = list(ds.classes)
    bad = [c for c in classes if c not in names]
    if bad:
        raise ValueError(f"unknown class(es) {bad}; valid: {', '.join(names)}")
    return sorted(names.index(c) for c in classes)


def compute(ctx, label_space: str, seed: int = 0, method: str = "tsne", per_class: int = 300,
            perplexity: float = 30.0, classes=None) -> Embedding:
    """Features and 2-D embedding of the ``label_space`` original (seed ``seed``) on the persisted
    sample, restricted to the fine ``classes`` (names; None = all). Cached in the store."""
    if label_space not in ("fine", "coarse"):
        raise ValueError(f"label_space must be 'fine' or 'coarse', got {label_space!r}")
    if method not in METHODS:
        raise ValueError(f"unknown embedding method {method!r}; valid: {', '.join(METHODS)}")
    idx = sample(ctx, per_class, seed)
    ids = class_ids(ctx.ds, classes)
    idx = idx[np.isin(ctx.ds.y_train.numpy()[idx], ids)]
    model, rec = train.original(ctx.exp, ctx.ds, ctx.split, label_space, seed)
    idx_hash = store.sha256_bytes(idx.tobytes())
    kf = store.key({"model": rec["key"], "idx": idx_hash, "v": 1})
    feats = store._recover("features", kf, "npy", _arr_load)
    if feats is None:
        feats = features(model, ctx.ds.x_train[torch.as_tensor(idx)], ctx.exp.device)
        store.put("features", kf, "npy", _arr_bytes(feats))
    ke = store.key({"features": kf, "method": method, "seed": seed,
                    "perplexity": perplexity if method == "tsne" else None, "v": 1})
    coords = store._recover("embeddings", ke, "npy", _arr_load)
    if coords is None:
        coords = project(feats, method, seed, perplexity)
        store.put("embeddings", ke, "npy", _arr_bytes(coords))
    return Embedding(idx, feats, coords, label_space, method)

