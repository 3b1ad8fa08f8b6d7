"""The store never runs code it reads (issue 16), and neither does any other reader of files.

A checksum sidecar is integrity, not authenticity: whoever can write a file can write its sidecar.
So every test here plants a payload that would create a marker file if it were ever unpickled (or
YAML-constructed), stores it under the key the real code looks up, with a valid checksum, and
checks that the marker never appears. Each payload is first shown to be live, on a control marker,
by the unsafe load that tarf must never do, so a test cannot pass because the payload is inert.
"""

import ast
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tarf import cli, embedding, params, scenarios, store, train

ROOT = Path(__file__).resolve().parents[1]


class Plant:
    """Unpickling this calls builtins.exec, which creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _torch_bytes(obj, **kw) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


# how an attacker (or the old writer) might have made the file: (id, marker → bytes, unsafe loader)
PLANTS = [
    ("torch-archive", lambda m: _torch_bytes(Plant(m)), lambda b: torch.load(io.BytesIO(b), weights_only=False)),
    ("torch-archive-with-format-marker",
     lambda m: _torch_bytes({"format": store.CHECKPOINT_FORMAT, "data": {"state_dict": Plant(m)}}),
     lambda b: torch.load(io.BytesIO(b), weights_only=False)),
    ("torch-legacy-format", lambda m: _torch_bytes(Plant(m), _use_new_zipfile_serialization=False),
     lambda b: torch.load(io.BytesIO(b), weights_only=False)),
    ("bare-pickle", lambda m: pickle.dumps(Plant(m)), pickle.loads),
]


def assert_live(tmp_path, make, unsafe_load):
    """The payload does run when unpickled without restriction (the control, never done by tarf)."""
    control = tmp_path / "control-marker"
    unsafe_load(make(control))
    assert control.exists(), "the planted payload is inert: the test would prove nothing"
    control.unlink()


@pytest.fixture
def fits(monkeypatch):
    """train.fit replaced by a no-op that counts its calls: these tests are about the store, not SGD."""
    calls = []

    def fake_fit(*a, **k):
        calls.append(k.get("desc"))
        return [{"epoch": 1, "loss": 0.0}]

    monkeypatch.setattr(train, "fit", fake_fit)
    return calls


@pytest.fixture
def model_key(smoke_exp, smoke_ds, smoke_split, fits):
    """The key under which train.original stores (and looks up) the smoke profile's original model."""
    _, rec = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert len(fits) == 1
    return rec["key"]


@pytest.fixture
def loads(monkeypatch):
    """Every torch.load call's weights_only argument (torch.load itself still runs)."""
    seen, real = [], torch.load

    def spy(*a, **k):
        seen.append(k.get("weights_only"))
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", spy)
    return seen


def notices(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("notice:")]


# --- checkpoints ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make,unsafe_load", [p[1:] for p in PLANTS], ids=[p[0] for p in PLANTS])
def test_planted_checkpoint_is_never_unpickled(make, unsafe_load, tmp_path, smoke_exp, smoke_ds, smoke_split,
                                               model_key, fits, loads, capsys):
    assert_live(tmp_path, make, unsafe_load)
    loads.clear()  # (the control's own unsafe load)
    marker = tmp_path / "marker"
    planted = make(marker)
    p = store.put("models", model_key, "pt", planted)  # with a valid sha256 sidecar
    assert store.get("models", model_key, "pt") == planted  # the checksum passes: it cannot stop this
    capsys.readouterr()

    assert store.get_torch("models", model_key) is None  # refused: the caller recomputes
    assert not marker.exists()
    [line] = notices(capsys.readouterr().out)
    assert str(p) in line and "old checkpoint format" in line and line.endswith("recomputing")
    assert not p.exists() and not Path(f"{p}.sha256").exists()  # discarded

    # through the real caller: planted again, then the model is trained (here: fit is called) anew
    store.put("models", model_key, "pt", planted)
    model, rec = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert not marker.exists()
    assert len(fits) == 2 and rec["key"] == model_key
    assert len(notices(capsys.readouterr().out)) == 1
    assert store.get("models", model_key, "pt") != planted  # replaced by a checkpoint in the new format
    assert loads and all(w is True for w in loads)  # never weights_only=False, not even as a fallback


def _old_writer(ckpt: dict, numpy_log: bool) -> bytes:
    """What the old train.py stored: the bare dict, torch.save'd; its log could hold numpy scalars."""
    old = {k: v for k, v in ckpt.items()}
    if numpy_log:
        old["log"] = [{k: np.float64(v) for k, v in row.items()} for row in ckpt["log"]]
        old["seconds"] = np.float64(ckpt["seconds"])
    return _torch_bytes(old)


@pytest.mark.parametrize("numpy_log", [True, False], ids=["pickle-with-numpy", "plain-without-marker"])
def test_old_format_checkpoint_is_recomputed_with_a_notice(numpy_log, smoke_exp, smoke_ds, smoke_split,
                                                           model_key, fits, loads, capsys):
    current = store.get_torch("models", model_key)
    assert set(current) == {"state_dict", "log", "seconds", "meta", "num_classes"}
    p = store.put("models", model_key, "pt", _old_writer(current, numpy_log))
    capsys.readouterr()

    _, rec = train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert len(fits) == 2  # recomputed, not loaded
    [line] = notices(capsys.readouterr().out)
    assert line.startswith(f"notice: {p} is in the old checkpoint format") and line.endswith("; recomputing")
    assert rec["log"] == current["log"]  # (the fake fit's log)

    train.original(smoke_exp, smoke_ds, smoke_split, "fine", 0)
    assert len(fits) == 2  # the new checkpoint is used as is
    assert notices(capsys.readouterr().out) == []
    assert all(w is True for w in loads)


def test_checkpoint_is_a_plain_torch_archive(model_key):
    """What train.py stores loads with torch.load(weights_only=True) and nothing else."""
    box = torch.load(store.path_for("models", model_key, "pt"), map_location="cpu", weights_only=True)
    assert box["format"] == store.CHECKPOINT_FORMAT
    ckpt = box["data"]
    assert all(type(v) is torch.Tensor for v in ckpt["state_dict"].values())
    assert isinstance(ckpt["meta"], dict) and isinstance(ckpt["num_classes"], int)


@pytest.mark.parametrize("obj,where", [
    ({"log": [{"loss": np.float64(0.5)}]}, "checkpoint['log'][0]['loss'] is a numpy.float64"),
    ({"idx": np.arange(3)}, "checkpoint['idx'] is a numpy.ndarray"),
    ({"extra": Plant(Path("never"))}, "checkpoint['extra'] is a "),  # (module name depends on pytest)
    ({"s": {1, 2}}, "checkpoint['s'] is a builtins.set"),
], ids=["numpy-scalar", "numpy-array", "custom-object", "set"])
def test_put_torch_refuses_what_it_could_not_read_back(obj, where, files):
    with pytest.raises(TypeError) as e:
        store.put_torch("models", "k1", obj)
    assert where in str(e.value) and "tensors and plain data" in str(e.value)
    assert files() == []  # nothing written


def test_plain_checkpoint_roundtrip():
    obj = {"state_dict": {"w": torch.arange(6.0).view(2, 3)}, "log": [{"loss": 0.5, "acc": float("nan")}],
           "meta": {"scenario": None, "milestones": [1, 2], "pair": (1, "a"), "ok": True}}
    store.put_torch("models", "k1", obj)
    back = store.get_torch("models", "k1")
    assert torch.equal(back["state_dict"]["w"], obj["state_dict"]["w"])
    assert back["meta"] == obj["meta"] and back["log"][0]["loss"] == 0.5


# --- YAML -----------------------------------------------------------------------------------------

def test_yaml_with_a_python_tag_is_rejected(tmp_path):
    marker = tmp_path / "marker"
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    text = f"dataset: fmnist_embedded\nevil: {tag}\n"
    # control: the full (unsafe) loader would run it
    yaml.load(text.replace(str(marker), str(tmp_path / "control-marker")), Loader=yaml.UnsafeLoader)
    assert (tmp_path / "control-marker").exists()

    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    with pytest.raises(params.ParamsError) as e:
        params.load(str(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}: not valid YAML") and "python/object/apply:os.system" in msg
    assert "\n" not in msg
    with pytest.raises(cli.CLIError, match="is not valid YAML"):
        cli.parse_set([f"train.epochs={tag}"])
    assert not marker.exists()


# --- numpy ----------------------------------------------------------------------------------------

def _object_npz(marker) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, train=np.array([Plant(marker)], dtype=object))
    return buf.getvalue()


def test_split_with_an_object_array_is_refused(tmp_path, smoke_exp, smoke_ds):
    assert_live(tmp_path, _object_npz, lambda b: np.load(io.BytesIO(b), allow_pickle=True)["train"])
    marker = tmp_path / "marker"
    store.put("splits", store.key(scenarios._split_params(smoke_exp)), "npz", _object_npz(marker))
    with pytest.raises(ValueError, match="allow_pickle=False"):
        scenarios.load(smoke_ds, smoke_exp)
    assert not marker.exists()


def test_features_with_an_object_array_are_refused(tmp_path):
    marker = tmp_path / "marker"
    buf = io.BytesIO()
    np.save(buf, np.array([Plant(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        embedding._arr_load(buf.getvalue())
    assert not marker.exists()


# --- every reader in the package, by its source -----------------------------------------------------

def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _readers():
    """(file:line in function, call, keywords) of every call that reads serialised objects."""
    for path in sorted([*ROOT.joinpath("tarf").rglob("*.py"), *ROOT.joinpath("scripts").glob("*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        funcs = {}
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for sub in ast.walk(fn):
                    if sub is not fn:
                        funcs[id(sub)] = fn.name  # ast.walk goes outside in: the innermost one wins
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')} in {funcs.get(id(node), '<module>')}"
            if isinstance(node, ast.ImportFrom) and node.module in ("pickle", "yaml", "dill", "marshal", "shelve"):
                yield where, f"from {node.module} import", {}
            if isinstance(node, ast.Attribute) and node.attr in ("Loader", "UnsafeLoader", "FullLoader",
                                                                 "unsafe_load", "full_load", "read_pickle"):
                yield where, _dotted(node), {}
            if isinstance(node, ast.Call):
                kw = {k.arg: (k.value.value if isinstance(k.value, ast.Constant) else "?") for k in node.keywords}
                yield where, _dotted(node.func), kw


def test_every_reader_in_the_package_is_safe():
    bad = []
    for where, call, kw in _readers():
        name = call.rsplit(".", 1)[-1]
        if call in ("torch.load",) and kw.get("weights_only") is not True:
            bad.append(f"{where}: {call} without weights_only=True")
        elif call in ("np.load", "numpy.load") and kw.get("allow_pickle") is not False:
            bad.append(f"{where}: {call} without allow_pickle=False")
        elif call.startswith("yaml.") and name not in ("safe_load", "safe_dump", "YAMLError"):
            bad.append(f"{where}: {call} (only yaml.safe_load reads YAML)")
        elif call.startswith(("pickle.", "dill.", "marshal.", "shelve.", "joblib.")) and name.startswith(("load", "open")):
            if not (where.startswith("tarf/data.py:") and where.endswith(" in _unpickle")):
                bad.append(f"{where}: {call} (only the md5-gated CIFAR reader, data._unpickle, unpickles)")
        elif call.startswith("from ") or name in ("Loader", "UnsafeLoader", "FullLoader", "unsafe_load",
                                                  "full_load", "read_pickle"):
            bad.append(f"{where}: {call}")
    assert bad == []
    calls = {call for _, call, _ in _readers()}
    assert {"torch.load", "np.load", "yaml.safe_load", "pickle.loads"} <= calls  # the scan sees them
