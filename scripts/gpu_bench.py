"""GPU throughput check for the GPU profiles (no data set needed: random tensors of the right shapes).

  python scripts/gpu_bench.py [--shape cifar|fmnist] [--epochs 3] [--compile]

cifar: ResNet-18 (width 64, 10 classes), 50,000 random 3×32×32 images, bf16 autocast, batch 256,
crop+flip: the CIFAR profiles' recipe; projects the paper's 182-epoch base training.
fmnist: the fmnist profile's model (width 16), 60,000 random 1×28×28 images, fp32, batch 128, no
augmentation; projects one epoch of each of the profile's trainings.
Both train with tarf's own loop on data resident on the GPU, channels_last, and report img/s per
epoch, the model's training FLOP/s (3 × forward FLOPs, torch's FlopCounterMode) and its ratio to a
dense 8192³ matmul in the same precision measured in the same run. Writes bench/gpu.json (one entry
per shape, `<shape>+compile` with --compile).
"""

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from tarf import models
from tarf.params import Experiment, Train
from tarf.paths import ROOT
from tarf.store import atomic_write_bytes
from tarf.train import autocast, fit, seed_everything

SHAPES = {  # n, channels, size, width, batch, amp, augment, data set (for the normalisation)
    "cifar": (50_000, 3, 32, 64, 256, True, True, "cifar10"),
    "fmnist": (60_000, 1, 28, 16, 128, False, False, "fmnist"),
}
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--shape", choices=sorted(SHAPES), default="cifar")
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--compile", action="store_true")
args = ap.parse_args()
assert torch.cuda.is_available(), "needs a CUDA device"
n, ch, size, width, bs, amp, augment, ds = SHAPES[args.shape]
seed_everything(0)
x = torch.randint(0, 256, (n, ch, size, size), dtype=torch.uint8, device="cuda")
y = torch.randint(0, 10, (n,), device="cuda")
model = models.build("resnet18", 10, width, ch, ds).cuda()
recipe = Train(epochs=1, batch_size=bs, lr=0.1, schedule="constant", augment=augment)
exp = Experiment(dataset=ds, requests={}, device="cuda", amp=amp)
compiled = torch.compile(model) if args.compile else None

dtype = torch.bfloat16 if amp else torch.float32
with FlopCounterMode(display=False) as counter, autocast(exp):
    model(torch.rand(bs, ch, size, size, device="cuda").to(memory_format=torch.channels_last))
flops_per_img = 3 * counter.get_total_flops() / bs  # forward + backward ≈ 3 × forward
a = torch.randn(8192, 8192, device="cuda", dtype=dtype)
for _ in range(3):
    a @ a
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(10):
    a @ a
torch.cuda.synchronize()
matmul = 10 * 2 * 8192 ** 3 / (time.perf_counter() - t)
del a

rates = []
for e in range(args.epochs):
    torch.cuda.synchronize()
    t = time.perf_counter()
    with autocast(exp):
        fit(model, x, y, recipe, e, "cuda", compiled=compiled)
    torch.cuda.synchronize()
    rates.append(len(x) / (time.perf_counter() - t))
    print(f"{args.shape} epoch {e + 1}: {rates[-1]:.0f} img/s")
best = max(rates[1:] or rates)
eff = best * flops_per_img / matmul
print(f"{torch.cuda.get_device_name()} {args.shape}: {best:.0f} img/s, {best * flops_per_img / 1e12:.2f} TFLOP/s "
      f"training vs {matmul / 1e12:.1f} TFLOP/s dense {dtype} matmul (ratio {eff:.4f}); "
      f"one epoch of {n} images {n / best:.1f} s" + (f"; 182 epochs ≈ {182 * n / best / 60:.1f} min"
                                                     if args.shape == "cifar" else ""))
path = ROOT / "bench" / "gpu.json"
old = json.loads(path.read_text()) if path.exists() else {}
old = old if "img_s" not in old else {"cifar": old}  # the one-shape format of earlier runs
old[args.shape + ("+compile" if args.compile else "")] = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "img_s": rates,
                   "compile": args.compile, "train_flops_per_img": flops_per_img, "matmul_flop_s": matmul,
                   "efficiency": eff, "epoch_s": n / best}
atomic_write_bytes(path, json.dumps(old, indent=1).encode())
