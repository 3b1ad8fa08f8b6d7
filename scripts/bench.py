"""Benchmarks (not tests): prints every figure and writes bench/results.json.

  python scripts/bench.py [--quick] [--pipelines]

1. training throughput of tarf's loop vs a bare PyTorch loop (same model, batch, data), alternated;
2. each method's TIME / Retrained TIME per scenario on the default profile (from the store);
3. evaluation cost (UA, RA, TA, MIA) of one run: item 9's median at the CPU's batch of 256;
4. with --pipelines: wall time and peak memory of `make smoke` and `make reproduce` (default profile)
   from an empty store (a temporary TARF_STORE), as child processes, with the wall time of each
   notebook (papermill's record), its kernel start-up, and its stages (tarf/timing.py: training,
   unlearning, evaluation, embedding, figure export; "other" is the rest of its cells; a notebook
   whose stages ran in several processes, 02's base workers, has process-seconds and no "other");
   --record-run EXECUTED TIMINGS records the same for a reproduction already run in place (the one
   whose notebooks were committed), from its executed folder (papermill durations kept, KEYS=) and
   its TARF_TIMINGS folder; the wall time is the first notebook's start to the last one's end;
5. one process with 2 threads against two processes with 1 thread each (training img/s);
6. the training loop's arithmetic efficiency: model FLOP/s while training (3 × forward FLOPs per
   image × img/s) over the FLOP/s of a dense fp32 matmul measured in the same run;
7. bf16 autocast on the CPU (`--bf16` runs only this): the bare loop's img/s in fp32 and under
   torch.autocast(bfloat16), alternated, whether two bf16 runs from one seed give the same weights,
   and the CPU's vector capability (AMX / AVX-512 BF16 are the native bf16 units).
8. CPU kernels (`--kernels` runs only this): one epoch of tarf's loop, one thread, in a child process
   per round, with `kernels: native` and `kernels: portable` alternated (tarf/kernels.py).
9. evaluation batch size on the CPU (`--eval-batch` runs only this): one run's evaluation at the old
   default (1,024) and the current one (256), alternated in one process, and whether the rows match.
10. unlearning profile (`--profile` runs only this): torch.profiler over one FT and one TARF run
   (default, target mismatch, seed 0, no evaluation), self CPU time by op group and the top ops.
11. deterministic mode's NaN fill of new tensors (`--nan-fill` runs only this): one FT and one TARF
   run and their evaluations with the fill (torch's default) and without (tarf's), alternated.
Existing entries of bench/results.json that a run does not measure are kept.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from unittest import mock

import nbformat
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from tarf import kernels as tarf_kernels
from tarf import metrics, models, runner, store, timing
from tarf.params import Train
from tarf.paths import ROOT
from tarf.train import fit, seed_everything
from tarf.unlearn import run as unlearn_run
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


def med(v):
    """The upper median: a measured value, not an average of two."""
    return sorted(v)[len(v) // 2]


def _sample(ctx, n: int):
    """The first n training images, and a one-epoch constant-lr recipe at the profile's batch size."""
    x, y = ctx.ds.x_train[ctx.split.train[:n]], ctx.ds.y_train[ctx.split.train[:n]]
    return x, y, Train(epochs=1, batch_size=ctx.exp.train.batch_size, lr=0.01, schedule="constant", augment=False)


def _model(ctx):
    return models.build(ctx.exp.model.arch, 10, ctx.exp.model.width, ctx.ds.in_channels, ctx.ds.family)


def throughput(ctx, rounds: int, n: int):
    x, y, recipe = _sample(ctx, n)
    ours, bare = [], []
    for r in range(rounds):  # alternate so drift in machine load hits both equally
        seed_everything(r, ctx.exp.num_threads)
        m = _model(ctx)
        t = time.perf_counter()
        fit(m, x, y, recipe, r)
        ours.append(n / (time.perf_counter() - t))
        m = _model(ctx)
        t = time.perf_counter()
        bare_epoch(m, x, y, recipe.batch_size, torch.Generator().manual_seed(r))
        bare.append(n / (time.perf_counter() - t))
    with FlopCounterMode(display=False) as counter:
        m(to_input(x[:recipe.batch_size]))
    flops_per_img = 3 * counter.get_total_flops() / recipe.batch_size  # forward + backward ≈ 3 × forward
    return {"ours_img_s": med(ours), "bare_img_s": med(bare), "ratio": med(ours) / med(bare), "images": n,
            "train_flops_per_img": flops_per_img, "train_flop_s": med(ours) * flops_per_img}


def matmul_flop_s(n: int = 2048, reps: int = 10) -> float:
    """Dense fp32 matmul rate with the profile's thread count: the ceiling the loop is measured against."""
    a = torch.randn(n, n)
    for _ in range(2):
        a @ a
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return reps * 2 * n ** 3 / (time.perf_counter() - t)


def one_epoch(ctx, threads: int, n: int) -> float:
    """img/s of one epoch of tarf's loop on n images with ``threads`` torch threads (after a warm-up)."""
    seed_everything(0, threads)
    x, y, recipe = _sample(ctx, n)
    m = _model(ctx)
    fit(m, x[:512], y[:512], recipe, 0)
    t = time.perf_counter()
    fit(m, x, y, recipe, 1)
    return n / (time.perf_counter() - t)


def parallelism(n: int = 4000) -> dict:
    """Training img/s of one process with 2 threads against two processes with 1 thread each,
    run at the same time (summed): which suits a 2-core machine at the default width."""
    def launch(threads):
        return subprocess.Popen([sys.executable, __file__, "--one-epoch", str(threads), str(n)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True, env=dict(os.environ, TARF_PROGRESS="0",
                                                                            TARF_NUM_THREADS=str(threads)))
    def together(threads):
        pair = [launch(threads), launch(threads)]
        return sum(float(p.communicate()[0]) for p in pair)

    one = float(launch(2).communicate()[0])
    two = together(1)
    over = together(2)  # what `make -j2 reproduce` does with the default's num_threads 2: 4 threads, 2 cores
    return {"one_process_2_threads_img_s": one, "two_processes_1_thread_img_s": two, "ratio": two / one,
            "two_processes_2_threads_img_s": over}


def kernels_cost(rounds: int = 3, n: int = 2048) -> dict:
    """img/s of one training epoch with native and with portable kernels, each in a fresh process
    (ATen and MKL fix their code path once per process), one thread, alternated."""
    def child(kernels):
        out = subprocess.run([sys.executable, __file__, "--one-epoch", "1", str(n)], cwd=ROOT, check=True,
                             capture_output=True, text=True,
                             env=dict(os.environ, TARF_PROGRESS="0", TARF_NUM_THREADS="1", TARF_BENCH_KERNELS=kernels))
        return float(out.stdout)
    rates = {"native": [], "portable": []}
    for _ in range(rounds):
        for k in rates:
            rates[k].append(child(k))
    return {"images": n, "native_img_s": med(rates["native"]), "portable_img_s": med(rates["portable"]),
            "slowdown": med(rates["native"]) / med(rates["portable"])}


def _print_kernels(k: dict) -> dict:
    print(f"CPU kernels, one thread: native {k['native_img_s']:.0f} img/s, portable {k['portable_img_s']:.0f} img/s "
          f"(portable {k['slowdown']:.2f}x slower)")
    return k


def bf16_cpu(ctx, rounds: int = 3, n: int = 4096) -> dict:
    """fp32 against bf16 autocast for the bare training loop, at the profile's threads and batch."""
    x, y, recipe = _sample(ctx, n)

    def run(bf16: bool, seed: int = 0):
        seed_everything(seed, ctx.exp.num_threads)
        m = _model(ctx)
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            bare_epoch(m, x, y, recipe.batch_size, torch.Generator().manual_seed(seed))
        return n / (time.perf_counter() - t), torch.cat([p.detach().flatten() for p in m.parameters()])

    fp32, bf16, weights = [], [], []
    for _ in range(rounds):  # alternated, like throughput()
        fp32.append(run(False)[0])
        rate, w = run(True)
        bf16.append(rate)
        weights.append(w)
    try:  # torch's capability stops at AVX512; the bf16 units are CPU flags (Linux)
        flags = set(open("/proc/cpuinfo").read().split()) & {"amx_bf16", "avx512_bf16"}
    except OSError:
        flags = set()
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_flags": sorted(flags), "images": n,
            "fp32_img_s": med(fp32), "bf16_img_s": med(bf16), "speedup": med(bf16) / med(fp32),
            "bf16_repeatable": all(torch.equal(weights[0], w) for w in weights[1:])}


# torch.profiler op names -> the share they are reported under (first match wins)
OP_GROUPS = (("convolution", ("conv",)), ("batch norm", ("batch_norm",)), ("relu", ("relu", "threshold")),
             ("optimizer step", ("sgd", "_foreach", "add_", "mul_", "addcmul", "lerp")),
             ("linear", ("addmm", "linear", "aten::mm")), ("loss", ("cross_entropy", "log_softmax", "nll")))


def _unlearn_inputs(ctx, method: str, scenario: str):
    """What runner gives ``method``'s run: its data (with the oracle mask where it asks) and hyper-parameters."""
    hp = runner.hyper_parameters(ctx, method)
    return runner.unlearn_data(ctx, scenario, oracle=runner.needs_oracle(method, hp)), hp


def unlearning_profile(ctx, methods=("ft", "tarf"), scenario="target_mismatch", seed=0) -> dict:
    """torch.profiler over one unlearning run per method (no evaluation): self CPU time by op group.
    Its base models come from the store (trained first on an empty one)."""
    from torch.profiler import ProfilerActivity, profile

    model, _ = runner.original(ctx, scenario, seed)
    out = {}
    for m in methods:
        data, hp = _unlearn_inputs(ctx, m, scenario)
        seed_everything(seed, ctx.exp.num_threads)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            unlearn_run(m, model, data, hp, seed)
        ops = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
        total = sum(t for _, t in ops)
        groups = dict.fromkeys([g for g, _ in OP_GROUPS] + ["other"], 0.0)
        for name, t in ops:
            g = next((g for g, keys in OP_GROUPS if any(k in name for k in keys)), "other")
            groups[g] += t / total
        top = sorted(ops, key=lambda o: -o[1])[:8]
        out[m] = {"self_cpu_s": total / 1e6, "shares": groups, "top_ops": {k: t / total for k, t in top}}
        print(f"unlearning profile {m} ({scenario}, seed {seed}): {total / 1e6:.1f} s self CPU; "
              + ", ".join(f"{g} {v:.0%}" for g, v in groups.items()))
    return out


def nan_fill(ctx, rounds: int = 2, scenario="target_mismatch", seed=0) -> dict:
    """Deterministic mode's NaN fill of new tensors on (torch's default) and off (tarf's): one FT and
    one TARF run and their evaluations, alternated in one process, and whether weights and rows match."""
    import torch.utils.deterministic as det

    model, _ = runner.original(ctx, scenario, seed)
    sets = runner.eval_sets(ctx, scenario)
    inputs = {m: _unlearn_inputs(ctx, m, scenario) for m in ("ft", "tarf")}  # made once, outside the timing
    got = {}
    for _ in range(rounds):
        for fill in (True, False):
            for m, (data, hp) in inputs.items():
                seed_everything(seed, ctx.exp.num_threads)
                det.fill_uninitialized_memory = fill
                t = time.perf_counter()
                um, _ = unlearn_run(m, model, data, hp, seed)
                tu = time.perf_counter() - t
                t = time.perf_counter()
                row = metrics.evaluate(um, sets, ctx.exp.device)
                w = torch.cat([v.flatten() for v in um.state_dict().values() if v.is_floating_point()])
                got.setdefault((m, fill), []).append((tu, time.perf_counter() - t, w, row))
    seed_everything(seed, ctx.exp.num_threads)  # back to tarf's setting
    out = {}
    for m in ("ft", "tarf"):
        on, off = got[(m, True)], got[(m, False)]
        out[m] = {"unlearn_s_fill": med([x[0] for x in on]), "unlearn_s_no_fill": med([x[0] for x in off]),
                  "eval_s_fill": med([x[1] for x in on]), "eval_s_no_fill": med([x[1] for x in off]),
                  "identical": all(torch.equal(x[2], on[0][2]) and x[3] == on[0][3] for x in on + off)}
        o = out[m]
        print(f"NaN fill of new tensors, {m}: unlearning {o['unlearn_s_fill']:.2f} -> {o['unlearn_s_no_fill']:.2f} s, "
              f"evaluation {o['eval_s_fill']:.2f} -> {o['eval_s_no_fill']:.2f} s, identical {o['identical']}")
    return out


def cost_ratios(ctx):
    df = runner.run_all(ctx)
    return {f"{r.scenario}/{r.method}": r.cost_vs_retrained for r in df.itertuples()}


def eval_batch(ctx, scenario="target_mismatch", reps=5) -> dict:
    model, _ = runner.original(ctx, scenario, ctx.exp.seeds[0])
    sets = runner.eval_sets(ctx, scenario)
    real, seconds, rows = metrics.predict, {1024: [], 256: []}, {}
    try:
        for _ in range(reps):
            for bs in seconds:
                metrics.predict = functools.partial(real, batch_size=bs)
                t = time.perf_counter()
                rows[bs] = metrics.evaluate(model, sets, ctx.exp.device)
                seconds[bs].append(time.perf_counter() - t)
    finally:
        metrics.predict = real
    return {"s_per_run_batch_1024": med(seconds[1024]), "s_per_run_batch_256": med(seconds[256]),
            "same_rows": rows[1024] == rows[256], "reps": reps}


def _print_eval_batch(e: dict) -> dict:
    print(f"evaluation per run: batch 1024 {e['s_per_run_batch_1024']:.2f} s, batch 256 {e['s_per_run_batch_256']:.2f} s "
          f"(median of {e['reps']}), same rows {e['same_rows']}")
    return e


def notebook_times(folder: str, timings: str) -> dict:
    """Per executed notebook: wall time, kernel start-up (wall minus its cells) and stage seconds."""
    stages, procs = timing.collect(timings), timing.processes(timings)
    out = {}
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".ipynb") or f.endswith(".tmp.ipynb"):
            continue
        nb = nbformat.read(os.path.join(folder, f), as_version=4)
        wall = nb.metadata.papermill.duration
        cells = sum(c.metadata.get("papermill", {}).get("duration") or 0.0 for c in nb.cells)
        name = f[:-len(".ipynb")]
        st = stages.get(name, {})
        out[name] = {"wall_s": wall, "kernel_start_s": wall - cells, **{f"{k}_s": v for k, v in st.items()}}
        if procs.get(name, 1) > 1:  # stages of side-by-side workers: process-seconds, no "other" left
            out[name]["stage_processes"] = procs[name]
        else:
            out[name]["other_s"] = cells - sum(st.values())
    return out


def pipeline(profile: str):
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryDirectory() as out, \
            tempfile.TemporaryDirectory() as times:
        # figures and tables go to the temporary store too: a benchmark never rewrites results/
        env = dict(os.environ, TARF_STORE=d, TARF_OUTPUT=d, TARF_PROGRESS="0", TARF_TIMINGS=times)
        if profile == "smoke":  # what `make smoke` does
            env.update(TARF_NUM_THREADS="1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        # executed copies go elsewhere so the committed ones stay untouched; KEYS= keeps papermill's
        # durations in them (the committed notebooks have them stripped)
        subprocess.run(["make", "-s", "-j2", "reproduce", f"PROFILE={profile}", f"EXECUTED={out}",
                        "KEYS=metadata.widgets"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        r = {"wall_s": wall, "peak_rss_mb": max(peak, before) / 1024,
             "notebooks": notebook_times(os.path.join(out, profile), times)}
        if profile == "default":  # the TIME ratios of the rows this run made, read before its store goes
            with mock.patch.dict(os.environ, TARF_STORE=d):
                r["cost_vs_retrained"] = cost_ratios(runner.context("default"))
    return r


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def _history(old: dict, run: dict, how: str) -> list:
    """Every whole default reproduction measured so far, newest last (the issue asks for two)."""
    return old.get("make_reproduce_runs", []) + [{
        "date": datetime.date.today().isoformat(), "commit": _commit(), "how": how,
        "wall_s": run["wall_s"], "machine": tarf_kernels.describe()}]


def recorded_run(folder: str, timings: str) -> dict:
    """A finished `make -j2 reproduce` (EXECUTED=folder KEYS=metadata.widgets, TARF_TIMINGS=timings)."""
    spans = []
    for f in sorted(os.listdir(folder)):
        if f.endswith(".ipynb") and not f.endswith(".tmp.ipynb"):
            pm = nbformat.read(os.path.join(folder, f), as_version=4).metadata.papermill
            spans.append([datetime.datetime.fromisoformat(pm[k]) for k in ("start_time", "end_time")])
    if not spans:
        raise SystemExit(f"--record-run: no executed notebooks in {folder}")
    wall = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds()
    return {"wall_s": wall, "notebooks": notebook_times(folder, timings)}


def _print_notebooks(nbs: dict) -> None:
    for nb, v in nbs.items():
        procs = f" (stages over {v['stage_processes']} processes)" if "stage_processes" in v else ""
        print(f"  {nb}: " + ", ".join(f"{k[:-2]} {x:.1f} s" for k, x in v.items() if k.endswith("_s")) + procs)


def _print_bf16(b: dict) -> dict:
    print(f"bf16 autocast ({b['cpu_capability']}, {' '.join(b['bf16_flags']) or 'no bf16 units'}): fp32 {b['fp32_img_s']:.0f} img/s, bf16 {b['bf16_img_s']:.0f} img/s, "
          f"speedup {b['speedup']:.2f}, repeatable {b['bf16_repeatable']}")
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds, smaller throughput sample")
    ap.add_argument("--pipelines", nargs="*", metavar="PROFILE",
                    help="also time make reproduce from an empty store for each PROFILE (bare: smoke default)")
    ap.add_argument("--record-run", nargs=2, metavar=("EXECUTED", "TIMINGS"),
                    help="record a finished in-place reproduction (executed/<profile> folder with papermill "
                         "durations, TARF_TIMINGS folder) as make_reproduce, and the TIME ratios of its rows")
    ap.add_argument("--bf16", action="store_true", help="only the bf16-autocast probe (item 7)")
    ap.add_argument("--eval-batch", action="store_true", help="only the evaluation batch-size probe (item 9)")
    ap.add_argument("--kernels", action="store_true", help="only the native-vs-portable kernels probe (item 8)")
    ap.add_argument("--profile", action="store_true", help="only the unlearning profile (item 10)")
    ap.add_argument("--nan-fill", action="store_true", help="only the NaN-fill probe (item 11)")
    ap.add_argument("--one-epoch", nargs=2, type=int, metavar=("THREADS", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_epoch:  # a child of parallelism(): print its img/s and nothing else
        kernels = {"kernels": os.environ["TARF_BENCH_KERNELS"]} if "TARF_BENCH_KERNELS" in os.environ else {}
        print(one_epoch(runner.context("default", kernels), *args.one_epoch))
        return
    path = ROOT / "bench" / "results.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if args.record_run:  # nothing else is measured: the machine may be busy
        r = {"make_reproduce": recorded_run(*args.record_run), "cost_vs_retrained": cost_ratios(runner.context("default"))}
        r["make_reproduce_runs"] = _history(old, r["make_reproduce"], "make -j2 reproduce, --record-run")
        print(f"make reproduce (recorded): {r['make_reproduce']['wall_s'] / 60:.1f} min")
        _print_notebooks(r["make_reproduce"]["notebooks"])
        return _write(path, old, r)
    # a probe flag measures only its own entry
    if args.eval_batch:
        return _write(path, old, {"eval_batch_cpu": _print_eval_batch(eval_batch(runner.context("default")))})
    if args.kernels:
        return _write(path, old, {"kernels_cpu": _print_kernels(kernels_cost())})
    if args.nan_fill:
        return _write(path, old, {"nan_fill_cpu": nan_fill(runner.context("default"))})
    if args.profile:
        return _write(path, old, {"unlearning_profile": unlearning_profile(runner.context("default"))})
    if args.bf16:
        return _write(path, old, {"bf16_cpu": _print_bf16(bf16_cpu(runner.context("default")))})
    args.pipelines = ["smoke", "default"] if args.pipelines == [] else args.pipelines or []
    ctx = runner.context("default")
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads"}
    res["throughput"] = throughput(ctx, 2 if args.quick else 4, 2048 if args.quick else 6000)
    t = res["throughput"]
    t["matmul_flop_s"] = matmul_flop_s()
    t["efficiency"] = t["train_flop_s"] / t["matmul_flop_s"]
    print(f"training loop: ours {t['ours_img_s']:.0f} img/s, bare {t['bare_img_s']:.0f} img/s, "
          f"ratio {t['ratio']:.3f} (target >= 0.9)")
    print(f"arithmetic efficiency: {t['train_flop_s'] / 1e9:.2f} GFLOP/s training vs "
          f"{t['matmul_flop_s'] / 1e9:.1f} GFLOP/s fp32 matmul, ratio {t['efficiency']:.3f}")
    res["parallelism"] = p = parallelism()
    print(f"2 cores: one process x 2 threads {p['one_process_2_threads_img_s']:.0f} img/s, two processes x 1 thread "
          f"{p['two_processes_1_thread_img_s']:.0f} img/s together (ratio {p['ratio']:.2f}); two processes x 2 "
          f"threads {p['two_processes_2_threads_img_s']:.0f} img/s together")
    res["bf16_cpu"] = _print_bf16(bf16_cpu(ctx, 2 if args.quick else 3, 2048 if args.quick else 4096))
    res["kernels_cpu"] = _print_kernels(kernels_cost(2 if args.quick else 3))
    res["eval_batch_cpu"] = _print_eval_batch(eval_batch(ctx))
    res["eval_s_per_run"] = res["eval_batch_cpu"]["s_per_run_batch_256"]  # the CPU's default batch
    print(f"evaluation (UA, RA, TA, MIA) per run: {res['eval_s_per_run']:.2f} s")
    if "default" not in args.pipelines:  # else from the rows the default pipeline makes (an empty store here
        res["cost_vs_retrained"] = cost_ratios(ctx)  # would compute the whole of notebook 10 first)
    for prof in args.pipelines:
        name = "make_smoke" if prof == "smoke" else f"make_reproduce_{prof}" if prof != "default" else "make_reproduce"
        res[name] = r = pipeline(prof)
        if prof == "default":
            res["cost_vs_retrained"] = r.pop("cost_vs_retrained")
            res["make_reproduce_runs"] = _history(old, r, "make bench")
        print(f"make reproduce PROFILE={prof} from an empty store: {r['wall_s'] / 60:.1f} min, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
        _print_notebooks(r["notebooks"])
    for k, v in res.get("cost_vs_retrained", {}).items():
        print(f"TIME/Retrained {k}: {v:.3f}")
    _write(path, old, res)


def _write(path, old: dict, new: dict) -> None:
    """bench/results.json with ``new``'s entries over the old ones (the rest kept)."""
    store.atomic_write_bytes(path, json.dumps({**old, **new}, indent=1).encode())


if __name__ == "__main__":
    main()
