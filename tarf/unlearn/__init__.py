"""Unlearning methods behind one signature and a registry by name.

Every method module defines ``unlearn(model, data, hp, seed) -> (model, log)``:
``model`` the original (never modified), ``data`` an :class:`UnlearnData`, ``hp`` a dict of
hyper-parameters (the method's ``DEFAULTS`` updated from params), ``seed`` an int; it returns the
unlearned model and a list of per-epoch dicts.

Comments on hyper-parameters carry evidence tags (docs/README.md#evidence-tags): [P] stated in the
paper, [P*] a paper value from an appendix-level detail (provisional), [R] the reference code's behaviour, [D] a project
decision where neither says. Each method's reference and deviations: docs/baselines.md, docs/tarf.md.

INFORMED: informed baselines (docs/baselines.md) — ft, ga, scrub, salun handed TARF's identified set
(`<m>+id`) or the true D_t (`<m>+oracle`), and GA→id→FT (`ga_id_ft`); not rows of Table 3.
`get` returns an object with the same `unlearn` and `DEFAULTS` for them (tarf/unlearn/informed.py,
which also states their hyper-parameter rule).
"""

from importlib import import_module

from .. import timing
from . import informed
from .common import COMMON, UnlearnData, with_batch

METHODS = ("ft", "rl", "ga", "iu", "bs", "l1_sparse", "salun", "scrub", "tarf")
INFORMED = informed.NAMES  # the informed baselines (tarf/unlearn/informed.py)


def get(name: str):
    """The module of method ``name``; it has ``unlearn`` and ``DEFAULTS`` (an informed name: an
    object with the same two attributes)."""
    if name in INFORMED:
        return informed.get(name)
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}; "
                         f"informed: {', '.join(INFORMED)}")
    return import_module(f"tarf.unlearn.{name}")


def merged_hp(name: str, hp: dict | None) -> dict:
    """Method ``name``'s DEFAULTS overridden by ``hp`` (unknown keys are an error)."""
    merged = dict(get(name).DEFAULTS)
    for key in hp or {}:
        if key not in merged and key not in COMMON:
            raise ValueError(
                f"unknown hyper-parameter {key!r} for method {name!r}; "
                f"valid: {', '.join(sorted([*merged, *COMMON]))}"
            )
    return merged | dict(hp or {})


@timing.stage("unlearning")
def run(name: str, model, data: UnlearnData, hp: dict | None, seed: int, **hooks):
    """Call method ``name`` with its DEFAULTS overridden by ``hp``; ``hooks`` (e.g. GA's ``on_step``)
    go to the method as keyword arguments."""
    data, hp = with_batch(data, merged_hp(name, hp))
    return get(name).unlearn(model, data, hp, seed, **hooks)


__all__ = ["COMMON", "INFORMED", "METHODS", "UnlearnData", "get", "merged_hp", "run", "with_batch"]
