"""Tune hyper-parameters on the tuning seeds by one protocol for every method (docs/protocol.md#tuning).

Plan mode (resumable; rows already in results/<profile>/tuning_<method>.csv are skipped):

  python scripts/tune.py default --plan params/default/tuning_plan.yaml [--method ga ...] [--max-minutes N]
  python scripts/tune.py default --plan params/default/tuning_plan.yaml --report   # tables only, no run

One-method mode (an ad-hoc grid; same cells and rule):

  python scripts/tune.py default ga lr=0.001,0.005,0.01 epochs=0.25,0.5 [--seed 1 2 3] [--scenario all_matched ...]

Either mode runs its cells one after another (--executor serial, the default) or as Ray tasks
(--executor ray [--address HOST:PORT]; README, "Running on a Ray cluster").

Every setting runs on each (scenario, seed) cell -- all of the profile's scenarios x tuning seeds
1-3 unless narrowed; evaluation seeds are refused. Rows go to results/<profile>/tuning_<method>.csv
(column `protocol`: v3; earlier rows are kept as v1 / v2). Printed per method: the settings of
--protocol (default v3) ranked by that protocol (v3: a setting whose RA falls > --ra-collapse points
below Retrained's on any cell is rejected, the rest by the mean over scenarios of the per-scenario
median Gap, ties by max Gap; v2: --ra-drop below the Original's, median Gap over all cells), the
pick, and a line for each grid axis the pick sits on the edge of.
"""

import argparse
import contextlib
import sys

import yaml

from tarf import executor, generated, report, runner, tune
from tarf.params import load
from tarf.paths import results_dir


def value(text: str):
    """A grid value: YAML, but '1e-3' (a string to PyYAML) as the number it means."""
    v = yaml.safe_load(text)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    return v


def show(method: str, df, protocol: str, status: tuple[int, int] | None = None) -> None:
    """The ranked table of one method's rows of ``protocol``, its pick and the edge warnings."""
    rows = tune.protocol_rows(df, protocol)
    head = f"== {method} ({protocol})"
    if status:
        head += f": {status[0]}/{status[1]} planned cells computed"
        if status[0] < status[1]:
            head += " (incomplete: run again to resume)"
    print(head)
    if rows.empty:
        print(f"  no {protocol} rows yet")
        return
    ranked = tune.choose(rows, args.ra_drop, args.ra_collapse)
    print(ranked.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    best = tune.pick(ranked)
    setting = ", ".join(f"{k}={best[k]}" for k in tune.setting_columns(ranked))
    v3 = "Gap_balanced" in ranked
    rule = (f"falls > {args.ra_collapse:g} points below Retrained's RA" if v3
            else f"drops RA > {args.ra_drop:g} points below the Original's")
    if best["rejected"]:
        print(f"PICK {method}: none passes the RA rule (every setting {rule} on some cell); "
              f"best rejected: {setting}")
    else:
        score = (f"balanced Gap {best['Gap_balanced']:.2f}, worst RA vs Retrained "
                 f"{best['RA_vs_retrained_min']:.2f}" if v3 else
                 f"median Gap {best['Gap_median']:.2f}, worst RA margin {best['RA_margin_min']:.2f}")
        print(f"PICK {method}: {setting} ({score}, max Gap {best['Gap_max']:.2f}, {best['cells']} cells)")
        for line in tune.edge_warnings(method, rows, best):
            print(line)
    print()


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("profile")
ap.add_argument("method", nargs="?", help="one-method mode: the method to sweep")
ap.add_argument("grid", nargs="*", help="one-method mode: key=v1,v2,... (values parsed as YAML)")
ap.add_argument("--plan", help="plan mode: a tuning plan (params/<profile>/tuning_plan.yaml)")
ap.add_argument("--method", dest="methods", nargs="+", help="plan mode: only these methods")
ap.add_argument("--max-minutes", type=float, help="plan mode: start no row after this many minutes")
ap.add_argument("--max-rows", type=int, help="plan mode: compute at most this many new rows")
ap.add_argument("--report", action="store_true", help="plan mode: print the tables, run nothing")
ap.add_argument("--seed", type=int, nargs="+", default=list(tune.TUNING_SEEDS))
ap.add_argument("--scenario", action="append", default=None, help="narrow the cells (default: all)")
ap.add_argument("--base", default="{}", help="one-method mode: YAML mapping of fixed hyper-parameters")
ap.add_argument("--protocol", default=tune.PROTOCOL, choices=["v2", "v3"], help="whose rows to rank (default v3)")
ap.add_argument("--ra-drop", type=float, default=tune.RA_DROP, help="v2 rejection: RA points below the Original's")
ap.add_argument("--ra-collapse", type=float, default=tune.RA_COLLAPSE,
                help="v3 collapse guard: RA points below Retrained's")
ap.add_argument("--executor", default="serial", help="serial (default) or ray: each run a Ray task")
ap.add_argument("--address", help="with --executor ray: the head's HOST:PORT (default RAY_ADDRESS, else local)")
args = ap.parse_args()

try:
    seeds = tune.check_seeds(args.seed)
    if not args.report:
        executor.check(args.executor, args.address)
except (ValueError, executor.ExecutorError) as e:
    sys.exit(f"error: {e}")

if args.plan:
    if args.method or args.grid:
        sys.exit("error: with --plan, name methods with --method, not as positional arguments")
    plan = tune.load_plan(args.plan)
    methods = args.methods or list(plan)
    scenarios = tuple(args.scenario or load(args.profile).scenarios)
    if not args.report:  # on Ray, one connection (one local cluster) for every method of the plan
        with executor.connected(args.address) if args.executor == "ray" else contextlib.nullcontext():
            tune.run_plan(args.profile, plan, methods, seeds, args.max_minutes, scenarios=scenarios,
                          max_rows=args.max_rows, executor=args.executor, address=args.address)
    for m in methods:
        df = tune.read_table(tune.table_path(args.profile, m))
        status = tune.plan_status(df, plan[m], scenarios, seeds) if args.protocol == tune.PROTOCOL else None
        show(m, df, args.protocol, status)
else:
    if not args.method or not args.grid:
        ap.error("give a method and a grid (key=v1,v2 ...), or --plan")
    grid = {k: [value(v) for v in vals.split(",")] for k, vals in (g.split("=", 1) for g in args.grid)}
    ctx = runner.context(args.profile)
    df = tune.sweep(ctx, args.method, grid, tuple(args.scenario or ctx.exp.scenarios), seeds,
                    yaml.safe_load(args.base), args.executor, args.address)
    # keep earlier sweeps of the same method: one record of every setting tried
    df = tune.merge(tune.read_table(results_dir(ctx.profile) / f"tuning_{args.method}.csv"), df)
    report.export(df, f"tuning_{args.method}", ctx.profile)
    if ctx.profile == "default":  # docs/results.md's picks table (tarf.generated)
        generated.update(only={"tuning"})
    show(args.method, df, args.protocol)
