"""tarf.data: every loader on tiny files in the real on-disk formats; no network, a few seconds.

The tiny files cannot have the official checksums, so the tests replace only the md5 constants
(tarf.data.FMNIST_MD5 and torchvision's CIFAR file lists) with the md5 of the tiny files; the
checking code itself runs unchanged, and the corrupt-file tests show that it rejects a change.
"""

import gzip
import hashlib
import pickle
import runpy
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100, FashionMNIST

from tarf import data

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_fmnist_subset.py"
CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(autouse=True)
def fresh_cache():
    data.clear_cache()
    yield
    data.clear_cache()


def md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


# --- Fashion-MNIST idx-ubyte ---------------------------------------------------------------------

def idx_bytes(a: np.ndarray) -> bytes:
    """idx format: 0, 0, 0x08 (uint8), ndim, big-endian uint32 sizes, then the raw bytes."""
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def tiny_fmnist(folder: Path, gz_only=False):
    """2 train + 1 test image per class, written as torchvision leaves them (extracted + .gz)."""
    rng = np.random.default_rng(1)
    arrays = {}
    for prefix, n in (("train", 20), ("t10k", 10)):
        arrays[f"{prefix}-images-idx3-ubyte"] = x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = y = np.arange(n, dtype=np.uint8) % 10
        assert x.shape[0] == y.shape[0]
    folder.mkdir(parents=True)
    sums = {}
    for stem, a in arrays.items():
        b = idx_bytes(a)
        sums[stem] = hashlib.md5(b).hexdigest()
        (folder / f"{stem}.gz").write_bytes(gzip.compress(b))
        if not gz_only:
            (folder / stem).write_bytes(b)
    return arrays, sums


def test_fmnist_from_idx_files(tmp_path, monkeypatch):
    arrays, sums = tiny_fmnist(tmp_path / "FashionMNIST" / "raw")
    monkeypatch.setattr(data, "FMNIST_MD5", sums)  # tiny files: their own md5 (see module docstring)
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "no-debian")
    ds = data.load("fmnist", root=tmp_path, download=False)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_test.shape == (10, 1, 28, 28)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64 and ds.x_train.is_contiguous()
    assert np.array_equal(ds.x_train[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert ds.y_test.tolist() == list(range(10))
    assert ds.classes == tuple(FashionMNIST.classes) and ds.family == "fmnist" and ds.in_channels == 1
    assert ds.sha256 is None
    assert data.load("fmnist", root=tmp_path, download=False) is ds  # cached per (name, root)


def test_fmnist_copied_from_debian_package(tmp_path, monkeypatch):
    arrays, sums = tiny_fmnist(tmp_path / "debian", gz_only=True)
    monkeypatch.setattr(data, "FMNIST_MD5", sums)
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "debian")
    ds = data.load("fmnist", root=tmp_path / "root", download=False)
    assert np.array_equal(ds.x_test[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert (tmp_path / "root" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_fmnist_corrupt_file_is_named(tmp_path, monkeypatch):
    raw = tmp_path / "FashionMNIST" / "raw"
    _, sums = tiny_fmnist(raw)
    monkeypatch.setattr(data, "FMNIST_MD5", sums)
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "no-debian")
    f = raw / "t10k-images-idx3-ubyte"
    b = bytearray(f.read_bytes())
    b[100] ^= 1
    f.write_bytes(bytes(b))
    with pytest.raises(data.DataCorruptError, match="t10k-images-idx3-ubyte: md5 mismatch"):
        data.load("fmnist", root=tmp_path, download=False)


def test_missing_data_error_names_folder_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FMNIST", tmp_path / "no-debian")
    with pytest.raises(data.DataMissingError) as e:
        data.load("fmnist", root=tmp_path, download=False)
    msg = str(e.value)
    assert isinstance(e.value, RuntimeError)
    assert str(tmp_path / "FashionMNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg
    assert "TARF_DATA" in msg and "dataset-fashion-mnist" in msg
    with pytest.raises(data.DataMissingError, match="TARF_DATA") as e:
        data.load("cifar100", root=tmp_path, download=False)
    assert "cifar-100-python" in str(e.value)


# --- CIFAR python pickles ------------------------------------------------------------------------

def dump(p: Path, obj):
    p.write_bytes(pickle.dumps(obj, protocol=2))


def cifar_rows(rng, n):
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)  # each row: 1024 R, 1024 G, 1024 B


def patch_md5(monkeypatch, cls, folder):
    """Point torchvision's file lists at the md5 of the tiny files (see module docstring)."""
    monkeypatch.setattr(cls, "train_list", [[f, md5(folder / f)] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5(folder / f)] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5(folder / cls.meta["filename"])})


def tiny_cifar10(root: Path):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    rows = {}
    for i in range(1, 6):  # 2 images per training batch, labels 0..9 over the five batches
        rows[f"data_batch_{i}"] = d = cifar_rows(rng, 2)
        dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "data": d,
                                          "labels": [2 * i - 2, 2 * i - 1], "filenames": ["a.png", "b.png"]})
    rows["test_batch"] = d = cifar_rows(rng, 3)
    dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": d, "labels": [9, 1, 7],
                                 "filenames": ["a.png", "b.png", "c.png"]})
    dump(folder / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": 2, "num_vis": 3072})
    return folder, rows


def test_cifar10_from_pickles(tmp_path, monkeypatch):
    folder, rows = tiny_cifar10(tmp_path)
    patch_md5(monkeypatch, CIFAR10, folder)
    ds = data.load("cifar10", root=tmp_path, download=False)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.is_contiguous() and ds.in_channels == 3
    assert ds.y_train.tolist() == list(range(10)) and ds.y_test.tolist() == [9, 1, 7]
    # channel-major layout survives the HWC round trip through torchvision
    assert np.array_equal(ds.x_test.reshape(3, -1).numpy(), rows["test_batch"])
    assert ds.classes == tuple(CIFAR10_NAMES) and ds.family == "cifar10"
    assert ds.hierarchy == data.CIFAR10_HIERARCHY
    assert ds.coarse_of.tolist() == [0, 1, 2, 3, 4, 3, 2, 4, 0, 1]


def test_cifar_corrupt_file_is_named(tmp_path, monkeypatch):
    folder, _ = tiny_cifar10(tmp_path)
    patch_md5(monkeypatch, CIFAR10, folder)
    b = bytearray((folder / "data_batch_3").read_bytes())
    b[-10] ^= 1
    (folder / "data_batch_3").write_bytes(bytes(b))
    with pytest.raises(data.DataCorruptError, match="data_batch_3: md5 mismatch"):
        data.load("cifar10", root=tmp_path, download=False)


class Plant:
    """Unpickling this calls builtins.exec, which creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def plant(path: Path, marker: Path):
    """Replace a CIFAR file by a pickle that runs code (after showing, on a control, that it does)."""
    control = marker.with_name("control-marker")
    pickle.loads(pickle.dumps(Plant(control), protocol=2))
    assert control.exists(), "the payload is inert: the test would prove nothing"
    dump(path, Plant(marker))


@pytest.mark.parametrize("victim", ["data_batch_3", "test_batch", "batches.meta"])
def test_cifar_malicious_pickle_is_never_unpickled(victim, tmp_path, monkeypatch):
    """A batch file is a pickle: its md5 is checked before anything (ours or torchvision's) reads it."""
    folder, _ = tiny_cifar10(tmp_path)
    patch_md5(monkeypatch, CIFAR10, folder)  # the md5 of the honest files
    marker = tmp_path / "marker"
    plant(folder / victim, marker)
    with pytest.raises(data.DataCorruptError, match=f"{victim}: md5 mismatch"):
        data.load("cifar10", root=tmp_path, download=False)
    assert not marker.exists()


def test_cifar_fetch_does_not_unpickle_before_the_md5_check(tmp_path, monkeypatch):
    """With download=True and a file missing, the fetch only downloads; the data set constructors
    (which unpickle) run only after every file's md5 has matched."""
    import torchvision.datasets.utils

    folder, _ = tiny_cifar10(tmp_path)
    patch_md5(monkeypatch, CIFAR10, folder)
    honest = (folder / "test_batch").read_bytes()
    (folder / "test_batch").unlink()
    marker = tmp_path / "marker"
    plant(folder / "data_batch_3", marker)
    fetched = []

    def fake_download_and_extract(url, root, filename=None, md5=None, **kw):  # "the archive arrives"
        fetched.append((url, filename, md5))
        (folder / "test_batch").write_bytes(honest)

    def no_constructor(self, *a, **k):
        raise AssertionError("CIFAR10() (which unpickles) ran before the md5 check")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", fake_download_and_extract)
    monkeypatch.setattr(CIFAR10, "__init__", no_constructor)
    with pytest.raises(data.DataCorruptError, match="data_batch_3: md5 mismatch"):
        data.load("cifar10", root=tmp_path, download=True)
    assert fetched == [(CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5)]
    assert not marker.exists()


def test_cifar100_reader_checks_the_md5_of_the_bytes_it_unpickles(tmp_path):
    good = tmp_path / "meta"
    dump(good, {"coarse_label_names": ["a"]})
    assert data._unpickle(good, md5(good)) == {"coarse_label_names": ["a"]}
    bad, marker = tmp_path / "train", tmp_path / "marker"
    plant(bad, marker)
    with pytest.raises(data.DataCorruptError, match="train: md5 mismatch"):
        data._unpickle(bad, md5(good))
    assert not marker.exists()


def test_cifar100_hierarchy_from_files(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(3)
    # coarse order deliberately not alphabetical and not the fine order: it must come from the file
    fine_names = ["apple", "baby", "boy", "girl"]
    coarse_names = ["people", "fruit_and_vegetables"]
    to_coarse = [1, 0, 0, 0]
    for split, fine in (("train", [0, 1, 2, 3, 3, 2]), ("test", [3, 0, 1])):
        dump(folder / split, {"filenames": ["x.png"] * len(fine), "batch_label": split,
                              "fine_labels": fine, "coarse_labels": [to_coarse[f] for f in fine],
                              "data": cifar_rows(rng, len(fine))})
    dump(folder / "meta", {"fine_label_names": fine_names, "coarse_label_names": coarse_names})
    patch_md5(monkeypatch, CIFAR100, folder)
    ds = data.load("cifar100", root=tmp_path, download=False)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.y_train.tolist() == [0, 1, 2, 3, 3, 2]
    assert ds.classes == tuple(fine_names) and ds.family == "cifar100"
    assert ds.hierarchy == (("people", ("baby", "boy", "girl")), ("fruit_and_vegetables", ("apple",)))
    assert ds.coarse_classes == ("people", "fruit_and_vegetables")
    assert ds.coarse_of.tolist() == to_coarse


@pytest.mark.skipif(not (data.data_root() / "cifar-100-python" / "meta").is_file(), reason="no real CIFAR-100")
def test_real_cifar100_people():  # docs/scenarios.md#cifar-100 test expectation
    ds = data.load("cifar100", download=False)
    people = ds.coarse_classes.index("people")
    assert people == 14 and [ds.classes.index(c) for c in ("baby", "boy", "girl", "man", "woman")] == [2, 11, 35, 46, 98]
    assert set(dict(ds.hierarchy)["people"]) == {"baby", "boy", "girl", "man", "woman"}


# --- the embedded subset -------------------------------------------------------------------------

def test_embedded_subset():
    ds = data.load("fmnist_embedded")
    n_tr, n_te = data.SUBSET_PER_CLASS["train"], data.SUBSET_PER_CLASS["test"]
    assert (n_tr, n_te) == (1200, 200)
    assert ds.x_train.shape == (10 * n_tr, 1, 28, 28) and ds.x_test.shape == (10 * n_te, 1, 28, 28)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64 and ds.x_train.is_contiguous()
    assert ds.y_train.bincount().tolist() == [n_tr] * 10 and ds.y_test.bincount().tolist() == [n_te] * 10
    assert ds.sha256 == data.SUBSET_SHA256 == hashlib.sha256(data.SUBSET_FILE.read_bytes()).hexdigest()
    assert data.SUBSET_FILE.stat().st_size <= 6.5e6
    assert data.load("fmnist_embedded") is ds


def test_embedded_hash_mismatch_names_file(tmp_path, monkeypatch):
    b = bytearray(data.SUBSET_FILE.read_bytes())
    b[len(b) // 2] ^= 1
    bad = tmp_path / "fmnist_subset.npy.gz"
    bad.write_bytes(bytes(b))
    monkeypatch.setattr(data, "SUBSET_FILE", bad)
    with pytest.raises(data.DataCorruptError) as e:
        data.load("fmnist_embedded")
    msg = str(e.value)
    assert str(bad) in msg and data.SUBSET_SHA256 in msg and hashlib.sha256(bytes(b)).hexdigest() in msg
    assert "build_fmnist_subset.py" in msg


@pytest.mark.skipif(not data.DEBIAN_FMNIST.is_dir(), reason="needs apt package dataset-fashion-mnist")
def test_build_script_reproduces_subset(tmp_path, monkeypatch):
    out = tmp_path / "rebuilt.npy.gz"
    monkeypatch.setattr("sys.argv", [str(SCRIPT), "--source", str(data.DEBIAN_FMNIST), "--out", str(out)])
    runpy.run_path(str(SCRIPT), run_name="__main__")  # in-process: no second torch import
    assert out.read_bytes() == data.SUBSET_FILE.read_bytes()


# --- hierarchies, names, roots -------------------------------------------------------------------

def test_fmnist_hierarchy_matches_paper():
    ds = data.load("fmnist_embedded")
    assert data.FMNIST_CLASSES == tuple(FashionMNIST.classes)
    assert ds.coarse_classes == ("tops", "bottoms", "dresses", "footwear", "bags")
    assert dict(ds.hierarchy)["footwear"] == ("Sandal", "Sneaker", "Ankle boot")
    assert dict(ds.hierarchy)["tops"] == ("T-shirt/top", "Pullover", "Coat", "Shirt")
    assert ds.coarse_classes.index("footwear") == 3 and ds.classes.index("Sneaker") == 7
    assert ds.coarse_of.tolist() == [0, 1, 0, 2, 0, 3, 0, 3, 4, 3]
    assert int(ds.coarse_of[7]) == 3


def test_unknown_dataset_name():
    with pytest.raises(ValueError) as e:
        data.load("mnist")
    assert "'mnist'" in str(e.value) and all(n in str(e.value) for n in data.DATASETS)


def test_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TARF_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("TARF_DATA")
    assert data.data_root() == data.paths.ROOT / "data"
