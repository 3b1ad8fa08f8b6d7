"""Wall time per stage (training, unlearning, evaluation, embedding, figure export) for `make bench`.

Off unless TARF_TIMINGS names a folder; then each process keeps exclusive seconds per stage (a stage
inside another counts under the inner one only, so the stages add up) and rewrites
<folder>/<notebook>-<pid>.json at most once a second and at exit. TARF_NOTEBOOK (set by the
Makefile's notebook rule) names the notebook. Nothing is printed: executed notebooks stay the same.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import time
from pathlib import Path

_stack: list[list] = []  # [stage, start, seconds spent in inner stages]
_totals: dict[str, float] = {}
_last_write = 0.0


def _write() -> None:
    global _last_write
    folder = os.environ.get("TARF_TIMINGS")
    if not folder or not _totals:
        return
    path = Path(folder) / f"{os.environ.get('TARF_NOTEBOOK', 'process')}-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)  # a folder named but not made must not fail the notebook
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"notebook": os.environ.get("TARF_NOTEBOOK"), "stages": _totals}))
    os.replace(tmp, path)
    _last_write = time.monotonic()


atexit.register(_write)


@contextlib.contextmanager
def stage(name: str):
    """Count the enclosed wall time under ``name``; usable as a decorator (``@stage("evaluation")``)."""
    if not os.environ.get("TARF_TIMINGS"):
        yield
        return
    entry = [name, time.perf_counter(), 0.0]
    _stack.append(entry)
    try:
        yield
    finally:
        _stack.pop()
        spent = time.perf_counter() - entry[1]
        _totals[name] = _totals.get(name, 0.0) + spent - entry[2]
        if _stack:
            _stack[-1][2] += spent
        elif time.monotonic() - _last_write > 1.0:
            _write()


def collect(folder: str | Path) -> dict[str, dict[str, float]]:
    """{notebook: {stage: seconds}} summed over the processes that wrote into ``folder``."""
    out: dict[str, dict[str, float]] = {}
    for f in sorted(Path(folder).glob("*.json")):
        d = json.loads(f.read_text())
        nb = out.setdefault(d["notebook"] or "process", {})
        for k, v in d["stages"].items():
            nb[k] = nb.get(k, 0.0) + v
    return out


def processes(folder: str | Path) -> dict[str, int]:
    """{notebook: how many processes wrote its stages}: above 1 (notebook 02's side-by-side base
    workers), collect's seconds are process-seconds and may add up to more than the notebook's wall."""
    out: dict[str, int] = {}
    for f in Path(folder).glob("*.json"):
        nb = json.loads(f.read_text())["notebook"] or "process"
        out[nb] = out.get(nb, 0) + 1
    return out
