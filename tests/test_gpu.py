"""The CUDA path, where a GPU is present (skipped elsewhere, so in CI): every method of the smoke
table on the GPU. RL's mixed mode once compared a GPU label tensor with a CPU one and failed here."""

import math

import pytest
import torch

import tarf
from tarf import runner, unlearn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_smoke_table_runs_on_cuda():
    ctx = tarf.context("smoke", {"device": "cuda"})
    df = runner.run_all(ctx, None, ["all_matched", "target_mismatch"])
    assert set(unlearn.METHODS) <= set(df["method"])
    assert all(math.isfinite(v) for v in df["UA"]) and all(math.isfinite(v) for v in df["RA"])
