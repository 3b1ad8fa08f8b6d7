"""Hyper-parameter tuning: one protocol for every method (docs/protocol.md#tuning).

Protocol v3 (the one every Table 3 method is tuned by, so the comparison is fair; the reasons for
each rule are in docs/protocol.md#protocol-v3):

- cells: every scenario of the profile (``ctx.exp.scenarios``) x the tuning seeds 1, 2, 3; an
  evaluation seed (0, 4, 5) is refused;
- axes: a method's own hyper-parameters and its unlearning batch size (``batch_size``, the number
  of optimiser steps at the profile's epoch budget);
- collapse guard: a setting is rejected if on ANY cell its RA falls more than ``ra_collapse`` (15)
  points below Retrained's RA on that cell (``RA_retrained``, recorded in every row);
- ranking: the settings not rejected by the scenario-balanced Gap, the mean over scenarios of the
  median Gap over that scenario's seeds (``Gap_balanced``), ties by max Gap over the cells; a
  setting missing a scenario ranks last; if every setting is rejected they are ranked the same way
  and all marked ``rejected``;
- edge: the pick is ``on_edge`` if it sits at the smallest or largest value of a numeric grid axis
  with at least 3 values, and the grid is extended once.

Protocol v2 (median Gap over all cells, a setting rejected if its RA fell more than ``ra_drop`` (5)
below the Original's on any cell) stays reachable: ``choose`` ranks v2 rows by it, so the old and
the new picks can be set side by side.

``sweep`` runs one method over a grid through the normal runner (every run is cached in the store)
and returns one row per (setting, scenario, seed); ``choose`` ranks the settings; ``run_plan`` runs
the per-method grids of a plan file (params/<profile>/tuning_plan.yaml) resumably, one row at a
time, into results/<profile>/tuning_<method>.csv. Every row keeps its ``protocol``: rows of the
all-matched-only protocol are "v1", then "v2", new rows "v3"; only rows of one protocol are ranked
together. The chosen values go into the profile's params with a comment naming the sweep.
With ``executor="ray"`` (tarf/executor.py) ``sweep`` and ``run_plan`` run their cells as Ray tasks;
``run_plan`` then writes each row as it comes back, and ``max_minutes`` stops collecting (and
cancels what is left) instead of stopping new rows from starting; hold ``executor.connected()``
around it so that its methods share one connection (scripts/tune.py does).
"""

from __future__ import annotations

import itertools
import math
import numbers
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import yaml

from . import executor as executor_mod
from . import unlearn
from .paths import results_dir
from .progress import progress
from .runner import ORIGINAL, Context, context, run_one
from .store import atomic_write_bytes

METRICS = ("UA", "RA", "TA", "MIA", "Gap", "TIME_min")
TUNING_SEEDS = (1, 2, 3)  # docs/protocol.md#seeds; evaluation seeds (0, 4, 5) never choose a value
RA_DROP = 5.0  # v2: points of RA below the Original's, on any cell, that reject a setting
RA_COLLAPSE = 15.0  # v3: points of RA below Retrained's, on any cell, that mark a collapse
PROTOCOL = "v3"  # rows written now; earlier rows keep "v1" (all matched only) or "v2"
CELL = ("scenario", "seed")
RETRAINED = "retrained"
EXTRA = ("RA_original", "RA_retrained", "protocol")  # per-row columns besides metrics and cell
# columns `choose` adds: never setting columns when its output is handed back (edge_axes); so are
# its per-scenario medians, named Gap_<scenario>
AGGREGATES = ("Gap_balanced", "Gap_median", "Gap_max", "Gap_mean", "UA_median", "RA_min", "RA_margin_min",
              "RA_vs_retrained_min", "cells", "seeds", "rejected", "on_edge")
NOT_SETTINGS = frozenset((*METRICS, *CELL, *EXTRA, *AGGREGATES))


# ------------------------------------------------------------------------------------- helpers


def check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple of ints, or a ValueError naming the first one that is not a tuning seed."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("no tuning seed given: tuning seeds are 1-3")
    for s in seeds:
        if s not in TUNING_SEEDS:
            raise ValueError(f"seed {s} is not a tuning seed: tuning seeds are 1-3 "
                             f"(0, 4 and 5 are evaluation seeds and never choose a hyper-parameter)")
    return seeds


def settings(grid: Mapping[str, list], base: Mapping | None = None) -> list[dict]:
    """Every combination of ``grid`` on top of ``base``, in grid order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(base or {}) | dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def _norm(v):
    """A value comparable across YAML and CSV: numbers as floats to 10 significant digits (so 1,
    1.0 and 0.0070000000001 from a CSV match 1 and 0.007 from YAML), None for NaN / missing."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if hasattr(v, "item") and not isinstance(v, str):  # numpy scalars
        v = v.item()
        if isinstance(v, bool):
            return v
    if isinstance(v, numbers.Real):
        v = float(v)
        return None if math.isnan(v) else float(f"{v:.10g}")
    return str(v)


def _setting_columns(df: pd.DataFrame) -> list[str]:
    """The hyper-parameter columns of a sweep table (or of `choose`'s): not metrics, cell or
    bookkeeping, not a per-scenario median (Gap_<scenario>), not all empty."""
    return [c for c in df.columns if c not in NOT_SETTINGS and not str(c).startswith(("_", "Gap_"))
            and df[c].notna().any()]


setting_columns = _setting_columns


def _key(hp: Mapping) -> tuple:
    """A hashable identity of a setting; missing (None / NaN) values are left out."""
    return tuple(sorted((k, n) for k, v in hp.items() if (n := _norm(v)) is not None))


def _is_numeric_axis(values) -> bool:
    return all(isinstance(_norm(v), float) for v in values)


# ---------------------------------------------------------------------------------- sweeping


def cell(ctx: Context, method: str, scenario: str, seed: int) -> dict:
    """One tuning row's cell part: the run's metrics and the Original's and Retrained's RA on the
    same cell (both cached: one model each per (scenario, seed))."""
    row = run_one(ctx, scenario, method, seed)
    return _cell(scenario, seed, row, run_one(ctx, scenario, ORIGINAL, seed),
                 run_one(ctx, scenario, RETRAINED, seed))


def _cell(scenario: str, seed: int, row: dict, original: dict, retrained: dict) -> dict:
    return {"scenario": scenario, "seed": seed, **{k: row[k] for k in METRICS},
            "RA_original": original["RA"], "RA_retrained": retrained["RA"]}


def cells_on(profile: str, method: str, todo: list[tuple[dict, str, int]], executor: str = "ray",
             address: str | None = None):
    """``cell`` of every (hp, scenario, seed) in ``todo`` on an executor: (index into todo, cell) as
    each completes. One context per setting; the method's, the Original's and Retrained's runs are
    three runs."""
    ctxs, runs = {}, []
    for hp, s, seed in todo:
        if _key(hp) not in ctxs:
            ctxs[_key(hp)] = context(profile, {"methods": {method: hp}})
        runs += [(ctxs[_key(hp)], s, m, seed) for m in (method, ORIGINAL, RETRAINED)]
    got, stream = {}, executor_mod.as_completed(runs, executor, address)
    try:
        for i, row in stream:
            got[i] = row
            j = i - i % 3  # the method's run; j + 1 is the Original's, j + 2 Retrained's
            if all(k in got for k in (j, j + 1, j + 2)):
                _, s, seed = todo[j // 3]
                yield j // 3, _cell(s, seed, got[j], got[j + 1], got[j + 2])
    finally:
        stream.close()  # closed early: the executor cancels what is left


def sweep(ctx: Context, method: str, grid: dict[str, list], scenarios=None, seeds=TUNING_SEEDS,
          base: dict | None = None, executor: str = "serial", address: str | None = None) -> pd.DataFrame:
    """Metrics of ``method`` for every combination in ``grid`` (on top of ``base``) on every
    (scenario, seed) cell; ``scenarios`` None = all of the profile's. One row per setting x cell,
    with ``RA_original``, ``RA_retrained`` and ``protocol`` (PROTOCOL)."""
    seeds = check_seeds(seeds)
    scenarios = tuple(scenarios or ctx.exp.scenarios)
    if executor != "serial":  # the same rows, in the same order, computed as Ray tasks
        todo = [(hp, s, seed) for hp in settings(grid, base) for s, seed in itertools.product(scenarios, seeds)]
        done = dict(cells_on(ctx.profile, method, todo, executor, address))
        return pd.DataFrame([{**todo[i][0], **done[i], "protocol": PROTOCOL} for i in range(len(todo))])
    rows = []
    for hp in progress(settings(grid, base), desc=f"sweep {method}"):
        c = context(ctx.profile, {"methods": {method: hp}})
        for s, seed in itertools.product(scenarios, seeds):
            rows.append({**hp, **cell(c, method, s, seed), "protocol": PROTOCOL})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------- choosing


def protocol_of(df: pd.DataFrame) -> str:
    """The one protocol of ``df``'s rows (v1 where no column says); a ValueError for a mixed table."""
    found = sorted(set(df["protocol"].fillna("v1"))) if "protocol" in df else ["v1"]
    if len(found) > 1:
        raise ValueError(f"rows of protocols {found} in one table: rank one protocol at a time "
                         f"(tune.protocol_rows)")
    return found[0] if found else PROTOCOL


def choose(df: pd.DataFrame, ra_drop: float = RA_DROP, ra_collapse: float = RA_COLLAPSE) -> pd.DataFrame:
    """Settings ranked by the protocol of ``df``'s rows (module docstring): v3 rows by the collapse
    guard and the scenario-balanced Gap, v1 / v2 rows by the v2 rule. One row per setting with
    Gap_balanced (v3), Gap_<scenario> (the per-scenario medians), Gap_median, Gap_max, Gap_mean,
    UA_median, RA_min, RA_margin_min (worst RA - RA_original over the cells), RA_vs_retrained_min
    (worst RA - RA_retrained), cells, seeds, rejected, on_edge.

    Why v2's rejection rule: with the median alone, the all-matched sweep picked IU alpha 0.5, which
    collapses on one tuning seed (RA 22), over alpha 0.2, better by mean Gap (24.3 vs 28.9) and by
    its worst seed; a median hides one collapse in three. Cells without ``RA_original`` (rows of
    the v1 protocol) reject nothing and leave RA_margin_min empty. Why v3 changed it:
    docs/protocol.md#protocol-v3.
    """
    v3 = protocol_of(df) not in ("v1", "v2")
    df = df.copy()
    keys = _setting_columns(df)
    for col in ("RA_original", "RA_retrained"):
        if col not in df:
            df[col] = float("nan")
    df["_margin"] = df["RA"] - df["RA_original"]
    df["_vs_ret"] = df["RA"] - df["RA_retrained"]
    # NaN margin: no verdict, not a failure
    df["_fail"] = (df["_vs_ret"] < -ra_collapse) if v3 else (df["_margin"] < -ra_drop)
    df["_cell"] = (df["scenario"].astype(str) if "scenario" in df else "") + "/" + df["seed"].astype(str)
    agg = df.groupby(keys, dropna=False).agg(
        Gap_median=("Gap", "median"), Gap_max=("Gap", "max"), Gap_mean=("Gap", "mean"),
        UA_median=("UA", "median"), RA_min=("RA", "min"), RA_margin_min=("_margin", "min"),
        RA_vs_retrained_min=("_vs_ret", "min"), cells=("_cell", "nunique"), seeds=("seed", "nunique"),
        rejected=("_fail", "any"),
    ).reset_index()
    agg["rejected"] = agg["rejected"].astype(bool)
    order = ["rejected", "Gap_median", "Gap_max"]
    if v3:
        per = df.groupby([*keys, "scenario"], dropna=False)["Gap"].median().unstack("scenario")
        per = per.reindex(columns=[s for s in dict.fromkeys(df["scenario"])])  # the table's order
        # every scenario weighs the same; a setting missing one has no balanced Gap and ranks last
        balanced = per.mean(axis=1, skipna=False).rename("Gap_balanced")
        per.columns = [f"Gap_{c}" for c in per.columns]
        extra = pd.concat([balanced, per], axis=1).reset_index()
        agg = agg.merge(extra, on=keys, how="left") if keys else pd.concat([agg, extra], axis=1)
        order = ["rejected", "Gap_balanced", "Gap_max"]
    else:
        agg = agg.drop(columns=["RA_vs_retrained_min"])
    agg = agg.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    agg["on_edge"] = [bool(edge_axes(df, row)) for _, row in agg.iterrows()]
    return agg


def _edges(df: pd.DataFrame, best_row) -> list[tuple[str, str]]:
    out = []
    for c in _setting_columns(df):
        values = {_norm(v) for v in df[c].dropna()}
        if len(values) < 3 or not _is_numeric_axis(values):
            continue
        v = _norm(best_row[c])
        if v is None:
            continue
        if math.isclose(v, max(values), rel_tol=1e-9):
            out.append((c, "largest"))
        elif math.isclose(v, min(values), rel_tol=1e-9):
            out.append((c, "smallest"))
    return out


def edge_axes(df: pd.DataFrame, best_row) -> list[str]:
    """The numeric grid axes (>= 3 values in ``df``) on which ``best_row`` takes the smallest or
    largest value: the optimum may lie outside the grid, so extend it once along those axes."""
    return [c for c, _ in _edges(df, best_row)]


def edge_warnings(method: str, df: pd.DataFrame, best_row) -> list[str]:
    """One line per edge axis, e.g. ``GA: lr=0.007 is the grid's largest value: extend the grid``."""
    return [f"{method.upper()}: {c}={best_row[c]:g} is the grid's {side} value: extend the grid"
            for c, side in _edges(df, best_row)]


def pick(ranked: pd.DataFrame) -> pd.Series | None:
    """The chosen setting: the first row of ``choose``'s table (rejected if no setting passes)."""
    return None if ranked.empty else ranked.iloc[0]


# ------------------------------------------------------------------------------------- plans


def _check_value(where: str, value, default) -> None:
    """A plan value must have the type of the method's default (None = any; ints and floats mix),
    so YAML's string '1e-4' (PyYAML reads it as a string; write 1.0e-4 or 0.0001) is caught here."""
    if default is None:
        return
    is_num = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(default, numbers.Real) and not isinstance(default, bool):
        ok, want = is_num, "a number"
    else:
        ok, want = isinstance(value, type(default)), type(default).__name__
    if not ok:
        raise ValueError(f"{where}: expected {want} (default {default!r}), got {value!r} ({type(value).__name__})")


def _check_hp(where: str, key: str, value, defaults: Mapping) -> None:
    if key == "batch_size":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: expected an integer >= 1, got {value!r}")
    else:
        _check_value(where, value, defaults[key])


def validate_plan(plan: Mapping) -> dict[str, dict]:
    """``{method: {"grid": {key: [values]}, "base": {key: value}, "extend": [setting]}}`` from a plan (the YAML's mapping,
    with or without its top-level ``methods:``); a ValueError names the method and key at fault."""
    methods = plan.get("methods", plan) if isinstance(plan, Mapping) else None
    if not isinstance(methods, Mapping) or not methods:
        raise ValueError("plan: expected a mapping `methods: {<method>: {grid: ..., base: ...}}`")
    out = {}
    for m, entry in methods.items():
        if m not in unlearn.METHODS:
            raise ValueError(f"plan: unknown method {m!r}; valid: {', '.join(unlearn.METHODS)}")
        if not isinstance(entry, Mapping) or "grid" not in entry:
            raise ValueError(f"plan: methods.{m}: expected a mapping with `grid:` (and optionally `base:`, `extend:`)")
        extra = set(entry) - {"grid", "base", "extend"}
        if extra:
            raise ValueError(f"plan: methods.{m}: unknown entries {sorted(extra)}; valid: grid, base, extend")
        grid, base = entry["grid"] or {}, entry.get("base") or {}
        extend = entry.get("extend") or []
        if not isinstance(grid, Mapping) or not grid or not isinstance(base, Mapping):
            raise ValueError(f"plan: methods.{m}: `grid` must be a non-empty mapping, `base` a mapping")
        defaults = unlearn.get(m).DEFAULTS
        for part, mapping in (("grid", grid), ("base", base)):
            for key, v in mapping.items():
                where = f"plan: methods.{m}.{part}.{key}"
                if key not in defaults and key not in unlearn.COMMON:
                    raise ValueError(f"{where}: unknown hyper-parameter {key!r} for method {m!r}; "
                                     f"valid: {', '.join(sorted([*defaults, *unlearn.COMMON]))}")
                values = v if part == "grid" else [v]
                if part == "grid" and (not isinstance(v, list) or not v):
                    raise ValueError(f"{where}: expected a non-empty list of values, got {v!r}")
                for value in values:
                    _check_hp(where, key, value, defaults)
                if part == "grid" and len({_norm(x) for x in v}) != len(v):
                    raise ValueError(f"{where}: repeated value in {v!r}")
        both = set(grid) & set(base)
        if both:
            raise ValueError(f"plan: methods.{m}: {sorted(both)} in both grid and base")
        _check_extend(m, extend, grid, defaults)
        out[m] = {"grid": {k: list(v) for k, v in grid.items()}, "base": dict(base),
                  "extend": [dict(e) for e in extend]}
    return out


def _check_extend(m: str, extend, grid: Mapping, defaults: Mapping) -> None:
    """``extend``: settings beyond the grid (docs/protocol.md#protocol-v3, rule 5), each naming every
    grid axis once (the pick's values, one axis moved past its edge) and not already in the grid."""
    where = f"plan: methods.{m}.extend"
    if not isinstance(extend, list):
        raise ValueError(f"{where}: expected a list of settings ({{axis: value}} for every grid axis)")
    inside = {_key(hp) for hp in settings(grid)}
    for i, e in enumerate(extend):
        if not isinstance(e, Mapping) or set(e) != set(grid):
            raise ValueError(f"{where}[{i}]: expected a value for each grid axis ({', '.join(grid)}), got {e!r}")
        for key, value in e.items():
            _check_hp(f"{where}[{i}].{key}", key, value, defaults)
        if _key(e) in inside:
            raise ValueError(f"{where}[{i}]: {dict(e)} is already in the grid")


def planned(entry: Mapping) -> list[dict]:
    """Every setting of a plan entry: the grid's product on top of ``base``, then its ``extend``."""
    return settings(entry["grid"], entry["base"]) + [dict(entry["base"]) | e for e in entry.get("extend", [])]


def load_plan(path) -> dict[str, dict]:
    """The validated plan of a YAML file (params/<profile>/tuning_plan.yaml)."""
    raw = yaml.safe_load(Path(path).read_text())
    try:
        return validate_plan(raw)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def n_settings(entry: Mapping) -> int:
    return math.prod(len(v) for v in entry["grid"].values()) + len(entry.get("extend", []))


# ------------------------------------------------------------------------------ tuning tables


def read_table(path) -> pd.DataFrame:
    """A tuning CSV with the v2 / v3 columns: ``seed`` (1 if missing: the first sweeps ran seed 1 only),
    ``scenario`` (all_matched if missing), ``protocol`` ("v1" where missing). Empty if no file."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame()
    df = pd.read_csv(path)
    if "seed" not in df:
        df["seed"] = 1
    if "scenario" not in df:
        df["scenario"] = "all_matched"
    df["protocol"] = df["protocol"].fillna("v1") if "protocol" in df else "v1"
    return df


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` then ``new`` rows, one row per (setting, scenario, seed, protocol): a recomputed row
    replaces the earlier one; settings compare as ``_norm`` does (CSV floats vs YAML)."""
    df = pd.concat([d for d in (old, new) if not d.empty], ignore_index=True)
    if df.empty:
        return df
    keys = _setting_columns(df)
    ident = [(_key({k: r[k] for k in keys}), r["scenario"], int(r["seed"]), r.get("protocol"))
             for _, r in df.iterrows()]
    keep = ~pd.Series(ident).duplicated(keep="last").to_numpy()
    return df[keep].reset_index(drop=True)


def protocol_rows(df: pd.DataFrame, protocol: str = PROTOCOL) -> pd.DataFrame:
    """The rows of one protocol (the current one by default), without columns only other rows use."""
    if df.empty or "protocol" not in df:
        return df.iloc[0:0]
    out = df[df["protocol"] == protocol]
    return out.loc[:, out.notna().any() | out.columns.isin([*METRICS, *CELL, *EXTRA])].reset_index(drop=True)


def pending(df: pd.DataFrame, entry: Mapping, scenarios, seeds) -> list[tuple[dict, str, int]]:
    """(hp, scenario, seed) of ``entry``'s plan with no row of the current protocol in ``df``, setting
    by setting."""
    done = set()
    cur = protocol_rows(df)
    if not cur.empty:
        keys = _setting_columns(cur)
        done = {(_key({k: r[k] for k in keys}), str(r["scenario"]), int(r["seed"])) for _, r in cur.iterrows()}
    return [(hp, s, seed) for hp in planned(entry)
            for s, seed in itertools.product(scenarios, seeds) if (_key(hp), s, seed) not in done]


def table_path(profile: str, method: str, csv_dir=None) -> Path:
    return Path(csv_dir or results_dir(profile)) / f"tuning_{method}.csv"


def _write(df: pd.DataFrame, profile: str, method: str, csv_dir) -> None:
    if csv_dir is None:  # .csv, .md, .tex, each written atomically
        from .report import export

        export(df, f"tuning_{method}", profile)
        if profile == "default":  # docs/results.md's picks table follows every row (tarf.generated)
            from .generated import update

            update(only={"tuning"})
    else:
        atomic_write_bytes(table_path(profile, method, csv_dir), df.to_csv(index=False).encode())


def run_plan(profile: str, plan, methods=None, seeds=TUNING_SEEDS, max_minutes: float | None = None,
             csv_dir=None, scenarios=None, max_rows: int | None = None, executor: str = "serial",
             address: str | None = None) -> dict[str, pd.DataFrame]:
    """Run the plan's missing rows, one (setting, scenario, seed) at a time, and return every
    method's full table (rows of every protocol).

    ``plan``: a path or a mapping (validated); ``methods``: a subset of the plan's (None = all, in
    plan order); ``scenarios``: None = the profile's. Rows already in
    ``<csv_dir or results/<profile>>/tuning_<method>.csv`` of the current protocol are skipped; after each
    new row the table is rewritten atomically, so an interrupted run loses at most one row and the
    next call resumes. No row starts after ``max_minutes`` (wall time since the call) or beyond
    ``max_rows`` new rows; the call then returns cleanly.
    """
    plan = load_plan(plan) if isinstance(plan, str | Path) else validate_plan(plan)
    seeds = check_seeds(seeds)
    methods = list(plan) if methods is None else list(methods)
    for m in methods:
        if m not in plan:
            raise ValueError(f"method {m!r} is not in the plan; planned: {', '.join(plan)}")
    if scenarios is None:
        from .params import load

        scenarios = load(profile).scenarios
    scenarios = tuple(scenarios)
    t0, computed, tables, stop = time.monotonic(), 0, {}, False
    for m in methods:
        df = read_table(table_path(profile, m, csv_dir))
        todo = [] if stop else pending(df, plan[m], scenarios, seeds)
        if executor != "serial":
            df, computed, stop = _run_on(profile, m, df, todo, csv_dir, executor, address, t0, computed,
                                         max_minutes, max_rows)
            tables[m] = df
            continue
        ctx_key, ctx = None, None
        for hp, s, seed in progress(todo, desc=f"tune {m}"):
            if max_rows is not None and computed >= max_rows:
                stop = True
            elif max_minutes is not None and time.monotonic() - t0 >= max_minutes * 60:
                stop = True
            if stop:
                break
            if _key(hp) != ctx_key:  # one context per setting (loads the data set)
                ctx_key, ctx = _key(hp), context(profile, {"methods": {m: hp}})
            row = pd.DataFrame([{**hp, **cell(ctx, m, s, seed), "protocol": PROTOCOL}])
            df = merge(df, row)
            _write(df, profile, m, csv_dir)
            computed += 1
        tables[m] = df
    return tables


def _run_on(profile, m, df, todo, csv_dir, executor, address, t0, computed, max_minutes, max_rows):
    """run_plan's loop on an executor: every row written as it comes back. (df, computed, stop)."""
    if max_rows is not None:
        todo = todo[: max(0, max_rows - computed)]
    stop = max_rows is not None and computed + len(todo) >= max_rows
    cells = cells_on(profile, m, todo, executor, address)
    try:
        for i, c in cells:
            df = merge(df, pd.DataFrame([{**todo[i][0], **c, "protocol": PROTOCOL}]))
            _write(df, profile, m, csv_dir)
            computed += 1
            if max_minutes is not None and time.monotonic() - t0 >= max_minutes * 60:
                return df, computed, True
    finally:
        cells.close()  # stopped early: the executor cancels the tasks left
    return df, computed, stop


def plan_status(df: pd.DataFrame, entry: Mapping, scenarios, seeds=TUNING_SEEDS) -> tuple[int, int]:
    """(cells computed, cells planned) of one method's plan."""
    total = n_settings(entry) * len(tuple(scenarios)) * len(tuple(seeds))
    return total - len(pending(df, entry, tuple(scenarios), tuple(seeds))), total
