"""`python -m tarf`: bad input → one line "error: …" on stderr naming the key/value and the valid
choices, exit status 2, and an empty store; good input runs through tarf.runner into the store."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tarf import cli, data, params, train
from tarf import runner as runner_mod

ROOT = Path(__file__).resolve().parents[1]
ONE = ["--set", "num_threads=1", "--set", "train={epochs: 1, batch_size: 128}"]  # one thread, one quick epoch
SEL = ["--scenario", "all_matched", "--method", "ga", "--seed", "0", *ONE]  # the cheapest real run


def call(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_bad(argv, words, capsys, files):
    rc, out, err = call(argv, capsys)
    lines = err.strip().splitlines()
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert out == ""
    assert files() == []  # validated before any store write
    return lines[0]


def write_yaml(path: Path, obj) -> str:
    path.write_text(yaml.safe_dump(obj))
    return str(path)


def smoke_raw() -> dict:
    return params.read_yaml(params.profile_path("smoke"))


# --- bad input: (id, argv, words the one-line message must contain) -------------------------------

BAD = [
    ("unknown-top-level-key", ["run", "smoke", "--set", "foo=1"], ["unknown key foo", "valid keys:", "dataset"]),
    ("unknown-nested-key", ["run", "smoke", "--set", "model.depth=18"],
     ["unknown key model.depth", "valid keys: arch, width"]),
    ("wrong-type", ["run", "smoke", "--set", "train.epochs=ten"], ["train.epochs", "'ten'", "expected float"]),
    ("unknown-dataset", ["validate", "smoke", "--set", "dataset=mnist"],
     ["dataset: unknown 'mnist'", "valid: fmnist_embedded, fmnist, cifar10, cifar100"]),
    ("unknown-scenario-option", ["run", "smoke", "--scenario", "all_mismatched"],
     ["--scenario: unknown 'all_mismatched'", "valid: all_matched, target_mismatch, model_mismatch, data_mismatch"]),
    ("unknown-scenario-in-params", ["table", "smoke", "--set", "scenarios=[all_matched, everything]"],
     ["scenarios: unknown 'everything'", "valid: all_matched"]),
    ("unknown-method-option", ["run", "smoke", "--method", "sgd"],
     ["--method: unknown 'sgd'", "valid: retrained, original, ft, rl, ga, iu, bs, l1_sparse, salun, scrub, tarf"]),
    ("unknown-method-in-params", ["run", "smoke", "--set", "methods.sgd={}"],
     ["methods.sgd", "unknown method 'sgd'", "valid methods: ft"]),
    ("unknown-hyper-parameter", ["run", "smoke", "--set", "methods.ga.alpha=1"],
     ["methods.ga.alpha: unknown hyper-parameter", "valid: batch_size, bn_stats, epochs, lr, momentum, weight_decay"]),
    ("unknown-given-class", ["run", "smoke", "--set", "requests.all_matched.given=[Sneakers]"],
     ["requests.all_matched.given: unknown class 'Sneakers'", "valid: T-shirt/top", "Ankle boot"]),
    ("unknown-concept-class", ["run", "smoke", "--set", "requests.target_mismatch.concept=[Sneaker, Boot]"],
     ["requests.target_mismatch.concept: unknown class 'Boot'", "valid:", "Sandal"]),
    ("unknown-superclass", ["splits", "smoke", "--set", "requests.data_mismatch.concept=shoes"],
     ["requests.data_mismatch.concept: unknown superclass 'shoes'", "valid: tops, bottoms, dresses, footwear, bags"]),
    ("given-outside-concept", ["run", "smoke", "--set", "requests.target_mismatch.given=[Bag]"],
     ["requests.target_mismatch.given: 'Bag' not inside the concept", "Sandal, Sneaker, Ankle boot"]),
    ("all-matched-concept-not-given", ["run", "smoke", "--set", "requests.all_matched.concept=footwear"],
     ["requests.all_matched", "concept = given classes", "given ['Sneaker']"]),
    ("empty-D_fr", ["run", "smoke", "--set", "requests.target_mismatch.concept=[Sneaker]"],
     ["requests.target_mismatch", "D_fr is empty", "concept classes that are not given"]),
    ("empty-D_ar", ["run", "smoke", "--set", "requests.model_mismatch={given: [Trouser], concept: [Trouser]}"],
     ["requests.model_mismatch", "D_ar is empty", "'Trouser'", "valid given classes", "Sneaker"]),
    ("empty-D_r", ["run", "smoke", "--set", "requests.target_mismatch.concept=[" + ", ".join(
        f"'{c}'" for c in data.FMNIST_CLASSES) + "]"],
     ["requests.target_mismatch", "D_r is empty"]),
    ("data-mismatch-not-a-superclass", ["run", "smoke", "--set", "requests.data_mismatch.concept=[Sneaker, Sandal]"],
     ["requests.data_mismatch", "whole superclass", "valid concepts: tops, footwear"]),
    ("zero-epochs", ["run", "smoke", "--set", "train.epochs=0"], ["train.epochs: must be > 0", "got 0"]),
    ("negative-epochs", ["run", "smoke", "--set", "train.epochs=-1"], ["train.epochs: must be > 0", "got -1"]),
    ("negative-lr", ["run", "smoke", "--set", "train.lr=-0.1"], ["train.lr: must be > 0", "got -0.1"]),
    ("zero-batch-size", ["run", "smoke", "--set", "train.batch_size=0"], ["train.batch_size: must be > 0", "got 0"]),
    ("zero-method-epochs", ["run", "smoke", "--set", "methods.ga.epochs=0"],
     ["methods.ga.epochs: must be a number > 0", "got 0"]),
    ("seed-option-float", ["run", "smoke", "--seed", "0.5"], ["--seed", "non-negative integer", "'0.5'"]),
    ("seed-option-string", ["run", "smoke", "--seed", "a"], ["--seed", "non-negative integer", "'a'"]),
    ("seeds-float", ["run", "smoke", "--set", "seeds=[0.5]"], ["seeds[0]", "expected int", "0.5 (float)"]),
    ("seeds-string", ["run", "smoke", "--set", "seeds=[a]"], ["seeds[0]", "expected int", "'a' (str)"]),
    ("seeds-bool", ["run", "smoke", "--set", "seeds=[true]"], ["seeds[0]", "expected int", "True (bool)"]),
    ("augment-int", ["run", "smoke", "--set", "train.augment=1"], ["train.augment", "expected bool", "1 (int)"]),
    ("unknown-profile", ["validate", "smok"], ["profile: unknown 'smok'", "valid:", "default", "smoke"]),
    ("unknown-profile-run", ["run", "cifar1000"], ["profile: unknown 'cifar1000'", "cifar10, cifar100"]),
    ("set-without-equals", ["run", "smoke", "--set", "train.epochs"],
     ["--set: expected key.path=value", "'train.epochs'"]),
    ("set-empty-key-part", ["run", "smoke", "--set", "train..epochs=2"],
     ["--set: expected key.path=value", "'train..epochs=2'"]),
    ("set-value-not-yaml", ["run", "smoke", "--set", "seeds=[0,"], ["--set seeds", "'[0,'", "not valid YAML"]),
    ("unknown-command", ["train", "smoke"], ["invalid choice: 'train'", "'validate', 'run', 'table', 'splits'"]),
    ("missing-profile", ["run"], ["required", "PROFILE"]),
    ("unknown-option", ["run", "smoke", "--epochs", "3"], ["unrecognized arguments: --epochs 3"]),
]


@pytest.mark.parametrize("argv,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(argv, words, capsys, files):
    assert_bad(argv, words, capsys, files)


def test_params_file_not_yaml(tmp_path, capsys, files):
    p = tmp_path / "broken.yaml"
    p.write_text("a: [1,\n")
    assert_bad(["validate", str(p)], [str(p), "not valid YAML"], capsys, files)


def test_params_yaml_not_a_mapping(tmp_path, capsys, files):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    assert_bad(["run", str(p)], [str(p), "expected a YAML mapping of keys to values", "got list"], capsys, files)


def test_params_file_unreadable(tmp_path, capsys, files):
    p = tmp_path / "nowhere" / "exp.yaml"
    assert_bad(["validate", str(p)], [str(p), "cannot read", "No such file or directory"], capsys, files)


def test_data_missing_without_network(tmp_path, monkeypatch, capsys, files):
    """Full Fashion-MNIST, an empty data folder and download: false → the remedies, not a traceback."""
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "no-debian-package")
    raw = smoke_raw() | {"dataset": "fmnist", "data_root": str(tmp_path / "empty"), "download": False}
    (tmp_path / "empty").mkdir()
    line = assert_bad(["run", write_yaml(tmp_path / "fmnist_offline.yaml", raw)],
                      ["fmnist: data not found", "train-images-idx3-ubyte", "TARF_DATA", "dataset-fashion-mnist",
                       "download=False"], capsys, files)
    assert str(tmp_path / "empty") in line


def test_coarse_scenario_without_hierarchy(monkeypatch, capsys, files, smoke_ds):
    """A data set with fine labels only cannot host model/data mismatch."""
    import dataclasses

    flat = object.__new__(data.Dataset)  # Dataset's own check insists on a hierarchy: build it by hand
    for f in dataclasses.fields(data.Dataset):
        object.__setattr__(flat, f.name, getattr(smoke_ds, f.name))
    object.__setattr__(flat, "name", "flat")
    object.__setattr__(flat, "hierarchy", ())
    monkeypatch.setattr(data, "load", lambda *a, **k: flat)
    assert_bad(["validate", "smoke"], ["scenario 'data_mismatch' needs a superclass (coarse) model", "'flat'",
                                      "no hierarchy", "valid scenarios here: all_matched, target_mismatch"],
               capsys, files)


# --- good input -----------------------------------------------------------------------------------

def test_validate_prints_ok_and_writes_nothing(capsys, files):
    rc, out, err = call(["validate", "smoke"], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "ok: smoke" and len(lines) == 2
    assert "fmnist_embedded: 300 train / 200 test" in lines[1] and "target_mismatch (fine, K=2)" in lines[1]
    assert files() == []


def test_validate_a_yaml_file(tmp_path, capsys):
    rc, out, _ = call(["validate", write_yaml(tmp_path / "mine.yaml", smoke_raw())], capsys)
    assert rc == 0 and out.splitlines()[0] == "ok: mine"


def test_splits_prints_the_partition_table(capsys, files):
    rc, out, err = call(["splits", "smoke", *ONE], capsys)
    assert rc == 0, err
    assert "|D_fr|" in out and "target_mismatch" in out and "coarse (5)" in out and "split sha256:" in out
    assert files() and all(f.startswith("splits/") for f in files())


def test_run_then_table_reuses_the_store(capsys, files, monkeypatch, tmp_store):
    rc, out, err = call(["run", "smoke", *SEL], capsys)
    assert rc == 0, err
    assert "all_matched" in out and "ga" in out and "Gap" in out
    stored = files()
    assert any(f.startswith("results/") for f in stored) and any(f.startswith("models/") for f in stored)

    def no_more(*a, **k):
        raise AssertionError("recomputed instead of loaded")

    real_fit, real_run = train.fit, runner_mod.unlearn.run
    monkeypatch.setattr(train, "fit", no_more)
    monkeypatch.setattr(runner_mod.unlearn, "run", no_more)
    rc, out2, err = call(["table", "smoke", *SEL], capsys)
    assert rc == 0, err
    assert "fmnist_embedded" in out2 and "cost_vs_retrained" in out2
    assert files() == stored
    monkeypatch.setattr(train, "fit", real_fit)  # (not monkeypatch.undo(): that would undo more)
    monkeypatch.setattr(runner_mod.unlearn, "run", real_run)

    # --set reaches the runner: a new GA learning rate is a new row; split and models are reused
    rc, _, err = call(["run", "smoke", *SEL, "--set", "methods.ga.lr=0.001"], capsys)
    assert rc == 0, err
    new = sorted(set(files()) - set(stored))
    assert new and all(f.startswith("results/") for f in new)

    # a corrupted checkpoint: detected by its checksum, reported, recomputed
    ckpt = next(tmp_store / f for f in stored if f.startswith("models/") and f.endswith(".pt"))
    blob = bytearray(ckpt.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    ckpt.write_bytes(bytes(blob))
    rc, out3, err = call(["run", "smoke", *SEL], capsys)
    assert rc == 0, err
    assert "warning:" in out3 and str(ckpt) in out3 and "checksum mismatch" in out3 and "recomputing" in out3
    assert ckpt.exists() and Path(f"{ckpt}.sha256").exists()
    rc, out4, _ = call(["run", "smoke", *SEL], capsys)
    assert rc == 0 and "warning" not in out4  # stored again, valid


def test_parse_set():
    assert cli.parse_set(["train.epochs=2", "train.lr=0.5", "seeds=[0, 1]", "dataset=fmnist", "x.y.z=null"]) == {
        "train": {"epochs": 2, "lr": 0.5}, "seeds": [0, 1], "dataset": "fmnist", "x": {"y": {"z": None}}}
    assert cli.parse_set(["requests.all_matched={given: [Bag], concept: [Bag]}"]) == {
        "requests": {"all_matched": {"given": ["Bag"], "concept": ["Bag"]}}}
    assert cli.parse_set(None) == {}


# --- the entry points ------------------------------------------------------------------------------

def test_python_m_tarf(tmp_store, monkeypatch, capsys):
    """`python -m tarf …` runs tarf/__main__.py, which exits with main()'s status."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["tarf", "run", "smoke", "--set", "train.epochs=ten"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("tarf", run_name="__main__", alter_sys=False)
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert err == "error: train.epochs: expected float, got 'ten' (str)\n" and out == ""
    assert not tmp_store.exists() or not any(tmp_store.rglob("*"))


def test_console_script_entry_point():
    from tarf import __main__

    assert __main__.main is cli.main
    text = (ROOT / "pyproject.toml").read_text()
    assert 'tarf = "tarf.__main__:main"' in text


@pytest.mark.slow  # a fresh interpreter: about 10 s on 2 shared cores
def test_python_m_tarf_in_a_new_process(tmp_store):
    env = {**os.environ, "TARF_STORE": str(tmp_store), "TARF_PROGRESS": "0"}
    bad = subprocess.run([sys.executable, "-m", "tarf", "run", "smoke", "--set", "train.epochs=ten"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: train.epochs: expected float, got 'ten' (str)"
    assert not tmp_store.exists() or not any(tmp_store.rglob("*"))
