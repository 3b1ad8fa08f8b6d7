"""Shared fixtures: every test gets its own empty artifact store, one torch thread, no progress bars."""

from pathlib import Path

import pytest
import torch

# The machine's cores are shared: one thread (not part of any key); one quick epoch of base training.
SMOKE = {"num_threads": 1, "train": {"epochs": 1, "batch_size": 128}}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: over 10 s on one core; `make test` runs it too")


@pytest.fixture(autouse=True)
def tmp_store(tmp_path) -> Path:
    """TARF_STORE → a fresh folder under tmp_path, so no test reads or writes the repo's store/
    (nor, with TARF_OUTPUT, its results/ and figures/).

    Its own MonkeyPatch: a test that calls ``monkeypatch.undo()`` must not undo this."""
    root = tmp_path / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TARF_STORE", str(root))
        mp.setenv("TARF_OUTPUT", str(tmp_path / "out"))  # results/ and figures/ too: never the repo's
        mp.setenv("TARF_PROGRESS", "0")
        yield root


@pytest.fixture(autouse=True)
def _default_dtype():
    """runner.context sets torch's default dtype from the profile (smoke: float64); undo it."""
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def store_files(root: Path) -> list[str]:
    """Every file under the store, relative paths, sorted (an absent store is empty); the lock files
    (.lock, .claims/<key>.lock) are not artifacts."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


@pytest.fixture
def files(tmp_store):
    return lambda: store_files(tmp_store)


@pytest.fixture(scope="session")
def smoke_exp():
    from tarf import params

    return params.load("smoke", SMOKE)


@pytest.fixture(scope="session")
def smoke_ds(smoke_exp):
    from tarf import data

    return data.load(smoke_exp.dataset, smoke_exp.data_root, smoke_exp.download)


@pytest.fixture(scope="session")
def smoke_split(smoke_ds, smoke_exp):
    """The smoke profile's split, drawn in memory (no store)."""
    from tarf import scenarios

    return scenarios.build(smoke_ds, smoke_exp)
