"""Why GA collapses RA on the Fashion-MNIST profiles: BatchNorm running statistics or the weights?

  python scripts/bn_probe.py default --seed 0 2 3 [--lr 0.005] [--epochs 0.75]

For each seed, on all matched: GA as the reference runs it (train mode, bn_stats="update"); the same
weights with the BN running statistics re-estimated on D_un (so only the drift of the running
statistics is undone); GA with bn_stats="keep"; GA with bn_stats="eval" (BatchNorm in eval mode:
running statistics used and frozen, no train/eval mismatch at all); and the original with its statistics re-estimated
on D_un (the control: re-estimation alone must not change the original). Prints UA and RA (%).
A diagnostic only: re-estimating on D_un is not GA (GA never touches D_un).
"""

import argparse
import copy

import pandas as pd

from tarf import metrics, runner, train, unlearn
from tarf.unlearn import common

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("profile")
ap.add_argument("--seed", type=int, nargs="+", default=[0, 2, 3])
ap.add_argument("--lr", type=float, default=0.005)
ap.add_argument("--epochs", type=float, default=0.75)
args = ap.parse_args()

ctx = runner.context(args.profile)
sets = runner.eval_sets(ctx, "all_matched")
data = runner.unlearn_data(ctx, "all_matched")
rows = []
for seed in args.seed:
    orig, _ = runner.original(ctx, "all_matched", seed)
    variants = {}
    for bn in common.BN_STATS:
        train.seed_everything(seed, ctx.exp.num_threads)
        variants[f"GA, bn_stats={bn}"], _ = unlearn.run("ga", orig, data, {"epochs": args.epochs, "lr": args.lr,
                                                                           "bn_stats": bn}, seed)
    redo = copy.deepcopy(variants["GA, bn_stats=update"])
    common.recompute_bn(redo, data, common.generator(seed))
    variants["GA (update), stats re-estimated on D_un"] = redo
    control = copy.deepcopy(orig)
    common.recompute_bn(control, data, common.generator(seed))
    variants["original, stats re-estimated on D_un"] = control
    for name, model in variants.items():
        m = metrics.evaluate(model.eval(), sets, ctx.exp.device)
        rows.append({"seed": seed, "model": name, "UA": m["UA"], "RA": m["RA"]})
print(f"GA lr {args.lr}, {args.epochs} epoch(s) of D_f, all matched, profile {args.profile}")
print(pd.DataFrame(rows).pivot(index="model", columns="seed", values=["UA", "RA"]).round(1).to_string())
