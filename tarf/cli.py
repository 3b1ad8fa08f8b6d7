"""Command line: the same code path as the notebooks (tarf.params → tarf.runner), from a shell.

    python -m tarf validate smoke                     # params + every request checked; writes nothing
    python -m tarf splits smoke                       # partition sizes and K per scenario
    python -m tarf run smoke --scenario all_matched --method ga --seed 0 --set train.epochs=2
    python -m tarf table smoke                        # one row per (scenario, method, seed)
    python -m tarf table smoke --executor ray         # the same table, each run a Ray task

Everything a command needs is validated first — the params schema, the ``--set`` overrides, the
data on disk and every unlearning request (the split is built in memory) — so bad input ends with
one line ``error: <message>`` on stderr, exit status 2, and nothing written to the store.
"""

from __future__ import annotations

import argparse
import re
import sys

import yaml

from . import data as data_mod
from . import executor, kernels, params, scenarios, store

EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """Bad command-line input; the message names the option, the value and the valid choices."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the usage and exit; report one line instead
        raise CLIError(message)


# --- option parsing -------------------------------------------------------------------------------

def parse_set(items: list[str] | None) -> dict:
    """``["train.epochs=2", "model.width=4"]`` → ``{"train": {"epochs": 2}, "model": {"width": 4}}``.

    Values are parsed as YAML (``2`` → int, ``[0, 1]`` → list, ``false`` → bool, ``abc`` → str)."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            raise CLIError(f"--set: expected key.path=value (e.g. train.epochs=2), got {item!r}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CLIError(f"--set {key}: value {text!r} is not valid YAML ({str(e).splitlines()[0]})") from None
        nested = value
        for p in reversed(parts):
            nested = {p.strip(): nested}
        out = params.deep_merge(out, nested)
    return out


def _overrides(args) -> dict:
    over = parse_set(getattr(args, "set", None))
    for s in getattr(args, "scenario", None) or []:
        if s not in params.SCENARIOS:
            raise CLIError(f"--scenario: unknown {s!r}; valid: {', '.join(params.SCENARIOS)}")
    if getattr(args, "scenario", None):
        over["scenarios"] = list(dict.fromkeys(args.scenario))
    seeds = []
    for s in getattr(args, "seed", None) or []:
        if not re.fullmatch(r"\s*\d+\s*", s):
            raise CLIError(f"--seed: expected a non-negative integer, got {s!r}")
        seeds.append(int(s))
    if seeds:
        over["seeds"] = list(dict.fromkeys(seeds))
    return over


def _methods(args) -> list[str] | None:
    from .runner import INFORMED, TABLE_ROWS

    for m in getattr(args, "method", None) or []:
        if m not in TABLE_ROWS + INFORMED:
            raise CLIError(f"--method: unknown {m!r}; valid: {', '.join(TABLE_ROWS)}; informed: {', '.join(INFORMED)}")
    return list(dict.fromkeys(args.method)) if getattr(args, "method", None) else None


def prepare(profile: str, overrides: dict | None = None):
    """Validate everything a run needs without touching the store: params, data, every request.

    Returns ``(exp, ds, split)`` with the split drawn in memory (``scenarios.build``); the persisted
    split (``scenarios.load``) is drawn from the same seed, so it is the same arrays."""
    exp = params.load(profile, overrides)
    kernels.apply(exp.kernels)  # before the data's first tensor arithmetic (tarf/kernels.py)
    ds = data_mod.load(exp.dataset, exp.data_root, exp.download)
    split = scenarios.build(ds, exp)
    return exp, ds, split


def _context(args):
    """Validate first (nothing written on failure), then the runner's context (persists the split)."""
    from . import runner

    overrides = _overrides(args)
    methods = _methods(args)
    if hasattr(args, "executor"):  # Ray missing or an address that does not answer: before any write
        executor.check(args.executor, args.address)
    prepare(args.profile, overrides)
    return runner.context(args.profile, overrides), methods


def _print_frame(df) -> None:
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200,
                           "display.float_format", "{:.2f}".format):
        print(df.to_string())


# --- commands -------------------------------------------------------------------------------------

def cmd_validate(args) -> int:
    exp, ds, split = prepare(args.profile, _overrides(args))
    scen = ", ".join(f"{s} ({split[s].label_space}, K={split[s].K})" for s in exp.scenarios)
    methods = ", ".join(exp.methods) or "defaults"
    print(f"ok: {exp.profile}")
    print(f"{exp.dataset}: {len(split.train)} train / {len(split.test)} test images; scenarios: {scen}; "
          f"model {exp.model.arch} w{exp.model.width}, {exp.train.epochs:g} epoch(s); "
          f"method params: {methods}; seeds {exp.seeds}; split {split.hash[:12]}")
    return 0


def cmd_splits(args) -> int:
    ctx, _ = _context(args)
    _print_frame(scenarios.summary(ctx.split))
    print(f"split sha256: {ctx.split.hash}")
    return 0


def cmd_run(args) -> int:
    from . import runner

    ctx, methods = _context(args)
    df = executor.run_all(ctx, methods, executor=args.executor, address=args.address)
    _print_frame(runner.summary(df))
    return 0


def cmd_table(args) -> int:
    ctx, methods = _context(args)
    df = executor.run_all(ctx, methods, executor=args.executor, address=args.address)
    if args.csv:  # full precision, atomically; TIME columns vary between runs, the rest must not
        from .store import atomic_write_bytes

        atomic_write_bytes(args.csv, df.to_csv(index=False).encode())
    _print_frame(df.drop(columns=["split_hash"], errors="ignore").round(2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tarf", description="TARF companion: validate params, draw splits, run "
                "and tabulate unlearning experiments (results are cached in the store, $TARF_STORE).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{validate,run,table,splits}")

    def add(name, func, help_, runs=False):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("profile", metavar="PROFILE" if name != "validate" else "PROFILE_OR_YAML",
                        help="a profile under params/ (smoke, default, ...) or a path to an experiment YAML")
        sp.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                        help="override one params value (parsed as YAML, deep-merged); repeatable")
        if runs:
            sp.add_argument("--scenario", action="append", metavar="S",
                            help=f"only this scenario (repeatable); one of {', '.join(params.SCENARIOS)}")
            sp.add_argument("--method", action="append", metavar="M",
                            help="only this method (repeatable); retrained, ft, rl, ga, iu, bs, l1_sparse, "
                                 "salun, scrub, tarf")
            sp.add_argument("--seed", action="append", metavar="N", help="only this seed (repeatable)")
            sp.add_argument("--executor", default="serial", metavar="E",
                            help="serial (default: one run after another, here) or ray (each run a Ray task; "
                                 "pip install -e '.[ray]')")
            sp.add_argument("--address", metavar="ADDR", help="with --executor ray: the head's HOST:PORT, "
                                                               "or auto; default RAY_ADDRESS, else a local cluster")
        if name == "table":
            sp.add_argument("--csv", metavar="PATH", help="also write the long-form table as CSV")
        sp.set_defaults(func=func)

    add("validate", cmd_validate, "check the params and every unlearning request; writes nothing")
    add("run", cmd_run, "run (or load) every selected (scenario, method, seed); print the summary table", True)
    add("table", cmd_table, "the long-form table, one row per (scenario, method, seed); runs what is missing",
        True)
    add("splits", cmd_splits, "partition sizes and K per scenario (draws and stores the split once)")
    return p


def _one_line(e: BaseException) -> str:
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tarf`` and the ``tarf`` script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (CLIError, params.ParamsError, data_mod.DataMissingError, data_mod.DataCorruptError,
            store.CorruptArtifact, executor.ExecutorError, kernels.KernelsError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
