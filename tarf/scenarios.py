"""The four label-domain scenarios as persisted index splits (docs/scenarios.md).

A split is drawn once from ``split_seed`` and stored; every later step (original, Retrained, every
unlearning run, every metric) loads the same indices. Partitions are index arrays into the
immutable data set; labels are looked up per label space, never mutated.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np
import torch

from . import store
from .params import FINE_SCENARIOS, SCENARIOS, Experiment, ParamsError, Request

PARTS = ("f", "t", "un", "fr", "ar", "r", "test_prime", "mia_members", "mia_nonmembers")


class RequestError(ParamsError):
    """An unlearning request that cannot be built; the message names the culprit and valid choices."""


@dataclass
class Scenario:
    name: str
    label_space: str  # "fine" | "coarse"
    num_classes: int
    given: list[str]
    concept: list[str]  # fine class names of the target concept
    K: int  # target-concept model labels hidden in D_un (docs/scenarios.md#hierarchies)
    idx: dict[str, np.ndarray] = field(repr=False)  # PARTS → global indices (train or test arrays)

    def __getattr__(self, part):
        if part in PARTS:
            return self.__dict__["idx"][part]
        raise AttributeError(part)


@dataclass
class Split:
    train: np.ndarray  # D: indices into the data set's training arrays
    test: np.ndarray  # the test subset
    scenarios: dict[str, Scenario]
    hash: str  # SHA-256 of the index arrays; recorded with every result

    def __getitem__(self, name: str) -> Scenario:
        if name not in self.scenarios:
            raise RequestError(f"scenario: unknown {name!r}; valid: {', '.join(self.scenarios)}")
        return self.scenarios[name]


def hidden_groups(ds, sc) -> list[int]:
    """The target-concept model labels hidden in D_un: the labels of D_fr (empty when K = 0); K is
    their number."""
    return _groups(labels(ds, sc.label_space).numpy(), sc.fr)


def _groups(model_labels: np.ndarray, fr: np.ndarray) -> list[int]:
    return sorted(set(model_labels[fr].tolist()))


def labels(ds, label_space: str, which: str = "train") -> torch.Tensor:
    """Labels of every image in the model's label space (fine ids, or coarse ids via the hierarchy)."""
    y = ds.y_train if which == "train" else ds.y_test
    return y if label_space == "fine" else ds.coarse_of[y]


def _select(y: np.ndarray, per_class: int | None, rng) -> np.ndarray:
    """A stratified sample of ``per_class`` indices per class (all if None), sorted."""
    if per_class is None:
        return np.arange(len(y))
    out = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        out.append(np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False)))
    return np.sort(np.concatenate(out))


def _concept(ds, req: Request, scenario: str) -> list[str]:
    names = list(ds.classes)
    for g in req.given:
        if g not in names:
            raise RequestError(f"requests.{scenario}.given: unknown class {g!r}; valid: {', '.join(names)}")
    if not req.given:
        raise RequestError(f"requests.{scenario}.given: empty; give at least one of: {', '.join(names)}")
    if isinstance(req.concept, str):
        coarse = dict(ds.hierarchy or ())
        if req.concept not in coarse:
            raise RequestError(
                f"requests.{scenario}.concept: unknown superclass {req.concept!r}; valid: {', '.join(coarse)}"
                f" (or a list of classes from: {', '.join(names)})")
        concept = list(coarse[req.concept])
    else:
        for c in req.concept:
            if c not in names:
                raise RequestError(f"requests.{scenario}.concept: unknown class {c!r}; valid: {', '.join(names)}")
        concept = list(req.concept)
    outside = [g for g in req.given if g not in concept]
    if outside:
        raise RequestError(
            f"requests.{scenario}.given: {', '.join(map(repr, outside))} not inside the concept; "
            f"given classes must come from the concept: {', '.join(concept)}")
    return concept


def build_scenario(ds, name: str, req: Request, D: np.ndarray, test: np.ndarray, rng) -> Scenario:
    if name not in SCENARIOS:
        raise RequestError(f"scenario: unknown {name!r}; valid: {', '.join(SCENARIOS)}")
    label_space = "fine" if name in FINE_SCENARIOS else "coarse"
    if label_space == "coarse" and not ds.hierarchy:
        raise RequestError(f"scenario {name!r} needs a superclass (coarse) model, but data set {ds.name!r} "
                           f"has no hierarchy; valid scenarios here: {', '.join(FINE_SCENARIOS)}")
    concept = _concept(ds, req, name)
    ids = {c: i for i, c in enumerate(ds.classes)}
    given_ids, concept_ids = [ids[g] for g in req.given], [ids[c] for c in concept]
    yf, yt = ds.y_train.numpy(), ds.y_test.numpy()
    ym = labels(ds, label_space).numpy()
    in_given, in_concept = np.isin(yf[D], given_ids), np.isin(yf[D], concept_ids)
    f, t = D[in_given], D[in_concept]
    un, fr, r = D[~in_given], D[in_concept & ~in_given], D[~in_concept]
    given_model_labels = np.unique(ym[f])
    ar = r[np.isin(ym[r], given_model_labels)] if label_space == "coarse" else r[:0]
    test_prime = test[~np.isin(yt[test], concept_ids)]
    K = len(_groups(ym, fr))

    def need(cond, what):
        if not cond:
            raise RequestError(f"requests.{name}: {what} (given {req.given}, concept {concept})")

    need(len(f) > 0, "D_f is empty: no training image of the given classes")
    need(len(r) > 0, "D_r is empty: the concept covers every class")
    need(len(test_prime) > 0, "the test subset without the concept is empty")
    if name == "all_matched":
        need(set(concept) == set(req.given), "all_matched needs concept = given classes")
    if name in ("target_mismatch", "data_mismatch"):
        need(len(fr) > 0, f"{name} needs concept classes that are not given (D_fr is empty)")
    if name == "model_mismatch":
        need(set(concept) == set(req.given), "model_mismatch needs concept = given classes")
        siblings = [f for _, fs in ds.hierarchy if len(fs) > 1 for f in fs]
        need(len(ar) > 0, "model_mismatch needs other subclasses in the given classes' superclass (D_ar is empty); "
                          f"valid given classes (their superclass has other classes): {', '.join(siblings)}")
    if name == "data_mismatch":
        whole = {c for c, cid in ids.items() if int(ds.coarse_of[cid]) in set(ym[t].tolist())}
        need(whole == set(concept), "data_mismatch needs the concept to be whole superclass(es) of the model; "
                                    f"valid concepts: {', '.join(c for c, fs in ds.hierarchy if len(fs) > 1)}")

    n = min(len(r), len(test_prime))
    members = rng.permutation(r)[:n]
    nonmembers = rng.permutation(test_prime)[:n] if len(test_prime) > n else test_prime
    idx = dict(f=f, t=t, un=un, fr=fr, ar=ar, r=r, test_prime=test_prime,
               mia_members=np.sort(members), mia_nonmembers=np.sort(nonmembers))
    num_classes = len(ds.classes) if label_space == "fine" else len(ds.hierarchy)
    return Scenario(name, label_space, num_classes, list(req.given), concept, K,
                    {k: v.astype(np.int64) for k, v in idx.items()})


def _split_params(exp: Experiment) -> dict:
    reqs = {s: {"given": r.given, "concept": r.concept} for s, r in sorted(exp.requests.items())}
    return {"dataset": exp.dataset, "subset": vars(exp.subset), "val_fraction": exp.val_fraction,
            "split_seed": exp.split_seed, "requests": reqs, "v": 1}


def _hash_arrays(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k], dtype=np.int64).tobytes())
    return h.hexdigest()


def build(ds, exp: Experiment) -> Split:
    """Draw the split from ``split_seed`` (no store access)."""
    rng = np.random.default_rng(exp.split_seed)
    D = _select(ds.y_train.numpy(), exp.subset.train_per_class, rng)
    test = _select(ds.y_test.numpy(), exp.subset.test_per_class, rng)
    if exp.val_fraction > 0:  # hold out a share per class, as the reference code does (45k/5k)
        y = ds.y_train.numpy()[D]
        held = np.concatenate([rng.permutation(np.flatnonzero(y == c))[: round(exp.val_fraction * (y == c).sum())]
                               for c in np.unique(y)])
        D = np.sort(np.delete(D, held))
    scen = {s: build_scenario(ds, s, exp.requests[s], D, test, rng) for s in sorted(exp.requests)}
    arrays = {"train": D, "test": test} | {f"{s}/{k}": v for s, sc in scen.items() for k, v in sc.idx.items()}
    return Split(D, test, scen, _hash_arrays(arrays))


def load(ds, exp: Experiment) -> Split:
    """The persisted split for ``exp``; drawn and stored the first time, then always reused."""
    k = store.key(_split_params(exp))
    blob = store._recover("splits", k, "npz", lambda b: dict(np.load(io.BytesIO(b), allow_pickle=False)))
    meta = store.get_json("splits", k) if blob is not None else None
    if blob is None or meta is None:  # absent, or half of the pair lost (crash, corrupt): redraw both
        split = build(ds, exp)
        arrays = {"train": split.train, "test": split.test}
        for s, sc in split.scenarios.items():
            arrays |= {f"{s}/{p}": v for p, v in sc.idx.items()}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        store.put("splits", k, "npz", buf.getvalue())
        meta = {s: {"label_space": sc.label_space, "num_classes": sc.num_classes, "given": sc.given,
                    "concept": sc.concept, "K": sc.K} for s, sc in split.scenarios.items()}
        store.put_json("splits", k, {"params": _split_params(exp), "scenarios": meta, "hash": split.hash})
        return split
    scen = {s: Scenario(s, m["label_space"], m["num_classes"], m["given"], m["concept"], m["K"],
                        {p: blob[f"{s}/{p}"] for p in PARTS}) for s, m in meta["scenarios"].items()}
    split = Split(blob["train"], blob["test"], scen, _hash_arrays(blob))
    if split.hash != meta["hash"]:
        raise store.CorruptArtifact(f"split {k}: indices do not match their recorded hash")
    return split


def summary(split: Split):
    """One row per scenario: label domains, partition sizes and K (notebook 01's table)."""
    import pandas as pd

    rows = []
    for s, sc in split.scenarios.items():
        rows.append({"scenario": s, "model labels": f"{sc.label_space} ({sc.num_classes})",
                     "given (L_D)": ", ".join(sc.given), "concept (L_T)": ", ".join(sc.concept), "K": sc.K,
                     **{f"|D_{p}|" if p != "test_prime" else "|test'|": len(sc.idx[p])
                        for p in ("f", "t", "un", "fr", "ar", "r", "test_prime")}})
    return pd.DataFrame(rows).set_index("scenario").loc[[s for s in SCENARIOS if s in split.scenarios]]
