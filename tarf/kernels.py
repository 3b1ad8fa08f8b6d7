"""Which CPU kernels torch runs: the machine's fastest (`kernels: native`) or a fixed set that gives
the same float32 numbers on any x86-64 CPU with AVX2 (`kernels: portable`).

Why (docs/protocol.md#same-numbers-on-other-machines): three libraries pick their code path from the
CPU, and each path sums in its own order. ATen's vectorised kernels follow the vector width (AVX2 or
AVX-512), oneDNN's convolutions follow the ISA and size their blocks from the cache sizes, and MKL's
GEMM follows the ISA. Five epochs of SGD grow a last-bit difference into about a point of accuracy.
The portable set fixes all three:
- ATen at AVX2 (ATEN_CPU_CAPABILITY=avx2);
- oneDNN off, so convolutions run as im2col + GEMM in ATen and MKL;
- MKL on its COMPATIBLE branch (MKL_CBWR=COMPATIBLE), the one fixed branch MKL documents for
  non-Intel CPUs too.
It costs about 3x per training step on a 2-core AVX-512 CPU (bench/NOTES.md). ATen and MKL read
their variables once, at their first use, so they are set before any tensor arithmetic:
`tarf.context` sets them, and checks that torch took them.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from .params import KERNELS as MODES

PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"}


class KernelsError(RuntimeError):
    """The process cannot run the kernels the profile asks for."""


def apply(mode: str) -> None:
    """Make this process compute with ``mode``'s kernels (before the first model or batch)."""
    if mode not in MODES:
        raise KernelsError(f"kernels: unknown {mode!r}; valid: {', '.join(MODES)}")
    if mode == "native":
        torch.backends.mkldnn.enabled = True
        return
    for k, v in PORTABLE_ENV.items():
        os.environ.setdefault(k, v)
    torch.backends.mkldnn.enabled = False
    wrong = {k: os.environ[k] for k, v in PORTABLE_ENV.items() if os.environ[k] != v}
    if wrong:
        raise KernelsError(f"kernels: portable needs {_env_line()}; this process has "
                           + ", ".join(f"{k}={v}" for k, v in wrong.items()))
    cap = torch.backends.cpu.get_cpu_capability()
    if cap != "AVX2":
        raise KernelsError(
            f"kernels: portable needs ATen's AVX2 kernels, but torch runs {cap!r}: either this CPU has no "
            f"AVX2 (the portable set is x86-64 with AVX2 only; use kernels: native), or torch computed "
            f"before tarf.context set {_env_line()} (export them before starting Python)")


def describe() -> str:
    """One line for the environment record: the CPU and the kernels torch uses on it."""
    cbwr = os.environ.get("MKL_CBWR", "unset")
    return (f"cpu {_cpu_model()}; ATen {torch.backends.cpu.get_cpu_capability()}; "
            f"oneDNN {'on' if torch.backends.mkldnn.enabled else 'off'}; MKL_CBWR {cbwr}")


def _env_line() -> str:
    return " ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
