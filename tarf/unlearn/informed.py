"""Informed baselines (docs/baselines.md): baselines handed TARF's identification, or the truth.

Each variant wraps an unaltered method: it builds a new UnlearnData in which only the forgetting
set (x_f, y_f) and the remaining set (x_un, y_un) differ — samples moved from D_un to the end of
D_f, in D_un order — and calls the base method's own `unlearn` on it
(docs/baselines.md#informed-baselines).

Names (`tarf.unlearn.INFORMED`; display names in `DISPLAY`):
- `<m>+id`, m ∈ ft, ga, scrub, salun: m with D_f ∪ I as its forgetting set and D_un \\ I as its
  remaining set, I = TARF's identified set: `tarf.phase1_identify`, the very code path of a TARF
  run (Phase I ascent on D_f up to t1, identification at t1), with TARF's hp and the run's seed,
  computed on a copy of the original. With K = 0 I is empty and `<m>+id` is m itself.
- `<m>+oracle`: m with the true D_t = D_f ∪ D_fr as its forgetting set and D_un \\ D_fr as its
  remaining set: the upper bound of any identification. It reads the evaluation-only
  `data.oracle_fr` (bool mask over D_un), which the runner fills for these names only, and
  raises a ValueError without it. No other variant (nor any base method) is handed it.
- `ga_id_ft` (GA→id→FT): TARF's Phase I, identification, then FT from θ_t1 (not θo) on
  D_un \\ I — TARF without its joint Phase II; the FT part is `ft+id`'s call from θ_t1.

[D] Hyper-parameters. A variant takes its base method's hp unchanged: the base's DEFAULTS, updated
from the profile's `methods.<m>` (`ga_id_ft`: FT's, so FT's budget and lr). A variant that
identifies (`+id`, `ga_id_ft`) carries one more key, `tarf`: TARF's full hp as the profile gives
TARF (tarf.DEFAULTS updated from `methods.tarf`), with `oracle` forced to False (a diagnostic of
TARF's own run; the informed oracle is `+oracle`; an `+id` handed `tarf.oracle` True raises).
Why: the variants ask "what if m knew what TARF knows", so m must run as in Table 3 and I must be
the set the Table 3 TARF row identifies. A profile may still set `methods."<m>+id"` etc.: its
keys override the result, key by key, and its `tarf` dict key by key over TARF's.
(`profile_hp` is that rule; `tarf.runner.hyper_parameters` calls it.) Unlike the plain baselines
(docs/baselines.md#shared-rules), the identifying variants use the request's K, through TARF.

[D] Cache. I depends only on the original, D_f, D_un, K, TARF's hp, the seed and the numeric
setting (device type, default dtype, autocast, batch size, augmentation), so it is computed once
and kept in the store (kind "identification", keyed by all of them, model and data by content
digest) and shared by the four `+id` variants. The stored record is the computed one (JSON round
trip, group labels restored to ints), so a cache hit hands the base method the same set.
TIME: a row's TIME covers its method call, so the identification's cost is in the TIME of the
variant that computed it and not of those that found it cached; each `+id` log carries
`id_seconds` (the identification's own wall time) and `id_cached`, so that it can be added back.

Log: the base method's log, with the first entry also holding `informed` (the name),
`identification` (TARF's record — identified_idx = positions in D_un; for `+oracle` a record of
mode "oracle" with the true D_fr's positions) and `n_moved` (samples moved from D_un to the
forgetting set). `ga_id_ft`: TARF's Phase I entries (stage "phase1"), then FT's (stage "ft",
t_end = t1 + FT's epoch), the first FT entry holding the identification.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from importlib import import_module

import torch

from .. import store
from . import common
from . import tarf as T
from .common import UnlearnData

BASES = ("ft", "ga", "scrub", "salun")
ID = tuple(f"{m}+id" for m in BASES)
ORACLE = tuple(f"{m}+oracle" for m in BASES)
GA_ID_FT = "ga_id_ft"
NAMES = (*ID, *ORACLE, GA_ID_FT)
_LABELS = {"ft": "FT", "ga": "GA", "scrub": "SCRUB", "salun": "SalUn"}
DISPLAY = {**{f"{m}+id": f"{_LABELS[m]}+id" for m in BASES},
           **{f"{m}+oracle": f"{_LABELS[m]}+oracle" for m in BASES}, GA_ID_FT: "GA→id→FT"}
TARF_KEY = "tarf"  # the hp key holding TARF's hp, for the variants that identify
CACHE_KIND = "identification"


def _check(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown informed method {name!r}; valid: {', '.join(NAMES)}")


def base_of(name: str) -> str:
    """The wrapped method: m for `<m>+id` / `<m>+oracle`, "ft" for `ga_id_ft`."""
    _check(name)
    return "ft" if name == GA_ID_FT else name.split("+")[0]


def identifies(name: str) -> bool:
    """True for the variants that use TARF's identification (`+id`, `ga_id_ft`)."""
    _check(name)
    return name in ID or name == GA_ID_FT


def needs_oracle(name: str) -> bool:
    """True for `+oracle`: the runner must fill data.oracle_fr (evaluation only)."""
    _check(name)
    return name in ORACLE


def _module(method: str):
    return import_module(f"tarf.unlearn.{method}")


def defaults(name: str) -> dict:
    """The base method's DEFAULTS, plus `tarf` (TARF's DEFAULTS, oracle off) if it identifies."""
    out = dict(_module(base_of(name)).DEFAULTS)
    assert TARF_KEY not in out, f"{base_of(name)} has a hyper-parameter named {TARF_KEY!r}"
    if identifies(name):
        out[TARF_KEY] = {**T.DEFAULTS, "oracle": False}
    return out


def profile_hp(name: str, methods: dict) -> dict:
    """The hp rule of the module docstring; ``methods`` = the profile's per-method settings."""
    base = base_of(name)
    hp = defaults(name) | dict(methods.get(base, {}))
    if identifies(name):
        hp[TARF_KEY] = {**T.DEFAULTS, **methods.get("tarf", {}), "oracle": False}
    for key, value in methods.get(name, {}).items():
        hp[key] = {**hp[TARF_KEY], **value} if key == TARF_KEY and identifies(name) else value
    return hp


@dataclasses.dataclass(frozen=True)
class Variant:
    """What `tarf.unlearn.get` returns for an informed name: `DEFAULTS` and `unlearn`, as a method
    module has."""

    name: str

    @property
    def DEFAULTS(self) -> dict:  # noqa: N802 - the attribute name every method module uses
        return defaults(self.name)

    @property
    def display(self) -> str:
        return DISPLAY[self.name]

    def unlearn(self, model, data, hp, seed):
        return unlearn(self.name, model, data, hp, seed)


def get(name: str) -> Variant:
    _check(name)
    return Variant(name)


# ------------------------------------------------------------------------------------ data


def moved(data: UnlearnData, mask: torch.Tensor) -> UnlearnData:
    """D_f ∪ D_un[mask] as the forgetting set (D_f first, then the moved samples in D_un order)
    and D_un[~mask] as the remaining set; everything else as in ``data`` but `oracle_fr`, which
    no base method is handed."""
    mask = torch.as_tensor(mask, dtype=torch.bool)
    if tuple(mask.shape) != (len(data.y_un),):
        raise ValueError(f"mask over D_un must have shape ({len(data.y_un)},), got {tuple(mask.shape)}")
    mx, my = mask.to(data.x_un.device), mask.to(data.y_un.device)
    return dataclasses.replace(
        data,
        x_f=torch.cat([data.x_f, data.x_un[mx]]),
        y_f=torch.cat([data.y_f, data.y_un[my]]),
        x_un=data.x_un[~mx],
        y_un=data.y_un[~my],
        oracle_fr=None,
    )


def _oracle_mask(name: str, data: UnlearnData) -> torch.Tensor:
    return common.oracle_mask(name, data)


def _tarf_hp(name: str, hp: dict) -> dict:
    tarf_hp = hp.get(TARF_KEY)
    if not isinstance(tarf_hp, dict):
        raise ValueError(f"{name}: hp[{TARF_KEY!r}] must be a dict of TARF hyper-parameters")
    shared = {k: v for k, v in tarf_hp.items() if k in common.COMMON}  # with_batch takes these out
    tarf_hp = T._merged({k: v for k, v in tarf_hp.items() if k not in common.COMMON}) | shared
    if tarf_hp["oracle"]:
        raise ValueError(f"{name}: {TARF_KEY}.oracle must be False (the oracle variant is "
                         f"{base_of(name)}+oracle)")
    return tarf_hp


# ---------------------------------------------------------------------- identification cache


def _digest(tensors) -> str:
    """SHA-256 of (name, dtype, shape, bytes) of named tensors, in the given order."""
    h = hashlib.sha256()
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cache_key(model, data: UnlearnData, hp: dict, seed: int) -> str:
    """Store key of everything that determines the identified set (see the module docstring)."""
    device = str(data.device).split(":")[0]
    autocast = torch.is_autocast_enabled(device) if device in ("cuda", "cpu") else False
    return store.key({
        "what": "tarf.phase1_identify",
        "model": type(model).__name__,
        "original": _digest(model.state_dict().items()),
        "data": _digest([("x_f", data.x_f), ("y_f", data.y_f), ("x_un", data.x_un),
                         ("y_un", data.y_un)]),
        "K": int(data.K), "num_classes": int(data.num_classes),
        "batch": int(data.batch_size), "augment": bool(data.augment),
        "hp": T._merged(hp), "seed": int(seed), "device": device,
        "dtype": str(torch.get_default_dtype()),
        "autocast": str(torch.get_autocast_dtype(device)) if autocast else False,
        "v": 1,
    })


_INT_KEYED = ("group_scores", "group_acc_drop", "group_abs_loss_change", "group_absorption",
              "group_proximity")


def _restore(rec: dict) -> dict:
    """A record read back from JSON: group labels (dict keys) are ints again."""
    return {k: ({int(g): v for g, v in rec[k].items()} if k in _INT_KEYED else v)
            for k, v in rec.items()}


def identified(model, data: UnlearnData, hp: dict, seed: int, cache: bool = True
               ) -> tuple[torch.Tensor, dict, dict]:
    """(mask over D_un, record, info) of TARF's identification, `tarf.phase1_identify(model, data,
    hp, seed)`, through the store cache; info = {id_seconds, id_cached}. ``model`` is not
    modified; the monitor is not called, and the oracle mask never reaches TARF."""
    data = dataclasses.replace(data, monitor=None, oracle_fr=None)
    k = cache_key(model, data, hp, seed) if cache else None
    hit = store.get_json(CACHE_KIND, k) if cache else None
    if hit is not None and hit["n_un"] == len(data.y_un):
        rec = _restore(hit["record"])
        mask = torch.zeros(len(data.y_un), dtype=torch.bool)
        mask[torch.tensor(rec["identified_idx"], dtype=torch.long)] = True
        return mask, rec, {"id_seconds": hit["seconds"], "id_cached": True}
    t0 = time.perf_counter()
    mask, rec = T.phase1_identify(model, data, hp, seed)
    seconds = time.perf_counter() - t0
    # the record's identified_idx is the mask's positions (tarf.identify), so it is kept alone
    assert rec["identified_idx"] == torch.nonzero(mask).flatten().tolist()
    if cache:
        store.put_json(CACHE_KIND, k, {"n_un": len(mask), "record": rec, "seconds": seconds})
    return mask, rec, {"id_seconds": seconds, "id_cached": False}


# ------------------------------------------------------------------------------------ methods


def _annotate(log: list[dict], head: dict) -> list[dict]:
    """`head` merged into the first entry (or as the only entry of an empty log)."""
    if not log:
        return [dict(head)]
    return [{**log[0], **head}, *log[1:]]


def unlearn(name: str, model, data: UnlearnData, hp: dict, seed: int):
    """Run informed method ``name``; ``hp`` as `defaults(name)`, already merged."""
    base = base_of(name)
    # each part at its own method's batch_size, if set (common.COMMON): the base's, TARF's for identifying
    base_data, base_hp = common.with_batch(data, {k: v for k, v in hp.items() if k != TARF_KEY})
    if name in ORACLE:
        mask = _oracle_mask(name, data)
        rec = {"mode": "oracle", "identified_idx": torch.nonzero(mask).flatten().tolist()}
        m, log = _module(base).unlearn(model, moved(base_data, mask), base_hp, seed)
        return m, _annotate(log, {"informed": name, "identification": rec,
                                  "n_moved": int(mask.sum())})
    tarf_data, tarf_hp = common.with_batch(data, _tarf_hp(name, hp))
    if name == GA_ID_FT:
        # TARF's Phase I and identification (its monitor included: it is this method's trajectory)
        run = T.phase1(model, dataclasses.replace(tarf_data, oracle_fr=None), tarf_hp, seed)
        run.bar.close()
        m, ft_log = _module("ft").unlearn(run.model, moved(base_data, run.ident), base_hp, seed)
        t1 = float(tarf_hp["t1"])
        ft_log = [{**e, "stage": "ft", "t_end": t1 + e["epoch"]} for e in ft_log]
        head = {"informed": name, "identification": run.record, "n_moved": int(run.ident.sum())}
        return m, [{**e, "stage": "phase1"} for e in run.log] + _annotate(ft_log, head)
    mask, rec, info = identified(model, tarf_data, tarf_hp, seed)
    m, log = _module(base).unlearn(model, moved(base_data, mask), base_hp, seed)
    return m, _annotate(log, {"informed": name, "identification": rec,
                              "n_moved": int(mask.sum()), **info})
