"""Sweep one method's hyper-parameters on a separate seed and print/save the table.

  python scripts/tune.py default ga lr=1e-3,5e-3,1e-2 epochs=0.25,0.5 --seed 1 2 3 [--scenario all_matched ...]

Writes results/<profile>/tuning_<method>.csv (one row per setting x seed) and prints the settings
ranked by median Gap over the seeds; pick on all matched (docs/protocol.md#tuning), never on an evaluation seed.
"""

import argparse

import pandas as pd
import yaml

from tarf import report, runner, tune
from tarf.paths import results_dir

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("profile")
ap.add_argument("method")
ap.add_argument("grid", nargs="+", help="key=v1,v2,... (values parsed as YAML)")
ap.add_argument("--seed", type=int, nargs="+", default=[1])
ap.add_argument("--scenario", action="append", default=None)
ap.add_argument("--base", default="{}", help="YAML mapping of fixed hyper-parameters")
args = ap.parse_args()
grid = {k: [yaml.safe_load(v) for v in vals.split(",")] for k, vals in (g.split("=", 1) for g in args.grid)}
ctx = runner.context(args.profile)
df = tune.sweep(ctx, args.method, grid, tuple(args.scenario or ["all_matched"]), args.seed, yaml.safe_load(args.base))
csv = results_dir(ctx.profile) / f"tuning_{args.method}.csv"
if csv.exists():  # keep earlier sweeps of the same method: one record of every setting tried
    old = pd.read_csv(csv)
    if "seed" not in old:  # sweeps before multi-seed tuning ran on seed 1 only
        old["seed"] = 1
    df = pd.concat([old, df], ignore_index=True)
    settings = [c for c in df.columns if c not in tune.METRICS]
    df = df.drop_duplicates(subset=settings, keep="last")
report.export(df, f"tuning_{args.method}", ctx.profile)
print(tune.choose(df).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
