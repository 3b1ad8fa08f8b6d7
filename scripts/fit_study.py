"""The fit study (library and row contents: tarf/fit_study.py).

  python scripts/fit_study.py [--profile default] [--width 8 16 32] [--base-epochs 5 15]
      [--seeds 1 2 3] [--variants default mixed] [--cells CELL ...] [--max-minutes N] [--csv PATH]

For each grid point (width x base-training epochs x tuning seed) it trains (or loads from the store)
the fine and the coarse original, and runs TARF and its oracle twin on every request with K > 0
(Fashion-MNIST: each class of tops and of footwear given, concept = its superclass, in target and
data mismatch: 14 cells), once per TARF variant:
  default     the profile's methods.tarf settings
  mixed       phase1_batches: mixed (Phase I over Phase II's batches, D_un at loss weight 0)
  paper_dose  epochs 10, t0 2, lr 0.01, k_target 0.04 (the paper's values)
  ascent      identified_op: ascent

--cells keeps the cells matching any of the given ids ("target_mismatch:Sneaker"), given classes
("Coat"), scenarios or concepts. Rows go to results/<profile>/fit_study.csv (or --csv), one per
(width, base_epochs, seed, scenario, given, variant); rows already there are skipped and each new row
is written as soon as it is done (atomically), so the study can be stopped and resumed at any time.
--max-minutes N stops cleanly before the first row that would start after N minutes.
Seed 0 (the evaluation seed) is refused. --device cuda runs the grid on a GPU; its rows belong in
their own CSV (results/default/fit_study_cuda.csv), since the numbers differ from the CPU's by kernel
noise and the CSV does not record the device.

At the end: per setting (width, base_epochs, variant) over the selected rows, the mean train / test
accuracy of the originals, on how many cells each read-out's top-K equals the hidden groups, and on
how many cells TARF and its oracle twin reached UA <= 5.

Example (one cell, the default profile's setting, seed 1):
  python scripts/fit_study.py --width 8 --base-epochs 5 --seeds 1 --variants default \\
      --cells target_mismatch:Sneaker
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from tarf import fit_study

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--profile", default="default")
ap.add_argument("--width", type=int, nargs="+", default=[8, 16, 32])
ap.add_argument("--base-epochs", type=float, nargs="+", default=[5, 15])
ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
ap.add_argument("--variants", nargs="+", default=["default", "mixed"], choices=list(fit_study.VARIANTS))
ap.add_argument("--cells", nargs="+", default=None, help="cell ids, given classes, scenarios or concepts")
ap.add_argument("--max-minutes", type=float, default=None)
ap.add_argument("--csv", type=Path, default=None, help="default: results/<profile>/fit_study.csv")
ap.add_argument("--device", default=None, help="cpu (the profile's), cuda: rows on another device are other "
                "numbers (kernel noise); give them their own --csv")
args = ap.parse_args()

epochs = [int(e) if float(e).is_integer() else e for e in args.base_epochs]  # 5, not 5.0, in keys
try:
    res = fit_study.run_study(args.profile, args.width, epochs, args.seeds, args.variants, args.cells,
                              args.max_minutes, args.csv, {"device": args.device} if args.device else None)
except ValueError as err:
    sys.exit(f"fit_study: {err}")
print(f"computed {res.computed} row(s), skipped {res.skipped} already in the CSV"
      + (f"; stopped after {args.max_minutes} min, {len(res.remaining)} row(s) left" if res.stopped else ""))
rows = fit_study.grid_rows(res.df, args.width, epochs, args.seeds, args.variants, res.cell_ids, res.hps)
with pd.option_context("display.width", 200, "display.max_columns", 30):
    print(fit_study.summary(rows).to_string() if len(rows) else "no rows yet")
