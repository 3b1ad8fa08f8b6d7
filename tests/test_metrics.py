"""Metrics on constructed cases whose answers are known by hand (docs/metrics.md)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from tarf import metrics

C = 3


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class PixelClassifier(nn.Module):
    """Predicts class = first pixel value mod C; confidence of that class is set by ``p_top``.

    A BatchNorm layer makes eval vs train mode observable.
    """

    def __init__(self, p_top=0.8):
        super().__init__()
        self.bn = nn.BatchNorm2d(1)
        rest = (1 - p_top) / (C - 1)
        self.log_top, self.log_rest = math.log(p_top), math.log(rest)

    def forward(self, x):
        if self.training:
            raise AssertionError("metrics must run in eval mode")
        x = self.bn(x)  # identity in eval mode at init (mean 0, var 1)
        cls = (x[:, 0, 0, 0] * 255).round().long() % C
        logits = torch.full((len(x), C), self.log_rest)
        logits[torch.arange(len(x)), cls] = self.log_top
        return logits


def images(first_pixels):
    x = torch.zeros(len(first_pixels), 1, 4, 4, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.tensor(first_pixels, dtype=torch.uint8)
    return x


def test_accuracy_and_confidence_known_by_hand():
    model = PixelClassifier(0.8).train()
    x = images([0, 1, 2, 3, 4, 5, 6, 7])  # predicted: 0 1 2 0 1 2 0 1
    y = torch.tensor([0, 1, 2, 0, 0, 0, 0, 0])  # correct on 0,1,2,3,6 → 5/8
    assert metrics.accuracy(model, x, y) == pytest.approx(62.5)
    assert model.training  # predict restores the caller's mode
    conf = metrics.confidence(model, x, y)
    expect = np.where([1, 1, 1, 1, 0, 0, 1, 0], 0.8, 0.1)
    np.testing.assert_allclose(conf, expect, atol=1e-6)
    assert math.isnan(metrics.accuracy(model, images([]), torch.tensor([], dtype=torch.long)))


def test_accuracy_batches_beyond_one_predict_chunk():
    model = PixelClassifier()
    x = images([i % 256 for i in range(2500)])
    y = torch.tensor([(i % 256) % C for i in range(2500)])
    y[:500] = (y[:500] + 1) % C  # first 500 wrong
    assert metrics.accuracy(model, x, y) == pytest.approx(80.0)


def test_mia_separable_confidences():
    rng = np.random.default_rng(0)
    members = rng.uniform(0.9, 1.0, 200)  # the model is sure on what it trained on
    nonmembers = rng.uniform(0.0, 0.3, 200)
    assert metrics.mia_efficacy(members, nonmembers, rng.uniform(0.0, 0.2, 50)) == 100.0
    assert metrics.mia_efficacy(members, nonmembers, rng.uniform(0.95, 1.0, 50)) == 0.0
    half = np.concatenate([np.full(10, 0.05), np.full(10, 0.97)])
    assert metrics.mia_efficacy(members, nonmembers, half) == 50.0
    assert math.isnan(metrics.mia_efficacy(members, nonmembers, []))


def test_mia_uses_the_reference_svc(monkeypatch):
    seen = {}
    real = metrics.SVC

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(metrics, "SVC", spy)
    metrics.mia_efficacy([0.9, 0.95], [0.1, 0.2], [0.5])
    assert seen == {"C": 3, "gamma": "auto", "kernel": "rbf"}


def test_gap_arithmetic():
    row = {"UA": 10.0, "RA": 90.0, "TA": 80.0, "MIA": 50.0, "TIME_min": 3.0}
    retrained = {"UA": 0.0, "RA": 95.0, "TA": 80.0, "MIA": 100.0, "TIME_min": 30.0}
    assert metrics.gap(row, retrained) == pytest.approx((10 + 5 + 0 + 50) / 4)
    assert metrics.gap(retrained, retrained) == 0.0


def test_evaluate_known_by_hand():
    model = PixelClassifier(0.9)
    # members: correct (conf 0.9); non-members: wrong (conf 0.05); D_t: all wrong → "non-member"
    sets = {
        "t": (images([0, 1, 2, 3]), torch.tensor([1, 2, 0, 1])),  # UA 0
        "r": (images([0, 1, 2, 3]), torch.tensor([0, 1, 0, 0])),  # RA 75
        "test": (images([4, 5]), torch.tensor([1, 0])),  # TA 50
        "mia_members": (images([0, 1, 2] * 10), torch.tensor([0, 1, 2] * 10)),
        "mia_nonmembers": (images([0, 1, 2] * 10), torch.tensor([1, 2, 0] * 10)),
    }
    out = metrics.evaluate(model, sets)
    assert out == pytest.approx({"UA": 0.0, "RA": 75.0, "TA": 50.0, "MIA": 100.0})
    sets["fr"] = (images([0, 1]), torch.tensor([0, 0]))  # 50
    sets["ar"] = (images([2]), torch.tensor([2]))  # 100
    out = metrics.evaluate(model, sets)
    assert out["FR_acc"] == pytest.approx(50.0) and out["UA_R"] == pytest.approx(100.0)
    sets["t"] = sets["mia_members"]  # a D_t the model still recognises: MIA 0
    assert metrics.evaluate(model, sets)["MIA"] == 0.0


def test_mia_of_a_diverged_model_counts_nan_confidence_as_zero():
    from tarf.metrics import mia_efficacy

    members, nonmembers = np.full(20, 0.99), np.full(20, 0.01)
    assert mia_efficacy(members, nonmembers, np.full(5, np.nan)) == 100.0
    assert mia_efficacy(np.full(20, np.nan), nonmembers, np.full(5, 0.5)) >= 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_evaluate_shares_passes_without_changing_a_number(dtype, monkeypatch):
    """The MIA members' logits taken from the D_r pass and D_fr's from the D_t pass (CPU) give the
    row a separate pass per set gives, bit for bit, in every scenario."""
    from tarf import runner

    ctx = runner.context("smoke", {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}, "dtype": dtype})
    real_predict = metrics.predict
    for s in ctx.exp.scenarios:
        model, _ = runner.original(ctx, s, 0)
        sets = runner.eval_sets(ctx, s)
        pos = sets["mia_members_in_r"]
        assert torch.equal(sets["r"][0][torch.as_tensor(pos)], sets["mia_members"][0])
        separate = {k: v for k, v in sets.items() if not k.endswith(("_in_r", "_in_t"))}
        passes = []
        monkeypatch.setattr(metrics, "predict", lambda *a, _p=passes, _r=real_predict, **k: _p.append(1) or _r(*a, **k))
        shared_row, n_shared = metrics.evaluate(model, sets), len(passes)
        separate_row = metrics.evaluate(model, separate)
        monkeypatch.undo()
        assert shared_row == separate_row, s
        assert len(passes) - n_shared == n_shared + 1 + ("fr" in sets), s  # the passes it saved


def test_positions_of_a_set_that_is_not_a_subset_are_none():
    from tarf.runner import _positions

    assert list(_positions(np.array([1, 4, 7, 9]), np.array([4, 9]))) == [1, 3]
    assert _positions(np.array([1, 4, 7]), np.array([4, 8])) is None
    assert _positions(np.array([1, 4, 7]), np.array([9])) is None


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cpu_evaluation_batch_does_not_change_a_number(dtype):
    """predict's CPU batch of 256 (faster than 1,024) gives the old batch's logits bit for bit, on
    every smoke scenario's original, and so the same rows: stored results stay valid."""
    from tarf import runner
    from tarf.batches import predict

    ctx = runner.context("smoke", {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}, "dtype": dtype})
    for s in ctx.exp.scenarios:
        model, _ = runner.original(ctx, s, 0)
        x = ctx.ds.x_train[:2500]
        assert len(x) == 2500  # several batches at either size, and a ragged last one
        assert torch.equal(predict(model, x), predict(model, x, batch_size=1024)), s


def test_predict_records_no_graph():
    """predict runs without autograd: its logits hold no graph (metrics call .numpy() on them)."""
    from tarf.batches import predict

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, C))
    model.train()
    out = predict(model, images([i % 256 for i in range(300)]))
    assert out.shape == (300, C)
    assert not out.requires_grad and out.grad_fn is None
    assert model.training  # eval mode only for the pass
