"""Machine noise, measured: how far the default's results move when only the CPU kernels change.

  python scripts/kernel_noise.py [--seed 0] [--scenario target_mismatch --scenario model_mismatch]

Runs notebook 10's rows (Table 3's ten methods and the Original) on one evaluation seed and two
scenarios twice, from the base models up, each in its own store: once with this CPU's native
kernels and once with ATen, oneDNN and MKL capped at AVX2 (the `avx2` configuration of
scripts/kernel_matrix.sh, as a CPU without AVX-512 would run). Same params, same seed; only the
kernels differ. Writes results/default/kernel_noise_rows.csv (both runs' rows) and
results/default/kernel_noise.{csv,md,tex}: per metric, the |difference| between the two runs over
the (scenario, method) pairs (docs/protocol.md#same-numbers-on-other-machines). Each configuration's
store (store/kernel_noise/<name>) is kept, so a second call reuses what the first computed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from tarf import report
from tarf.paths import ROOT, results_dir

CONFIGS = {
    "native": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
}
METRICS = ["UA", "RA", "TA", "MIA", "Gap"]

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--seed", type=int, default=0, help="one evaluation seed (default 0)")
ap.add_argument("--scenario", action="append", help="default: target_mismatch, model_mismatch")
args = ap.parse_args()
scenarios = args.scenario or ["target_mismatch", "model_mismatch"]

frames = []
for name, env in CONFIGS.items():
    store = ROOT / "store" / "kernel_noise" / name
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "rows.csv"
        cmd = [sys.executable, "-m", "tarf", "table", "default", "--seed", str(args.seed), "--csv", str(csv)]
        for s in scenarios:
            cmd += ["--scenario", s]
        print(f"{name}: {' '.join(f'{k}={v}' for k, v in env.items()) or 'no overrides'}", flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, **env, "TARF_STORE": str(store),
                                             "TARF_OUTPUT": tmp, "TARF_PROGRESS": "0"},
                       stdout=subprocess.DEVNULL)
        frames.append(pd.read_csv(csv).assign(kernels=name))

rows = pd.concat(frames, ignore_index=True)
report.export(rows, "kernel_noise_rows", "default")
wide = rows.pivot_table(index=["scenario", "method"], columns="kernels", values=METRICS)
diff = pd.DataFrame({m: (wide[(m, "native")] - wide[(m, "avx2")]).abs() for m in METRICS})
summary = pd.DataFrame({
    "metric": METRICS,
    "pairs": [int(diff[m].notna().sum()) for m in METRICS],
    "mean_abs_diff": [diff[m].mean() for m in METRICS],
    "median_abs_diff": [diff[m].median() for m in METRICS],
    "max_abs_diff": [diff[m].max() for m in METRICS],
    "max_at": [" / ".join(diff[m].idxmax()) if diff[m].notna().any() else "" for m in METRICS],
})
summary.insert(0, "seed", args.seed)
report.export(summary, "kernel_noise", "default")
print(summary.to_string(index=False))
print(f"\nwritten: {results_dir('default')}/kernel_noise.csv, kernel_noise_rows.csv")
