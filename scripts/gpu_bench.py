"""GPU throughput check for the CIFAR profiles (no data set needed: random tensors of CIFAR's shapes).

  python scripts/gpu_bench.py [--epochs 3] [--compile]

Trains ResNet-18 (width 64, 10 classes) with tarf's own loop on 50,000 random 3×32×32 uint8 images,
resident on the GPU, bf16 autocast, channels_last, batch 256, crop+flip; prints img/s per epoch and
the projected time of the paper's 182-epoch recipe. Writes bench/gpu.json.
"""

import argparse
import json
import time

import torch

from tarf import models
from tarf.params import Experiment, Train
from tarf.paths import ROOT
from tarf.store import atomic_write_bytes
from tarf.train import autocast, fit, seed_everything

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--compile", action="store_true")
args = ap.parse_args()
assert torch.cuda.is_available(), "needs a CUDA device"
seed_everything(0)
x = torch.randint(0, 256, (50_000, 3, 32, 32), dtype=torch.uint8, device="cuda")
y = torch.randint(0, 10, (50_000,), device="cuda")
model = models.build("resnet18", 10, 64, 3, "cifar10").cuda()
recipe = Train(epochs=1, batch_size=256, lr=0.1, schedule="constant", augment=True)
exp = Experiment(dataset="cifar10", requests={}, device="cuda", amp=True)
compiled = torch.compile(model) if args.compile else None
rates = []
for e in range(args.epochs):
    torch.cuda.synchronize()
    t = time.perf_counter()
    with autocast(exp):
        fit(model, x, y, recipe, e, "cuda", compiled=compiled)
    torch.cuda.synchronize()
    rates.append(len(x) / (time.perf_counter() - t))
    print(f"epoch {e + 1}: {rates[-1]:.0f} img/s")
best = max(rates[1:] or rates)
print(f"{torch.cuda.get_device_name()}: {best:.0f} img/s; 182 epochs of 50k images ≈ {182 * 50_000 / best / 60:.1f} min")
atomic_write_bytes(ROOT / "bench" / "gpu.json", json.dumps(
    {"device": torch.cuda.get_device_name(), "img_s": rates, "compile": args.compile}, indent=1).encode())
