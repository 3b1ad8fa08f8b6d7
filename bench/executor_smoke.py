"""The smoke table, serial vs Ray with 2 single-thread workers, from empty stores; writes the
``executor_smoke`` entry of bench/results.json (other entries are kept).

  TARF_NUM_THREADS=1 python bench/executor_smoke.py

Both tables run in this process (same imports, same warm caches); Ray's local cluster (2 CPUs, no
dashboard) is started first and timed on its own. The metric columns of the two tables must be
byte-identical, and the entry says whether they were.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from tarf import cli, executor
from tarf.store import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results.json"
TIMES = ["TIME_min", "cost_vs_retrained"]


def table(tmp: Path, name: str, *args) -> tuple[float, pd.DataFrame]:
    os.environ["TARF_STORE"] = str(tmp / name)  # an empty store: everything is computed
    t = time.perf_counter()
    assert cli.main(["table", "smoke", *args, "--csv", str(tmp / f"{name}.csv")]) == 0
    return time.perf_counter() - t, pd.read_csv(tmp / f"{name}.csv")


def main() -> None:
    if os.environ.get("TARF_NUM_THREADS") != "1":
        sys.exit("run with TARF_NUM_THREADS=1 (single-thread runs, in both tables)")
    os.environ["TARF_PROGRESS"] = "0"
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["TARF_OUTPUT"] = str(tmp / "out")
        serial_s, serial = table(tmp, "serial")
        t = time.perf_counter()
        with executor.connected(num_cpus=2):
            start_s = time.perf_counter() - t
            ray_s, on_ray = table(tmp, "ray", "--executor", "ray")
    same = serial.drop(columns=TIMES).to_csv(index=False) == on_ray.drop(columns=TIMES).to_csv(index=False)
    import ray

    entry = {"rows": len(serial), "serial_s": round(serial_s, 1), "ray_s": round(ray_s, 1),
             "ray_cluster_start_s": round(start_s, 1), "ray_workers": "2 CPUs, one thread per task",
             "metrics_identical": same, "ray": ray.__version__, "cores": os.cpu_count(),
             "machine": platform.machine(), "load_avg_1min_before": round(load[0], 2),
             "load_avg_1min_after": round(os.getloadavg()[0], 2)}
    print(json.dumps(entry, indent=1))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["executor_smoke"] = entry
    atomic_write_bytes(RESULTS, json.dumps(results, indent=1).encode())
    if not same:
        sys.exit("the serial and Ray tables differ in their metric columns")


if __name__ == "__main__":
    main()
