"""The artifact store: atomic writes, checksums, stable keys, and re-use without recomputation."""

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from tarf import metrics, runner, scenarios, store, train

SMOKE = {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}}  # quick: one thread, one epoch


# --- keys -----------------------------------------------------------------------------------------

def test_key_is_stable_and_order_independent():
    a = {"seed": 0, "train": {"lr": 0.1, "epochs": 1}, "role": "original"}
    b = {"role": "original", "train": {"epochs": 1, "lr": 0.1}, "seed": 0}
    assert store.key(a) == store.key(b)
    assert len(store.key(a)) == 16 and int(store.key(a), 16) >= 0
    # pinned: the same params give the same key in every process and version of the code
    blob = json.dumps(a, sort_keys=True, separators=(",", ":"))
    assert store.key(a) == hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert store.key({"x": 1}) == "5041bf1f713df204"
    assert store.key(a) != store.key({**a, "seed": 1})
    assert store.key(a) != store.key({**a, "train": {"lr": 0.1, "epochs": 2}})


# --- atomic writes --------------------------------------------------------------------------------

def test_put_get_roundtrip(files):
    store.put("kind", "k1", "bin", b"hello")
    assert files() == ["kind/k1.bin", "kind/k1.bin.sha256"]
    assert store.get("kind", "k1", "bin") == b"hello"
    assert store.exists("kind", "k1", "bin")
    assert store.get("kind", "absent", "bin") is None


def test_data_without_sidecar_is_never_read():
    p = store.path_for("kind", "k1", "bin")
    p.parent.mkdir(parents=True)
    p.write_bytes(b"half-writ")  # the crash came before the checksum was written
    assert store.get("kind", "k1", "bin") is None
    assert not store.exists("kind", "k1", "bin")
    assert store.get_json("kind", "k1") is None


def test_temp_file_left_by_a_crash_is_ignored(files):
    p = store.path_for("kind", "k1", "bin")
    p.parent.mkdir(parents=True)
    (p.parent / f".{p.name}.abc123.tmp").write_bytes(b"partial")
    assert store.get("kind", "k1", "bin") is None
    store.put("kind", "k1", "bin", b"complete")
    assert store.get("kind", "k1", "bin") == b"complete"
    assert "kind/k1.bin" in files() and "kind/k1.bin.sha256" in files()


def test_kill_during_atomic_write_leaves_nothing(monkeypatch, tmp_store, files):
    def killed(src, dst):
        raise KeyboardInterrupt("killed between fsync and rename")

    monkeypatch.setattr(os, "replace", killed)
    target = tmp_store / "kind" / "x.bin"
    with pytest.raises(KeyboardInterrupt):
        store.atomic_write_bytes(target, b"data")
    assert not target.exists()
    assert files() == []  # no temporary file either
    with pytest.raises(KeyboardInterrupt):
        store.put("kind", "k1", "bin", b"data")
    assert files() == []
    assert store.get("kind", "k1", "bin") is None


def _kill_at_second_rename(monkeypatch):
    """The process dies between put's two renames (data, then its sidecar); returns the real rename."""
    real = os.replace
    calls = []

    def second_rename_dies(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("killed")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_dies)
    return real


def test_kill_before_the_sidecar_counts_as_absent(monkeypatch, files):
    _kill_at_second_rename(monkeypatch)
    with pytest.raises(OSError):
        store.put("kind", "k1", "bin", b"new")
    assert files() == ["kind/k1.bin"]  # data, no sidecar, no temp file
    assert store.get("kind", "k1", "bin") is None


def test_interrupted_overwrite_never_pairs_new_data_with_old_sum(monkeypatch):
    store.put("kind", "k1", "bin", b"old")
    real = _kill_at_second_rename(monkeypatch)
    with pytest.raises(OSError):
        store.put("kind", "k1", "bin", b"new")
    monkeypatch.setattr(os, "replace", real)
    assert store.get("kind", "k1", "bin") is None  # absent (recompute), not old/new mixed or an error


# --- checksums ------------------------------------------------------------------------------------

def flip_byte(path: Path, at: int = -1) -> None:
    b = bytearray(path.read_bytes())
    b[at] ^= 0xFF
    path.write_bytes(bytes(b))


def test_checksum_mismatch_raises_naming_the_file():
    p = store.put("kind", "k1", "bin", b"payload")
    flip_byte(p)
    with pytest.raises(store.CorruptArtifact) as e:
        store.get("kind", "k1", "bin")
    assert str(p) in str(e.value) and "checksum mismatch" in str(e.value)


@pytest.mark.parametrize("put,get", [(store.put_torch, store.get_torch), (store.put_json, store.get_json)])
def test_corrupt_artifact_is_reported_discarded_and_recomputed(put, get, capsys, files):
    p = put("kind", "k1", {"w": [1, 2, 3]})
    flip_byte(p, len(p.read_bytes()) // 2)
    assert get("kind", "k1") is None  # → the caller recomputes
    out = capsys.readouterr().out
    assert "warning:" in out and str(p) in out and "checksum mismatch" in out and "recomputing" in out
    assert files() == []  # discarded
    put("kind", "k1", {"w": [1, 2, 3]})
    assert get("kind", "k1") == {"w": [1, 2, 3]}


# --- re-use without recomputation -----------------------------------------------------------------

def no_more(what):
    def fail(*a, **k):
        raise AssertionError(f"{what} was called again instead of loading from the store")
    return fail


def test_original_trains_once_then_loads(smoke_exp, smoke_ds, smoke_split, monkeypatch, files, capsys):
    calls = []
    real_fit = train.fit

    def counting_fit(*a, **k):
        calls.append(1)
        return real_fit(*a, **k)

    monkeypatch.setattr(train, "fit", counting_fit)
    m1, rec1 = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert calls == [1]
    ckpt = [f for f in files() if f.startswith("models/") and f.endswith(".pt")]
    assert ckpt == [f"models/{rec1['key']}.pt"]

    monkeypatch.setattr(train, "fit", no_more("train.fit"))
    m2, rec2 = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert rec2["key"] == rec1["key"] and rec2["log"] == rec1["log"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k

    # a flipped byte in the checkpoint: detected by its checksum, reported, and trained again
    monkeypatch.setattr(train, "fit", counting_fit)
    flip_byte(store.path_for("models", rec1["key"], "pt"), 1000)
    capsys.readouterr()
    m3, rec3 = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert calls == [1, 1]
    assert "checksum mismatch" in capsys.readouterr().out
    assert rec3["key"] == rec1["key"]
    for (k, a), b in zip(m1.state_dict().items(), m3.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), k  # same seed, same model
    assert store.get_torch("models", rec1["key"]) is not None  # stored again, checksum valid


def test_run_one_returns_the_cached_row(monkeypatch, files):
    ctx = runner.context("smoke", SMOKE)
    row = runner.run_one(ctx, "all_matched", "ga", 0)
    assert row["method"] == "ga" and row["scenario"] == "all_matched"
    n = len(files())
    monkeypatch.setattr(runner.unlearn, "run", no_more("the unlearning method"))
    monkeypatch.setattr(train, "fit", no_more("train.fit"))
    again = runner.run_one(ctx, "all_matched", "ga", 0)
    assert again == row
    assert len(files()) == n  # nothing new written
    # a fresh context (e.g. a new process) loads the same split and the same row
    assert runner.run_one(runner.context("smoke", SMOKE), "all_matched", "ga", 0) == row


def test_claim_admits_one_holder_of_a_key_at_a_time():
    """Threads open the lock file separately, so flock excludes them as it excludes processes."""
    inside, overlaps = [], []

    def hold(name):
        with store.claim("results", "k1"):
            overlaps.append(len(inside))
            inside.append(name)
            time.sleep(0.2)
            inside.remove(name)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [0, 0, 0]
    with store.claim("results", "k1"), store.claim("results", "k2"):  # other keys do not wait
        pass


def test_a_run_two_notebooks_need_at_once_is_computed_once(monkeypatch):
    """Two callers of the same run at the same time (`make -j2`): one trains each model and runs the
    method, the other waits on the claim and reads the stored row."""
    ctx = runner.context("smoke", SMOKE)
    fits, runs = [], []
    real_fit, real_run = train.fit, runner.unlearn.run

    def slow_fit(*a, **k):
        fits.append(1)
        time.sleep(0.3)  # long enough that the second caller arrives while the first trains
        return real_fit(*a, **k)

    def slow_run(*a, **k):
        runs.append(1)
        time.sleep(0.3)
        return real_run(*a, **k)

    monkeypatch.setattr(train, "fit", slow_fit)
    monkeypatch.setattr(runner.unlearn, "run", slow_run)
    rows = [None, None]

    def call(i):
        rows[i] = runner.run_one(ctx, "all_matched", "ga", 0)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fits) == 2  # the original and the Retrained, once each
    assert len(runs) == 1
    assert rows[0] == rows[1] and rows[0]["method"] == "ga"


def test_original_row_is_the_model_before_unlearning(monkeypatch, files):
    """The Original reference row evaluates the original itself: no method is called, TIME is 0, its
    UA is the original's accuracy on D_t and its Gap is against Retrained like any other row."""
    ctx = runner.context("smoke", SMOKE)
    monkeypatch.setattr(runner.unlearn, "run", no_more("the unlearning method"))
    row = runner.run_one(ctx, "target_mismatch", runner.ORIGINAL, 0)
    model, _ = runner.original(ctx, "target_mismatch", 0)
    sc = ctx.split["target_mismatch"]
    x, y = ctx.ds.x_train[sc.t], scenarios.labels(ctx.ds, sc.label_space)[sc.t]
    assert row["UA"] == pytest.approx(metrics.accuracy(model, x, y))
    assert row["TIME_min"] == 0.0 and row["method"] == "original"
    ret = runner.run_one(ctx, "target_mismatch", "retrained", 0)
    assert row["Gap"] == pytest.approx(metrics.gap(row, ret))
    assert "original" in runner.TABLE_ROWS and "original" not in runner.METHODS


def test_every_cached_run_key_carries_every_profile_field():
    """runner.run_key is the one place that adds the profile's run fields: a change of the unlearning
    batch size, augmentation, AMP or precision changes the key of a runner row, a TARF variant
    (through run_key), an Observation 6 track and a fit-study run alike."""
    import dataclasses

    from tarf import fit_study

    ctx = runner.context("smoke", SMOKE)
    keys = lambda c: (runner._row_key(c, "all_matched", "ga", 0, "o", "r"),  # noqa: E731
                      runner.run_key(c, original="o", hp={}, seed=0, v=2),
                      fit_study.tarf_key(c, "data_mismatch", 1, {"lr": 0.1}, "o"))
    base = keys(ctx)
    assert len(set(base)) == 3
    for change in ({"unlearn_batch_size": 7}, {"unlearn_augment": not ctx.exp.unlearn_augment},
                   {"amp": not ctx.exp.amp}, {"dtype": "float32" if ctx.exp.dtype != "float32" else "float64"}):
        other = runner.Context(dataclasses.replace(ctx.exp, **change), ctx.ds, ctx.split)
        assert all(a != b for a, b in zip(base, keys(other))), change


@pytest.mark.slow
def test_base_models_side_by_side_are_the_ones_trained_one_by_one(tmp_path, monkeypatch):
    """base_workers 2 trains the base models in two processes; every checkpoint is bit-identical to
    the one a single process trains (same seed, one thread each), and the loading pass trains none."""
    one = {**SMOKE, "seeds": [0]}
    monkeypatch.setenv("TARF_STORE", str(tmp_path / "serial"))
    ctx = runner.context("smoke", one)
    serial, _ = runner.base_models(ctx)
    want = {job: _state(ctx, *job) for job in runner._base_jobs(ctx)}

    monkeypatch.setenv("TARF_STORE", str(tmp_path / "pool"))
    ctx2 = runner.context("smoke", {**one, "base_workers": 2})
    monkeypatch.setattr(train, "fit", no_more("train.fit in the driver"))  # the workers train, not this process
    pool, _ = runner.base_models(ctx2)
    assert pool.drop(columns="TIME_min").equals(serial.drop(columns="TIME_min"))
    for job, sd in want.items():
        for (name, a), b in zip(sd.items(), _state(ctx2, *job).values()):
            assert torch.equal(a, b), (job, name)


def _state(ctx, role, label_space, scenario):
    model, _ = (train.original(ctx.exp, ctx.ds, ctx.split, label_space, 0) if role == "original"
                else runner.retrained(ctx, scenario, 0))
    return model.state_dict()
