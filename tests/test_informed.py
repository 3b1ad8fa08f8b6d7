"""Informed baselines (issue 13, tarf/unlearn/informed.py): `<m>+id`, `<m>+oracle`, `ga_id_ft`.

Which data each variant hands its base method is checked by intercepting the base's `unlearn`
(monkeypatch) on the smoke profile (target_mismatch: D_fr = the rest of footwear, K = 2), whose
original is trained once for the module (one quick epoch, tests/conftest.py SMOKE).
"""

import numpy as np
import pytest
import torch

from tarf import runner, store, unlearn
from tarf.unlearn import common, ft, ga, informed, scrub
from tarf.unlearn import tarf as T

SC, SEED = "target_mismatch", 0
SMOKE = {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}}  # as tests/conftest.py
# one quick epoch for the base methods; TARF as the smoke profile gives it (T=3, t1=1, t0=1)
QUICK = {"ft": {"epochs": 0.5}, "ga": {"epochs": 0.5}, "scrub": {"epochs": 0.5}}


@pytest.fixture(autouse=True)
def _smoke_dtype(smoke_exp):
    """The smoke profile computes in float64 (runner.context sets it; conftest resets it after)."""
    torch.set_default_dtype(getattr(torch, smoke_exp.dtype))


@pytest.fixture(scope="module")
def ctx(smoke_exp, smoke_ds, smoke_split):
    return runner.Context(smoke_exp, smoke_ds, smoke_split)


@pytest.fixture(scope="module")
def orig(ctx, smoke_exp):
    torch.set_default_dtype(getattr(torch, smoke_exp.dtype))
    model, _ = runner.original(ctx, SC, SEED)
    return model


@pytest.fixture(scope="module")
def tarf_run(ctx, orig, smoke_exp):
    """A TARF run with the profile's hp and the seed: its identification record."""
    torch.set_default_dtype(getattr(torch, smoke_exp.dtype))  # set up before _smoke_dtype
    data = runner.unlearn_data(ctx, SC)
    _, log = unlearn.run("tarf", orig, data, runner.hyper_parameters(ctx, "tarf"), SEED)
    return next(e["identification"] for e in log if "identification" in e)


def spy(monkeypatch, module):
    """Replace module.unlearn by a recorder that still runs it; returns the list of UnlearnData seen."""
    seen, real = [], module.unlearn

    def wrapper(model, data, hp, seed):
        seen.append((data, hp))
        return real(model, data, hp, seed)

    monkeypatch.setattr(module, "unlearn", wrapper)
    return seen


def as_run(ctx, data):
    """TARF's (data, hp) as its run sees them: the profile's batch_size applied (common.with_batch)."""
    return common.with_batch(data, runner.hyper_parameters(ctx, "tarf"))


def hp_of(ctx, name, **base):
    return {**runner.hyper_parameters(ctx, name), **base}


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def rows(ctx, idx):
    return ctx.ds.x_train[idx]


# --------------------------------------------------------------------------------- registry


def test_names_registry_and_runner_tables():
    assert unlearn.INFORMED == informed.NAMES == runner.INFORMED
    assert set(informed.NAMES) == {f"{m}+{v}" for m in ("ft", "ga", "scrub", "salun")
                                   for v in ("id", "oracle")} | {"ga_id_ft"}
    assert informed.DISPLAY["ga_id_ft"] == "GA→id→FT" and informed.DISPLAY["salun+id"] == "SalUn+id"
    # Table 3 is untouched
    assert runner.METHODS == ("retrained", "ft", "rl", "ga", "iu", "bs", "l1_sparse", "salun",
                              "scrub", "tarf")
    assert not set(runner.METHODS) & set(runner.INFORMED)
    for name in informed.NAMES:
        mod = unlearn.get(name)
        assert callable(mod.unlearn) and isinstance(mod.DEFAULTS, dict)


def test_unknown_names_list_valid_names(ctx):
    with pytest.raises(ValueError, match=r"unknown method 'ft\+nope'.*ft, rl.*ft\+id.*ga_id_ft"):
        unlearn.get("ft+nope")
    with pytest.raises(ValueError, match=r"unknown method 'rl\+id'.*tarf.*salun\+oracle"):
        unlearn.run("rl+id", None, None, {}, 0)
    with pytest.raises(ValueError, match=r"unknown method 'iu\+oracle'.*retrained, original, ft.*ft\+id"):
        runner.run_one(ctx, SC, "iu+oracle", SEED)
    with pytest.raises(ValueError, match="unknown hyper-parameter 'lrr'"):
        unlearn.run("ft+id", None, None, {"lrr": 1.0}, 0)


def test_hp_rule(ctx):
    methods = ctx.exp.methods
    for name in informed.NAMES:
        hp = runner.hyper_parameters(ctx, name)
        base = informed.base_of(name)
        want = runner.hyper_parameters(ctx, base)
        assert {k: v for k, v in hp.items() if k != "tarf"} == want
        if informed.identifies(name):
            assert hp["tarf"] == {**runner.hyper_parameters(ctx, "tarf"), "oracle": False}
        else:
            assert "tarf" not in hp
    assert runner.hyper_parameters(ctx, "ga_id_ft")["epochs"] == methods["ft"]["epochs"]
    # a profile entry for the variant itself overrides key by key, `tarf` key by key
    over = {**methods, "ft+id": {"lr": 0.5, "tarf": {"t1": 0.5}}}
    hp = informed.profile_hp("ft+id", over)
    assert hp["lr"] == 0.5 and hp["epochs"] == methods["ft"]["epochs"]
    assert hp["tarf"]["t1"] == 0.5 and hp["tarf"]["epochs"] == methods["tarf"]["epochs"]
    # TARF's oracle switch never reaches an informed variant
    assert informed.profile_hp("ga+id", {"tarf": {"oracle": True}})["tarf"]["oracle"] is False


# ------------------------------------------------------------------------------- the data


def test_ft_oracle_trains_on_D_un_minus_D_t(ctx, orig, monkeypatch):
    sc = ctx.split[SC]
    assert len(sc.fr) > 0
    seen = spy(monkeypatch, ft)
    before = state(orig)
    data = runner.unlearn_data(ctx, SC, oracle=True)
    _, log = unlearn.run("ft+oracle", orig, data, hp_of(ctx, "ft+oracle", **QUICK["ft"]), SEED)
    (got, hp), = seen
    keep = np.setdiff1d(sc.un, sc.fr)  # D_un \ D_fr = D_un \ D_t
    assert np.array_equal(keep, np.setdiff1d(sc.un, sc.t))
    assert torch.equal(got.x_un, rows(ctx, keep))
    assert torch.equal(got.y_un, data.y_un[~data.oracle_fr])
    # forgetting set = D_f then D_fr (in D_un order): exactly D_t
    assert set(np.concatenate([sc.f, sc.fr]).tolist()) == set(sc.t.tolist())
    assert torch.equal(got.x_f, torch.cat([rows(ctx, sc.f), rows(ctx, sc.fr)]))
    assert got.oracle_fr is None and got.K == data.K and got.num_classes == data.num_classes
    assert "tarf" not in hp and hp["epochs"] == 0.5
    assert log[0]["informed"] == "ft+oracle" and log[0]["n_moved"] == len(sc.fr)
    assert np.array_equal(sc.un[log[0]["identification"]["identified_idx"]], sc.fr)
    assert same_state(state(orig), before)


@pytest.mark.parametrize("name", ["ft+oracle", "ga+oracle", "scrub+oracle", "salun+oracle"])
def test_oracle_needs_the_mask(ctx, orig, name):
    data = runner.unlearn_data(ctx, SC)
    with pytest.raises(ValueError, match=r"oracle_fr.*unlearn_data\(\.\.\., oracle=True\)"):
        unlearn.run(name, orig, data, {}, SEED)
    data.oracle_fr = torch.zeros(3, dtype=torch.bool)
    with pytest.raises(ValueError, match="oracle_fr must be a bool mask"):
        unlearn.run(name, orig, data, {}, SEED)


def test_only_oracle_variants_get_the_mask(ctx, monkeypatch):
    """The runner fills oracle_fr for +oracle names only, and +id never passes it on."""
    asked = []
    real = runner.unlearn_data

    def recorder(ctx_, scenario, monitor=None, oracle=False):
        asked.append(oracle)
        return real(ctx_, scenario, monitor, oracle)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(runner, "unlearn_data", recorder)
    monkeypatch.setattr(unlearn, "run", stop)
    for name in ("ft+oracle", "ga+id", "ga_id_ft", "ft"):
        with pytest.raises(Stop):
            runner.run_one(ctx, SC, name, SEED)
    assert asked == [True, False, False, False]


def test_ga_id_ascends_on_D_f_and_exactly_what_TARF_identifies(ctx, orig, tarf_run, monkeypatch):
    ident = tarf_run["identified_idx"]
    assert 0 < len(ident) < len(ctx.split[SC].un)  # K = 2 groups found on this scenario
    seen = spy(monkeypatch, ga)
    before = state(orig)
    data = runner.unlearn_data(ctx, SC)
    hp = hp_of(ctx, "ga+id", **QUICK["ga"])
    _, log = unlearn.run("ga+id", orig, data, hp, SEED)
    (got, ga_hp), = seen
    mask = torch.zeros(len(data.y_un), dtype=torch.bool)
    mask[ident] = True
    assert torch.equal(got.x_f, torch.cat([data.x_f, data.x_un[mask]]))
    assert torch.equal(got.y_f, torch.cat([data.y_f, data.y_un[mask]]))
    assert torch.equal(got.x_un, data.x_un[~mask]) and torch.equal(got.y_un, data.y_un[~mask])
    assert got.oracle_fr is None and "tarf" not in ga_hp and ga_hp["epochs"] == 0.5
    rec = log[0]["identification"]
    assert rec == tarf_run  # the whole record, scores included
    assert log[0]["informed"] == "ga+id" and log[0]["n_moved"] == len(ident)
    assert log[0]["id_cached"] is False
    assert same_state(state(orig), before)
    # the same identification, computed directly: one code path
    mask2, rec2 = T.phase1_identify(orig, *as_run(ctx, data), SEED)
    assert torch.equal(mask2, mask) and rec2 == tarf_run


def test_identification_is_cached_exactly_and_shared(ctx, orig, tarf_run, monkeypatch, files):
    data = runner.unlearn_data(ctx, SC)
    seen = spy(monkeypatch, scrub)
    _, log1 = unlearn.run("scrub+id", orig, data, hp_of(ctx, "scrub+id", **QUICK["scrub"]), SEED)
    assert log1[0]["id_cached"] is False
    assert [f for f in files() if f.startswith("identification/")]
    calls = []
    monkeypatch.setattr(T, "phase1_identify", lambda *a: calls.append(a))  # must not run again
    _, log2 = unlearn.run("ft+id", orig, data, hp_of(ctx, "ft+id", **QUICK["ft"]), SEED)
    assert calls == [] and log2[0]["id_cached"] is True
    assert log2[0]["identification"] == log1[0]["identification"] == tarf_run
    assert log2[0]["id_seconds"] == log1[0]["id_seconds"]
    assert torch.equal(seen[0][0].x_un, data.x_un[~_mask(tarf_run, data)])
    # anything that determines the set is in the key: another seed or hp is computed anew
    data, tarf_hp = as_run(ctx, data)
    assert informed.cache_key(orig, data, tarf_hp, 1) != informed.cache_key(orig, data, tarf_hp, 0)
    assert informed.cache_key(orig, data, {**tarf_hp, "t1": 0.5}, 0) != \
        informed.cache_key(orig, data, tarf_hp, 0)
    other, _ = as_run(ctx, runner.unlearn_data(ctx, "data_mismatch"))
    assert informed.cache_key(orig, other, tarf_hp, 0) != informed.cache_key(orig, data, tarf_hp, 0)


def _mask(rec, data):
    m = torch.zeros(len(data.y_un), dtype=torch.bool)
    m[rec["identified_idx"]] = True
    return m


def test_tarf_oracle_in_an_id_variant_is_refused(ctx, orig):
    data = runner.unlearn_data(ctx, SC, oracle=True)
    hp = hp_of(ctx, "ft+id")
    hp["tarf"] = {**hp["tarf"], "oracle": True}
    with pytest.raises(ValueError, match=r"tarf.oracle must be False.*ft\+oracle"):
        unlearn.run("ft+id", orig, data, hp, SEED)


def test_ga_id_ft_is_phase1_then_ft_on_D_un_minus_identified(ctx, orig, tarf_run, monkeypatch):
    seen = spy(monkeypatch, ft)
    before = state(orig)
    data = runner.unlearn_data(ctx, SC)
    hp = hp_of(ctx, "ga_id_ft", epochs=0.5)
    model, log = unlearn.run("ga_id_ft", orig, data, hp, SEED)
    (got, ft_hp), = seen
    mask = _mask(tarf_run, data)
    assert torch.equal(got.x_un, data.x_un[~mask]) and torch.equal(got.y_un, data.y_un[~mask])
    assert ft_hp == {**runner.hyper_parameters(ctx, "ft"), "epochs": 0.5}
    # FT starts from TARF's θ_t1, not from θo
    run = T.phase1(orig, *as_run(ctx, data), SEED)
    assert run.record == tarf_run
    # FT's run from θ_t1 on that data is what ga_id_ft returns
    ref, _ = ft.finetune(run.model, got, ft_hp, SEED)
    assert same_state(state(model), state(ref))
    stages = [e["stage"] for e in log]
    assert stages[0] == "phase1" and stages[-1] == "ft" and "phase1" not in stages[stages.index("ft"):]
    first_ft = log[stages.index("ft")]
    assert first_ft["identification"] == tarf_run and first_ft["informed"] == "ga_id_ft"
    assert same_state(state(orig), before)


def test_empty_identification_is_the_base_method(ctx, orig):
    """K = 0 (all_matched): nothing is moved, and `ft+id` is FT bit for bit (Phase I skipped)."""
    data = runner.unlearn_data(ctx, "all_matched")
    assert data.K == 0 and ctx.split["all_matched"].label_space == ctx.split[SC].label_space
    o = orig  # the same (fine-label) original
    a, log = unlearn.run("ft+id", o, data, hp_of(ctx, "ft+id", **QUICK["ft"]), SEED)
    b, _ = unlearn.run("ft", o, data, {**runner.hyper_parameters(ctx, "ft"), **QUICK["ft"]}, SEED)
    assert same_state(state(a), state(b)) and log[0]["n_moved"] == 0


# ------------------------------------------------------------------------------ the runner


def test_run_one_informed_row_is_cached(monkeypatch, files):
    ctx = runner.context("smoke", SMOKE)
    row = runner.run_one(ctx, SC, "ft+oracle", SEED)
    assert row["method"] == "ft+oracle" and np.isfinite(row["Gap"]) and 0 <= row["UA"] <= 100
    results = [f for f in files() if f.startswith("results/")]
    monkeypatch.setattr(unlearn, "run", lambda *a, **k: pytest.fail("recomputed a cached row"))
    assert runner.run_one(ctx, SC, "ft+oracle", SEED) == row
    assert [f for f in files() if f.startswith("results/")] == results
    log = runner.run_log(ctx, SC, "ft+oracle", SEED)
    assert log[0]["informed"] == "ft+oracle"
    k = runner._row_key(ctx, SC, "ft+oracle", SEED, runner.original(ctx, SC, SEED)[1]["key"],
                        runner.retrained(ctx, SC, SEED)[1]["key"])
    assert store.get_json("results", k)["hp"] == runner.hyper_parameters(ctx, "ft+oracle")
