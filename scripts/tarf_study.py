"""The TARF identification study of PAPER.md §13, on a seed kept apart from evaluation.

  python scripts/tarf_study.py default --seed 1

Writes results/<profile>/tarf_study.csv (one row per request × scenario × setting × score) and
prints, per setting and score, how many of the requests' hidden groups were found exactly.
"""

import argparse

from tarf import report
from tarf.study import identification_study

# Two requests with different concepts, so the choice cannot fit the default concept alone.
REQUESTS = {
    "footwear/Sneaker": {"given": ["Sneaker"], "concept": "footwear"},
    "tops/Shirt": {"given": ["Shirt"], "concept": "tops"},
}
GRID = {"epochs": [2], "t1": [1], "t0": [0.5], "lr": [0.03], "k": [0.1, 0.5],
        "bn_phase1": ["train", "recompute", "eval"]}

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("profile")
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
df = identification_study(args.profile, REQUESTS, GRID, args.seed)
report.export(df.astype({"hidden": str, "top_k": str}), "tarf_study", args.profile)
summary = df.groupby(["k", "bn_phase1", "score"])["hit"].agg(["sum", "count"])
print(df.round(2).to_string(index=False))
print(summary.to_string())
