"""Each baseline does what its paper / reference code says, on a tiny problem (docs/baselines.md#the-eight-baselines)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.stats import chi2

from tarf import models
from tarf.unlearn import METHODS, UnlearnData, bs, common, get, l1_sparse, rl, run, salun, scrub

C = 3
BASELINES = [m for m in METHODS if m != "tarf"]
QUICK = {"iu": {"N": 10}}  # every other baseline: 1.5 epochs (exercises a fractional epoch)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_xy(n, seed, classes=C):
    """Learnable 1×8×8 uint8 images: a class-specific bright stripe plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randint(0, 100, (n, 1, 8, 8), generator=g)
    for c in range(classes):
        x[y == c, :, 2 * c : 2 * c + 2, :] += 150
    return x.to(torch.uint8), y


def make_data(seed=0, n_f=10, n_un=30, batch_size=8, **kw):
    x, y = make_xy(n_f + n_un, seed)
    return UnlearnData(x[:n_f], y[:n_f], x[n_f:], y[n_f:], C, batch_size=batch_size, **kw)


@pytest.fixture(scope="module")
def original():
    """ResNet-18, width 4, briefly trained so that it is better than chance."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = models.build("resnet18", C, width=4, in_channels=1)
    x, y = make_xy(40, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(15):
        loss = F.cross_entropy(model(common.to_input(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def hp_quick(name, **kw):
    return {**QUICK.get(name, {"epochs": 1.5}), **kw}


def ce(model, x, y):
    return F.cross_entropy(common.predict(model, x), y).item()


# --- shared contract -------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASELINES)
def test_deterministic_original_unchanged_and_logged(name, original):
    before, mode = state(original), original.training
    calls = []
    data = make_data(monitor=lambda m: calls.append(1) or {"probe": len(calls)})
    a, log = run(name, original, data, hp_quick(name), seed=3)
    b, _ = run(name, original, make_data(), hp_quick(name), seed=3)
    assert same_state(state(original), before) and original.training == mode
    assert same_state(state(a), state(b))
    assert not same_state(state(a), before)  # it did change something
    assert all("epoch" in e and np.isfinite(e["loss"]) for e in log)
    assert [e["probe"] for e in log] == list(range(1, len(log) + 1))  # monitor merged each epoch
    if name != "iu":
        assert [e["epoch"] for e in log] == [1.0, 1.5]
    c, _ = run(name, original, make_data(), hp_quick(name), seed=4)
    assert not same_state(state(a), state(c))  # the seed matters


def test_registry_rejects_unknown_names_and_keys(original):
    with pytest.raises(ValueError, match="unknown method"):
        get("nope")
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        run("ft", original, make_data(), {"lrr": 0.1}, seed=0)


# --- FT, L1-sparse, GA: which data they touch ---------------------------------------------------


@pytest.mark.parametrize("name", ["ft", "l1_sparse"])
def test_ft_and_l1_see_only_d_un(name, original):
    d1 = make_data()
    x_f, y_f = make_xy(17, 99)  # another D_f, even of another size
    d2 = UnlearnData(x_f, y_f, d1.x_un, d1.y_un, C, batch_size=8)
    a, _ = run(name, original, d1, {"epochs": 1}, seed=0)
    b, _ = run(name, original, d2, {"epochs": 1}, seed=0)
    assert same_state(state(a), state(b))


def test_ga_sees_only_d_f_and_raises_its_loss(original):
    d1 = make_data()
    x_un, y_un = make_xy(23, 98)
    d2 = UnlearnData(d1.x_f, d1.y_f, x_un, y_un, C, batch_size=8)
    a, log = run("ga", original, d1, {"epochs": 2, "lr": 0.01}, seed=0)
    b, _ = run("ga", original, d2, {"epochs": 2, "lr": 0.01}, seed=0)
    assert same_state(state(a), state(b))
    assert ce(a, d1.x_f, d1.y_f) > ce(original, d1.x_f, d1.y_f) + 0.1
    assert log[1]["ce_f"] > log[0]["ce_f"] and log[0]["loss"] == -log[0]["ce_f"]


def _split_state(model):
    buffers = {n for n, _ in model.named_buffers()}
    st = state(model)
    return {k: v for k, v in st.items() if k not in buffers}, {k: v for k, v in st.items() if "running" in k}


@pytest.mark.parametrize("method", ["ga", "bs"])
def test_bn_stats_keep_changes_running_stats_only(original, method):
    """bn_stats="keep": the same weight update as the reference (batch statistics in the forward
    pass), but the running statistics stay the original's instead of drifting to D_f's."""
    hp = {"epochs": 1.5, "lr": 0.01}
    upd, _ = run(method, original, make_data(), hp, seed=0)
    kept, _ = run(method, original, make_data(), {**hp, "bn_stats": "keep"}, seed=0)
    (w_upd, r_upd), (w_kept, r_kept), (w_o, r_o) = map(_split_state, (upd, kept, original))
    assert same_state(w_upd, w_kept) and not same_state(w_kept, w_o)
    assert same_state(r_kept, r_o) and not same_state(r_upd, r_o)
    assert all(m.momentum == 0.1 for m in common.bn_layers(kept))
    with pytest.raises(ValueError, match="bn_stats='x'.*update, keep"):
        run(method, original, make_data(), {**hp, "bn_stats": "x"}, seed=0)


def test_bn_stats_eval_uses_frozen_running_stats(original):
    """bn_stats="eval" (diagnostic): running statistics used and untouched, a different update than
    train mode, and the BN layers are back in train mode after each block."""
    hp = {"epochs": 1.5, "lr": 0.01}
    upd, _ = run("ga", original, make_data(), hp, seed=0)
    ev, _ = run("ga", original, make_data(), {**hp, "bn_stats": "eval"}, seed=0)
    (w_upd, _), (w_ev, r_ev), (_, r_o) = map(_split_state, (upd, ev, original))
    assert same_state(r_ev, r_o) and not same_state(w_ev, w_upd)
    model = common.clone(original).train()
    with common.bn_stats(model, "eval"):
        assert not any(m.training for m in common.bn_layers(model))
    assert all(m.training for m in common.bn_layers(model))


def test_l1_weight_decays_linearly(original):
    g = 1e-3
    _, log = run("l1_sparse", original, make_data(), {"epochs": 4, "gamma": g}, seed=0)
    assert np.allclose(
        [e["alpha"] for e in log], [g, 0.75 * g, 0.5 * g, 0.25 * g], rtol=0, atol=1e-15
    )
    _, log = run(
        "l1_sparse", original, make_data(), {"epochs": 4, "gamma": g, "no_l1_epochs": 2}, seed=0
    )
    assert np.allclose([e["alpha"] for e in log], [g, 0.5 * g, 0, 0], rtol=0, atol=1e-15)
    assert l1_sparse.l1_alpha(0, 2, 2, g) == g  # E − E_no = 0: constant weight, as the reference


def test_l1_penalty_is_over_all_parameters(original):
    data = make_data()
    ft, _ = run("ft", original, data, {"epochs": 1}, seed=0)
    l1_zero, _ = run("l1_sparse", original, data, {"epochs": 1, "gamma": 0.0}, seed=0)
    assert same_state(state(ft), state(l1_zero))  # γ = 0 is exactly FT
    l1, _ = run("l1_sparse", original, data, {"epochs": 1, "gamma": 0.05}, seed=0)
    for (k, p_ft), p_l1 in zip(ft.named_parameters(), l1.parameters()):
        assert p_l1.abs().sum() < p_ft.abs().sum(), (
            k
        )  # every tensor (conv, BN, fc, bias) shrinks more


# --- RL and SalUn: random labels ---------------------------------------------------------------


@pytest.mark.parametrize("exclude", [False, True])
def test_random_labels_uniform_and_in_range(exclude):
    k, n = 5, 50_000
    y = torch.arange(n) % k
    r = rl.random_labels(y, k, common.generator(0), exclude_true=exclude)
    assert r.dtype == torch.int64 and int(r.min()) >= 0 and int(r.max()) < k
    if exclude:
        assert not (r == y).any()
        for c in range(k):  # given the true class, the label is uniform over the other k−1
            counts = torch.bincount(r[y == c], minlength=k).double()
            assert counts[c] == 0
            others = counts[torch.arange(k) != c]
            expected = others.sum() / (k - 1)
            assert ((others - expected) ** 2 / expected).sum() < chi2.ppf(0.999, k - 2)
    else:
        counts = torch.bincount(r, minlength=k).double()
        assert ((counts - n / k) ** 2 / (n / k)).sum() < chi2.ppf(0.999, k - 1)
        assert abs((r == y).double().mean().item() - 1 / k) < 0.01  # the true label can be drawn
    again = rl.random_labels(y, k, common.generator(0), exclude_true=exclude)
    assert torch.equal(r, again)


def test_rl_modes_and_relabelling_each_epoch(original):
    data = make_data()
    _, log = run("rl", original, data, {"epochs": 3}, seed=0)
    assert len({e["random_eq_true"] for e in log}) > 1  # fresh labels every epoch
    seq, _ = run("rl", original, data, {"epochs": 1, "rl_mode": "sequential"}, seed=0)
    mix, _ = run("rl", original, data, {"epochs": 1}, seed=0)
    assert not same_state(state(seq), state(mix))
    with pytest.raises(ValueError):
        run("rl", original, data, {"rl_mode": "bogus"}, seed=0)


def test_salun_with_full_mask_is_rl(original):
    data = make_data()
    a, _ = run("rl", original, data, {"epochs": 1}, seed=5)
    b, _ = run("salun", original, data, {"epochs": 1, "lr": 0.01, "mask_ratio": 1.0}, seed=5)
    assert same_state(state(a), state(b))


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.73])
def test_salun_mask_share_and_saliency(original, ratio):
    data = make_data(batch_size=64)  # one batch, so the summed gradient is one full-batch gradient
    masks = salun.saliency_mask(original, data, ratio, common.generator(0))
    n = sum(m.numel() for m in masks.values())
    assert abs(sum(int(m.sum()) for m in masks.values()) - int(n * ratio)) <= 1
    model = common.clone(original).eval()
    model.zero_grad()
    (-F.cross_entropy(model(common.to_input(data.x_f)), data.y_f)).backward()
    kept = torch.cat([p.grad.abs()[masks[k].bool()] for k, p in model.named_parameters()])
    dropped = torch.cat([p.grad.abs()[~masks[k].bool()] for k, p in model.named_parameters()])
    assert kept.min() >= dropped.max() * (1 - 1e-5)  # the top-|grad| share, ranked globally


def test_salun_strict_pins_masked_weights_and_legacy_does_not(original):
    data = make_data()
    masks = salun.saliency_mask(original, data, 0.5, common.generator(0))
    orig = dict(original.named_parameters())
    for mode, pinned in [("strict", True), ("legacy", False)]:
        out, log = run("salun", original, data, {"epochs": 2, "salun_freeze": mode}, seed=0)
        assert abs(log[0]["mask_share"] - 0.5) < 1e-3
        moved_in, frozen_equal = False, True
        for k, p in out.named_parameters():
            off = ~masks[k].bool()
            frozen_equal &= torch.equal(p.detach()[off], orig[k].detach()[off])
            moved_in |= not torch.equal(p.detach()[~off], orig[k].detach()[~off])
        assert (
            moved_in and frozen_equal == pinned
        )  # legacy: weight decay / momentum still move them


# --- BS ------------------------------------------------------------------------------------------


def test_bs_fgsm_neighbours_from_frozen_model(original):
    data = make_data()
    frozen = common.clone(original).eval()
    x, y, eps = common.to_input(data.x_f), data.y_f, 0.1
    x_adv, y_nb = bs.fgsm_neighbours(frozen, x, y, eps)
    assert ((x_adv - x).abs() <= eps + 1 / 255 + 1e-6).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.allclose(x_adv * 255, (x_adv * 255).round(), atol=1e-4)  # on the 8-bit grid
    assert torch.equal(y_nb, frozen(x_adv).argmax(1))
    # independent FGSM: sign of the input gradient, one step, clamp, round to the pixel grid
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(frozen(xr), y).backward()
    expect = torch.round((x + eps * xr.grad.sign()).clamp(0, 1) * 255) / 255
    assert torch.equal(x_adv, expect)
    assert (y_nb != y).any()  # the attack moves some labels on this problem
    # labels come from the frozen original: with a large lr the trained model drifts, yet the
    # per-epoch attack success is the frozen model's, every epoch
    _, log = run("bs", original, data, {"epochs": 3, "lr": 0.05}, seed=0)
    share = (y_nb != y).double().mean().item()
    assert all(abs(e["attack_success"] - share) < 1e-9 for e in log)


# --- IU ------------------------------------------------------------------------------------------


def _np_grads(W, b, X, Y):
    """Per-sample gradients of CE for a linear softmax model, [dW | db] flattened, float64."""
    z = X @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = p - np.eye(W.shape[0])[Y]
    return np.concatenate([(d[:, :, None] * X[:, None, :]).reshape(len(X), -1), d], 1)


@pytest.mark.parametrize("N", [5, 100])
def test_iu_is_one_woodfisher_step(N):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, C))
    data = make_data(n_f=6, n_un=20)
    alpha, seed = 3.0, 7
    out, log = run("iu", model, data, {"alpha": alpha, "N": N}, seed=seed)
    W, b = (p.detach().double().numpy() for p in model.parameters())
    X = lambda x: x.double().numpy().reshape(len(x), -1) / 255  # noqa: E731
    n_f, n_u = len(data.x_f), len(data.x_un)
    g_f = _np_grads(W, b, X(data.x_f), data.y_f.numpy()).sum(0) / (n_f + n_u)
    g_u = _np_grads(W, b, X(data.x_un), data.y_un.numpy()).sum(0) * n_f / ((n_f + n_u) * n_u)
    order = torch.randperm(n_u, generator=common.generator(seed))[: min(N + 2, n_u)].numpy()
    G = _np_grads(W, b, X(data.x_un)[order], data.y_un.numpy()[order])
    k, o = g_f - g_u, G[0].copy()
    for g in G[1:]:
        s = o @ g
        k = k - (k @ g) / (N + s) * o
        o = o - s / (N + s) * o
    step = torch.cat(
        [(q - p).detach().reshape(-1) for p, q in zip(model.parameters(), out.parameters())]
    )
    assert log[0]["n_samples"] == min(N + 2, n_u)
    np.testing.assert_allclose(step.double().numpy(), alpha * k, rtol=1e-4, atol=1e-7)
    assert np.abs(alpha * k).max() > 1e-3  # a real step, not a no-op


# --- SCRUB ---------------------------------------------------------------------------------------


def kl_eval(student, teacher, x):
    return scrub.kl_t(common.predict(student, x), common.predict(teacher, x), 4.0).item()


def test_scrub_max_step_raises_kl_and_min_step_lowers_ce():
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, C)).eval()
    data = make_data()
    student = common.clone(teacher)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    opt = common.sgd(student, 0.05)
    gen = common.generator(0)
    kl0 = kl_eval(student, teacher, data.x_f)
    scrub.max_pass(student, teacher, data, opt, 4.0, gen)
    assert kl_eval(student, teacher, data.x_f) > kl0 > 0
    ce0 = ce(student, data.x_un, data.y_un)
    opt = common.sgd(student, 0.05)
    for _ in range(3):
        scrub.min_pass(student, teacher, data, opt, 4.0, 0.99, 0.001, gen)
    assert ce(student, data.x_un, data.y_un) < ce0


def test_scrub_schedule(original):
    _, log = run(
        "scrub",
        original,
        make_data(),
        {"epochs": 3, "lr_decay_epochs": [1, 2], "msteps": 2},
        seed=0,
    )
    assert np.allclose([e["lr"] for e in log], [5e-4, 5e-5, 5e-6])
    assert ["max_kl" in e for e in log] == [True, True, False]


def test_kl_t_matches_definition():
    g = torch.Generator().manual_seed(0)
    zs, zt, T = torch.randn(4, C, generator=g), torch.randn(4, C, generator=g), 2.0
    pt, ps = (zt / T).softmax(1), (zs / T).softmax(1)
    expect = T**2 * (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(scrub.kl_t(zs, zt, T), expect, atol=1e-6)


def test_batch_size_hyper_parameter_sets_the_steps(original):
    """`batch_size` (every method's, common.COMMON) is the batch the method trains at: FT at batch 8
    on the same data equals FT handed data built at batch 8, and differs from batch 16."""
    hp = {"epochs": 1, "lr": 0.05}
    at8, _ = run("ft", original, make_data(batch_size=16), {**hp, "batch_size": 8}, seed=0)
    built8, _ = run("ft", original, make_data(batch_size=8), hp, seed=0)
    at16, _ = run("ft", original, make_data(batch_size=16), hp, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(state(at8).values(), state(built8).values()))
    assert not all(torch.equal(a, b) for a, b in zip(state(at8).values(), state(at16).values()))
    # TARF's own hyper-parameter check never sees the key
    run("tarf", original, make_data(batch_size=16), {"epochs": 1, "t1": 0.5, "t0": 0.25, "batch_size": 8}, 0)
    for bad in (0, 8.0, True):
        with pytest.raises(ValueError, match=rf"batch_size: must be an integer >= 1, got {bad!r}"):
            run("ft", original, make_data(), {**hp, "batch_size": bad}, seed=0)
