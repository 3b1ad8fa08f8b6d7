"""Benchmarks (not tests): prints every figure and writes bench/results.json.

  python scripts/bench.py [--quick] [--pipelines]

1. training throughput of tarf's loop vs a bare PyTorch loop (same model, batch, data), alternated;
2. each method's TIME / Retrained TIME per scenario on the default profile (from the store);
3. evaluation cost (UA, RA, TA, MIA) of one run;
4. with --pipelines: wall time and peak memory of `make smoke` and `make reproduce` (default profile)
   from an empty store (a temporary TARF_STORE), as child processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import tempfile
import time

import torch
import torch.nn.functional as F

from tarf import metrics, models, runner, store
from tarf.params import Train
from tarf.paths import ROOT
from tarf.train import fit, seed_everything
from tarf.unlearn.common import batches, to_input


def bare_epoch(model, x, y, bs, gen):
    """The plainest loop: float conversion, forward, CE, backward, SGD step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()
    for idx in batches(len(x), bs, gen):
        out = model(to_input(x[idx]))
        loss = F.cross_entropy(out, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def throughput(ctx, rounds: int, n: int):
    x, y = ctx.ds.x_train[ctx.split.train[:n]], ctx.ds.y_train[ctx.split.train[:n]]
    recipe = Train(epochs=1, batch_size=ctx.exp.train.batch_size, lr=0.01, schedule="constant", augment=False)
    ours, bare = [], []
    for r in range(rounds):  # alternate so drift in machine load hits both equally
        seed_everything(r, ctx.exp.num_threads)
        m = models.build(ctx.exp.model.arch, 10, ctx.exp.model.width, ctx.ds.in_channels, ctx.ds.family)
        t = time.perf_counter()
        fit(m, x, y, recipe, r)
        ours.append(n / (time.perf_counter() - t))
        m = models.build(ctx.exp.model.arch, 10, ctx.exp.model.width, ctx.ds.in_channels, ctx.ds.family)
        t = time.perf_counter()
        bare_epoch(m, x, y, recipe.batch_size, torch.Generator().manual_seed(r))
        bare.append(n / (time.perf_counter() - t))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"ours_img_s": med(ours), "bare_img_s": med(bare), "ratio": med(ours) / med(bare), "images": n}


def cost_ratios(ctx):
    df = runner.run_all(ctx)
    return {f"{r.scenario}/{r.method}": r.cost_vs_retrained for r in df.itertuples()}


def eval_cost(ctx, scenario="target_mismatch", reps=3):
    model, _ = runner.original(ctx, scenario, ctx.exp.seeds[0])
    sets = runner.eval_sets(ctx, scenario)
    t = time.perf_counter()
    for _ in range(reps):
        metrics.evaluate(model, sets, ctx.exp.device)
    return (time.perf_counter() - t) / reps


def pipeline(target: str, profile: str):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, TARF_STORE=d, TARF_PROGRESS="0")
        out = tempfile.mkdtemp()  # executed copies go elsewhere so the committed ones stay untouched
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        subprocess.run(["make", "-s", target, f"PROFILE={profile}", f"EXECUTED={out}"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"wall_s": wall, "peak_rss_mb": max(peak, before) / 1024}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds, smaller throughput sample")
    ap.add_argument("--pipelines", action="store_true", help="also time make smoke / make reproduce from empty")
    args = ap.parse_args()
    ctx = runner.context("default")
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads"}
    res["throughput"] = throughput(ctx, 2 if args.quick else 4, 2048 if args.quick else 6000)
    t = res["throughput"]
    print(f"training loop: ours {t['ours_img_s']:.0f} img/s, bare {t['bare_img_s']:.0f} img/s, "
          f"ratio {t['ratio']:.3f} (target >= 0.9)")
    res["eval_s_per_run"] = eval_cost(ctx)
    print(f"evaluation (UA, RA, TA, MIA) per run: {res['eval_s_per_run']:.2f} s")
    res["cost_vs_retrained"] = cost_ratios(ctx)
    for k, v in res["cost_vs_retrained"].items():
        print(f"TIME/Retrained {k}: {v:.3f}")
    if args.pipelines:
        for target, prof in (("smoke", "smoke"), ("reproduce", "default")):
            res[f"make_{target}"] = r = pipeline(target if target == "reproduce" else "reproduce", prof)
            print(f"make {target} from an empty store: {r['wall_s'] / 60:.1f} min, peak RSS {r['peak_rss_mb']:.0f} MB")
    store.atomic_write_bytes(ROOT / "bench" / "results.json", json.dumps(res, indent=1).encode())


if __name__ == "__main__":
    main()
