"""The experiment config of a profile: a typed schema, checked before any compute.

``params/<profile>/experiment.yaml`` holds everything that determines a number (data, requests,
model, training recipe, unlearning hyper-parameters, seeds). Notebooks pass ``overrides`` that are
deep-merged on top. Every problem raises :class:`ParamsError` naming the key, the value and what
would be valid, before anything is computed or written.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .paths import ROOT

SCENARIOS = ("all_matched", "target_mismatch", "model_mismatch", "data_mismatch")
FINE_SCENARIOS = ("all_matched", "target_mismatch")  # the model speaks fine labels; others coarse
DTYPES = ("float32", "float64")
KERNELS = ("native", "portable")  # tarf/kernels.py


class ParamsError(ValueError):
    """A bad params value; the message names the key and what would be valid."""


@dataclass
class Request:
    given: list[str]  # fine class names handed to the unlearner
    concept: list[str] | str  # fine class names, or one coarse class name


@dataclass
class Subset:
    train_per_class: int | None = None  # None = every image of the data set
    test_per_class: int | None = None


@dataclass
class Model:
    arch: str = "resnet18"
    width: int = 64


@dataclass
class Train:
    epochs: float = 182
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "multistep"  # multistep | onecycle | constant
    milestones: list[int] = field(default_factory=lambda: [91, 136])
    gamma: float = 0.1
    augment: bool = True  # RandomCrop(pad 4) + flip


@dataclass
class Experiment:
    dataset: str
    requests: dict[str, Request]
    subset: Subset = field(default_factory=Subset)
    val_fraction: float = 0.0
    split_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "cpu"
    num_threads: int = 2
    # processes that train the base models side by side (notebook 02, CPU); not part of any key: each
    # trains with num_threads threads, so 2 workers x 1 thread gives the numbers 1 x 1 gives
    base_workers: int = 1
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    model: Model = field(default_factory=Model)
    train: Train = field(default_factory=Train)
    unlearn_batch_size: int = 128
    unlearn_augment: bool = False
    amp: bool = False  # bf16 autocast on CUDA (training and unlearning); ignored on CPU
    # float64: every tensor in double precision, so a last-bit difference between CPU kernels (AVX2
    # vs AVX-512, oneDNN vs ATen, 1 vs 2 threads) stays ~1e-16 instead of growing into points of
    # accuracy over a few epochs of SGD; the smoke profile uses it for its nbval references.
    dtype: str = "float32"
    # native: the machine's fastest CPU kernels (numbers agree across machines up to kernel noise);
    # portable: one fixed set, the same float32 numbers on any x86-64 CPU with AVX2, ~3x slower (tarf/kernels.py)
    kernels: str = "native"
    compile: bool = False  # torch.compile the model for base training (CUDA; slower on CPU)
    methods: dict[str, dict] = field(default_factory=dict)  # per-method hyper-parameters over DEFAULTS
    data_root: str | None = None  # None: $TARF_DATA, else <repo>/data
    download: bool = True


def _check_type(path: str, value, tp):
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _check_type(path, value, arg)
            except ParamsError as e:
                errors.append(str(e))
        raise ParamsError(f"{path}: {value!r} is not a valid {_name(tp)}")
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{path}: expected a list, got {value!r}")
        (arg,) = typing.get_args(tp)
        return [_check_type(f"{path}[{i}]", v, arg) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{path}: expected a mapping, got {value!r}")
        _, arg = typing.get_args(tp)
        return {k: _check_type(f"{path}.{k}", v, arg) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool) or not isinstance(value, tp):
        raise ParamsError(f"{path}: expected {_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def _name(tp) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _build(cls, raw, path: str):
    if not isinstance(raw, dict):
        raise ParamsError(f"{path or 'params'}: expected a mapping for {cls.__name__}, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        where = f"{path}." if path else ""
        raise ParamsError(f"unknown key {where}{unknown[0]}; valid keys: {', '.join(names)}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        p = f"{path}.{f.name}" if path else f.name
        if f.name in raw:
            kwargs[f.name] = _check_type(p, raw[f.name], hints[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ParamsError(f"missing key {p}")
    return cls(**kwargs)


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def validate(raw: dict) -> Experiment:
    """Typed schema check plus value checks that need no data."""
    from . import data as data_mod
    from . import models as models_mod
    from . import unlearn as unlearn_mod

    exp = _build(Experiment, raw, "")
    if exp.dataset not in data_mod.DATASETS:
        raise ParamsError(f"dataset: unknown {exp.dataset!r}; valid: {', '.join(data_mod.DATASETS)}")
    for s in exp.scenarios:
        if s not in SCENARIOS:
            raise ParamsError(f"scenarios: unknown {s!r}; valid: {', '.join(SCENARIOS)}")
        if s not in exp.requests:
            raise ParamsError(f"requests.{s}: missing; every scenario in `scenarios` needs a request")
    for s in exp.requests:
        if s not in SCENARIOS:
            raise ParamsError(f"requests.{s}: unknown scenario; valid: {', '.join(SCENARIOS)}")
    if exp.model.arch not in models_mod.ARCHS:
        raise ParamsError(f"model.arch: unknown {exp.model.arch!r}; valid: {', '.join(models_mod.ARCHS)}")
    positive = {
        "model.width": exp.model.width, "train.epochs": exp.train.epochs,
        "train.batch_size": exp.train.batch_size, "train.lr": exp.train.lr,
        "unlearn_batch_size": exp.unlearn_batch_size, "num_threads": exp.num_threads,
        "base_workers": exp.base_workers,
    }
    for k, v in positive.items():
        if not v > 0:
            raise ParamsError(f"{k}: must be > 0, got {v!r}")
    for k in ("train_per_class", "test_per_class"):
        v = getattr(exp.subset, k)
        if v is not None and v <= 0:
            raise ParamsError(f"subset.{k}: must be a positive integer or null, got {v!r}")
    if not 0.0 <= exp.val_fraction < 1.0:
        raise ParamsError(f"val_fraction: must be in [0, 1), got {exp.val_fraction!r}")
    if exp.train.schedule not in ("multistep", "onecycle", "constant"):
        raise ParamsError(f"train.schedule: unknown {exp.train.schedule!r}; valid: multistep, onecycle, constant")
    if exp.dtype not in DTYPES:
        raise ParamsError(f"dtype: unknown {exp.dtype!r}; valid: {', '.join(DTYPES)}")
    if exp.kernels not in KERNELS:
        raise ParamsError(f"kernels: unknown {exp.kernels!r}; valid: {', '.join(KERNELS)}")
    if exp.device not in ("cpu", "cuda") and not exp.device.startswith("cuda:"):
        raise ParamsError(f"device: unknown {exp.device!r}; valid: cpu, cuda, cuda:N")
    if not exp.seeds:
        raise ParamsError("seeds: must hold at least one integer seed")
    for i, s in enumerate(exp.seeds):
        if s < 0:
            raise ParamsError(f"seeds[{i}]: must be a non-negative integer, got {s!r}")
    if exp.split_seed < 0:  # numpy's default_rng rejects negative seeds
        raise ParamsError(f"split_seed: must be a non-negative integer, got {exp.split_seed!r}")
    for name, hp in exp.methods.items():
        try:
            mod = unlearn_mod.get(name)
        except ValueError as e:
            raise ParamsError(f"methods.{name}: {e}") from None
        for key, v in hp.items():
            if key == "batch_size":  # every method's (tarf/unlearn/common.py, COMMON)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise ParamsError(f"methods.{name}.batch_size: must be an integer >= 1, got {v!r}")
                continue
            if key not in mod.DEFAULTS:
                valid = ", ".join(sorted([*mod.DEFAULTS, *unlearn_mod.COMMON]))
                raise ParamsError(f"methods.{name}.{key}: unknown hyper-parameter; valid: {valid}")
            _check_hp(f"methods.{name}.{key}", v, mod.DEFAULTS[key])
        for key in ("epochs", "lr"):
            if key in hp and not (_is_number(hp[key]) and hp[key] > 0):
                raise ParamsError(f"methods.{name}.{key}: must be a number > 0, got {hp[key]!r}")
    return exp


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)  # True is an int to Python, not here


def _check_hp(path: str, value, default) -> None:
    """A method hyper-parameter must have the type of its default (None = any; ints and floats mix)."""
    if default is None:
        return
    if _is_number(default):
        ok, want = _is_number(value), "a number"
    else:
        ok, want = isinstance(value, type(default)), type(default).__name__
    if not ok:
        raise ParamsError(f"{path}: expected {want} (default {default!r}), got {value!r} ({type(value).__name__})")


def profile_path(profile: str) -> Path:
    return ROOT / "params" / profile / "experiment.yaml"


def read_yaml(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ParamsError(f"{path}: cannot read ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a YAML mapping of keys to values, got {type(raw).__name__}")
    return raw


def load(profile: str, overrides: dict | None = None) -> Experiment:
    """The validated experiment of ``profile`` (a folder under params/, or a path to a YAML file)."""
    p = Path(profile)
    if p.suffix in (".yaml", ".yml"):
        path = p
    else:
        path = profile_path(profile)
        if not path.exists():
            valid = sorted(d.name for d in (ROOT / "params").iterdir() if (d / "experiment.yaml").exists())
            raise ParamsError(f"profile: unknown {profile!r}; valid: {', '.join(valid)}")
    raw = deep_merge(read_yaml(path), overrides or {})
    exp = validate(raw)
    if os.environ.get("TARF_NUM_THREADS"):  # a machine with fewer cores; not part of any result key
        v = os.environ["TARF_NUM_THREADS"]
        if not (v.isdigit() and int(v) > 0):
            raise ParamsError(f"TARF_NUM_THREADS: must be a positive integer, got {v!r}")
        exp.num_threads = int(v)
    exp.profile = p.stem if p.suffix else profile  # type: ignore[attr-defined]
    return exp


def precision_key(exp: Experiment) -> dict:
    """The numerics part of every cache key: empty for float32 on native kernels, so older keys stay valid."""
    return {**({"dtype": exp.dtype} if exp.dtype != "float32" else {}),
            **({"kernels": exp.kernels} if exp.kernels != "native" else {})}


def as_dict(exp: Experiment) -> dict:
    return dataclasses.asdict(exp)


def check_parameters(namespace: dict) -> None:
    """A notebook's parameters against the types its parameters cell annotates (``name: type =``);
    a wrong type is one ParamsError naming the parameter, the type wanted and how to pass it.

    papermill's ``-p`` passes lists and dicts as text (``-p overrides '{...}'`` gives the string),
    which would otherwise fail deep inside the first call that reads them."""
    for name, tp in namespace.get("__annotations__", {}).items():
        if name not in namespace or not isinstance(tp, type):
            continue
        v = namespace[name]
        ok = isinstance(v, tp) and not (tp in (int, float) and isinstance(v, bool))
        if tp is float and isinstance(v, int) and not isinstance(v, bool):
            ok = True
        if not ok:
            how = (f"pass it as YAML: papermill -y '{name}: <{tp.__name__} value>' (papermill -p passes "
                   f"lists and dicts as text)" if tp in (list, dict) else f"pass it as papermill -p {name} <value>")
            raise ParamsError(f"notebook parameter {name}: expected {tp.__name__}, got {type(v).__name__} "
                              f"{v!r:.80}; {how}")
