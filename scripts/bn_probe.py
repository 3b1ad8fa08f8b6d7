"""Why GA collapses RA on the Fashion-MNIST profiles: BatchNorm running statistics or the weights?

  python scripts/bn_probe.py default --seed 0 2 3 [--lr 0.005] [--epochs 0.75]

For each seed, on all matched: GA as the reference runs it (train mode, bn_stats="update"); the same
weights with the BN running statistics re-estimated on D_un (so only the drift of the running
statistics is undone); GA with bn_stats="keep"; GA with BatchNorm in eval mode (running statistics
used and frozen: no train/eval mismatch at all); and the original with its statistics re-estimated
on D_un (the control: re-estimation alone must not change the original). Prints UA and RA (%).
A diagnostic only: re-estimating on D_un is not GA (GA never touches D_un), and eval-mode GA is not
an option of tarf.unlearn.ga.
"""

import argparse
import copy

import pandas as pd
import torch.nn.functional as F

from tarf import metrics, runner, train, unlearn
from tarf.unlearn import common

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("profile")
ap.add_argument("--seed", type=int, nargs="+", default=[0, 2, 3])
ap.add_argument("--lr", type=float, default=0.005)
ap.add_argument("--epochs", type=float, default=0.75)
args = ap.parse_args()



def ga_bn_eval(orig, data, seed):
    """GA's loop (tarf/unlearn/ga.py) with every BatchNorm layer in eval mode."""
    model, gen = common.clone(orig), common.generator(seed)
    opt = common.sgd(model, args.lr)
    for frac in common.epoch_fractions(args.epochs):
        model.train()
        for m in common.bn_layers(model):
            m.eval()
        for x, y in common.epoch_iter(data, "f", gen, frac):
            opt.zero_grad(set_to_none=True)
            (-F.cross_entropy(model(x), y)).backward()
            opt.step()
    return model


ctx = runner.context(args.profile)
sets = runner.eval_sets(ctx, "all_matched")
data = runner.unlearn_data(ctx, "all_matched")
rows = []
for seed in args.seed:
    orig, _ = runner.original(ctx, "all_matched", seed)
    variants = {}
    for bn in ("update", "keep"):
        train.seed_everything(seed, ctx.exp.num_threads)
        variants[f"GA, bn_stats={bn}"], _ = unlearn.run("ga", orig, data, {"epochs": args.epochs, "lr": args.lr,
                                                                           "bn_stats": bn}, seed)
    train.seed_everything(seed, ctx.exp.num_threads)
    variants["GA, BN in eval mode"] = ga_bn_eval(orig, data, seed)
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
