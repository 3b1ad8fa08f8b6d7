"""The whole stack is locked: constraints.txt pins every installed package, and this venv matches it."""

import importlib.metadata as md
import pathlib
import re
import sysconfig

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned exactly (name==version)"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _installed() -> dict[str, str]:
    # Only what pip installed into this environment: `import ray` (tests/test_ray.py, same worker)
    # puts ray/thirdparty_files on sys.path, and its vendored colorama and psutil are not ours to lock.
    site = list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    return {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in md.distributions(path=site)}


def test_installed_versions_match_the_lock():
    lock, have = _lock(), _installed()
    wrong = {n: (v, have.get(n)) for n, v in lock.items() if have.get(n) != v}
    assert not wrong, f"installed differs from constraints.txt (locked, installed): {wrong}; run make venv"


def test_every_installed_package_is_locked():
    lock, have = _lock(), _installed()
    extra = sorted(set(have) - set(lock) - {"tarf", "pip", "setuptools", "wheel"})
    assert not extra, f"installed but not in constraints.txt: {extra}; run make lock"


def test_torch_pins_agree():
    lock = _lock()
    assert lock["torch"] == "2.14.1" and lock["torchvision"] == "0.29.1"
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.14.1"' in text and '"torchvision==0.29.1"' in text


def test_environment_yml_installs_through_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip
