"""An environment record printed at the end of every notebook (marked NBVAL_IGNORE_OUTPUT)."""

import platform
import subprocess

import numpy as np
import torch

from . import kernels
from .paths import ROOT


def env_report(ctx=None) -> None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=False).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    lines = [f"python {platform.python_version()}", f"torch {torch.__version__}", f"numpy {np.__version__}",
             f"device {device}", f"threads {torch.get_num_threads()}", kernels.describe(), f"commit {commit}"]
    if ctx is not None:
        lines += [f"profile {ctx.profile}", f"split {ctx.split.hash[:16]}"]
    print("\n".join(lines))
