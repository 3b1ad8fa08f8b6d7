"""Data sets as in-memory uint8 tensors, with their class hierarchies (docs/scenarios.md#hierarchies).

    ds = load("fmnist_embedded")          # the subset shipped inside the package; no files needed
    ds.x_train  # uint8 (N, C, H, W);  ds.y_train  # int64 fine labels;  ds.coarse_of[ds.y_train]

Nothing is ever downloaded behind the caller's back when `download=False`, and every file that is
read is checked against a known checksum first, so a truncated or altered file is an error that
names the file rather than a silently different experiment.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import paths

DATASETS = ("fmnist_embedded", "fmnist", "cifar10", "cifar100")

# --- hierarchies, as data by class name (docs/scenarios.md#hierarchies) -------------------------------------------

# = torchvision.datasets.FashionMNIST.classes (written out so the embedded subset needs no torchvision)
FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FMNIST_HIERARCHY = (
    ("tops", ("T-shirt/top", "Pullover", "Coat", "Shirt")),
    ("bottoms", ("Trouser",)),
    ("dresses", ("Dress",)),
    ("footwear", ("Sandal", "Sneaker", "Ankle boot")),
    ("bags", ("Bag",)),
)
# ASSUMPTION (docs/scenarios.md#cifar-10): the paper groups CIFAR-10 by semantic proximity in an appendix table
# that this project could not recover; these five pairs are the project's stand-in, a parameter.
CIFAR10_HIERARCHY = (
    ("air_sea", ("airplane", "ship")),
    ("road_vehicles", ("automobile", "truck")),
    ("bird_frog", ("bird", "frog")),
    ("cat_dog", ("cat", "dog")),
    ("deer_horse", ("deer", "horse")),
)
# CIFAR-100's hierarchy is not written here: it is read from the data set's own files.

# --- the embedded Fashion-MNIST subset (built by scripts/build_fmnist_subset.py) -----------------

SUBSET_FILE = Path(__file__).resolve().parent / "assets" / "fmnist_subset.npy.gz"
SUBSET_SHA256 = "ed89dfdf4ab656e9fa659782e7ead3c939c94352165a15a63653bbd1b08059d6"
SUBSET_PER_CLASS = {"train": 1200, "test": 200}  # 14,000 images: 6,197,115 bytes (5.9 MiB) gzip'd
SUBSET_SEED = 0
# the gzip stream holds these arrays, np.save'd one after another in this order
SUBSET_ARRAYS = ("x_train", "y_train", "idx_train", "x_test", "y_test", "idx_test")

# MD5 of the *extracted* Fashion-MNIST idx files. torchvision 0.29 lists only the md5 of the .gz
# archives (FashionMNIST.resources) and checks them on download only; Debian's package re-gzips the
# same content (different .gz md5), so the extracted bytes are what we can verify in every case.
FMNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist


class DataMissingError(RuntimeError):
    """The data files are not on disk and could not be fetched."""


class DataCorruptError(RuntimeError):
    """A data file is on disk but its checksum is not the expected one."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor fields elementwise makes no sense here
class Dataset:
    name: str  # one of DATASETS
    family: str  # "fmnist" | "cifar10" | "cifar100": key of tarf.models.NORMALISATION
    x_train: torch.Tensor = field(repr=False)  # uint8 (N, C, H, W), contiguous
    y_train: torch.Tensor = field(repr=False)  # int64 fine labels (N,)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    classes: tuple[str, ...]  # fine class names; index = fine label id
    hierarchy: tuple[tuple[str, tuple[str, ...]], ...]  # (coarse name, its fine names), coarse-id order

    def __post_init__(self):
        fine = [f for _, fs in self.hierarchy for f in fs]
        if sorted(fine) != sorted(self.classes):
            raise ValueError(f"{self.name}: hierarchy must list every fine class exactly once; "
                             f"classes {self.classes}, hierarchy {self.hierarchy}")
        for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
            assert x.dtype == torch.uint8 and x.dim() == 4 and x.is_contiguous(), (x.dtype, x.shape)
            assert y.dtype == torch.int64 and y.shape == (len(x),), (y.dtype, y.shape)

    @property
    def coarse_classes(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.hierarchy)

    @property
    def coarse_of(self) -> torch.Tensor:
        """LongTensor: fine id -> coarse id, so `ds.coarse_of[y]` relabels a whole label vector."""
        ids = {c: i for i, c in enumerate(self.classes)}
        out = torch.empty(len(self.classes), dtype=torch.long)
        for k, (_, fs) in enumerate(self.hierarchy):
            out[[ids[f] for f in fs]] = k
        return out

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def sha256(self) -> str | None:
        """SHA-256 of the embedded subset file (verified on load); None for the full data sets."""
        return SUBSET_SHA256 if self.name == "fmnist_embedded" else None


# --- paths and checks ---------------------------------------------------------------------------

def data_root(root=None) -> Path:
    """`root`, else $TARF_DATA, else <repo>/data (repo root from tarf.paths; TARF_ROOT overrides)."""
    if root is not None:
        return Path(root)
    if os.environ.get("TARF_DATA"):
        return Path(os.environ["TARF_DATA"])
    return paths.ROOT / "data"


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _corrupt(path, expected, actual, algo="md5", remedy=None) -> DataCorruptError:
    remedy = remedy or "delete it (and its archive, if any) and load again with download=True"
    return DataCorruptError(f"{path}: {algo} mismatch, expected {expected}, got {actual}. "
                            f"The file is damaged or not the official release; {remedy}.")


def _ensure(name, files: dict, fetch, download: bool, archives: dict | None = None):
    """Make sure every file in {path: md5} exists (calling `fetch()` if allowed) and matches."""
    err = None
    if download and not all(p.is_file() for p in files):
        try:
            fetch()
        except Exception as e:  # offline: URLError/OSError/RuntimeError; reported below with remedies
            err = e
            # a download that arrived but fails its md5 must be reported as such, naming the file
            for p, m in (archives or {}).items():
                if p.is_file() and (got := _md5(p)) != m:
                    raise _corrupt(p, m, got) from e
    missing = [p for p in files if not p.is_file()]
    if missing:
        folder = missing[0].parent
        rel = folder.relative_to(folder.parent.parent) if name == "fmnist" else folder.name
        msg = (f"{name}: data not found: {folder} lacks {', '.join(p.name for p in missing)}.\n"
               f"Remedies: set TARF_DATA to a folder that holds {rel}/ with these files")
        if name == "fmnist":
            msg += (f"; or `apt-get install dataset-fashion-mnist` (tarf then copies the data from "
                    f"{DEBIAN_FMNIST})")
        msg += f"; or run tarf.data.load({name!r}) once on a machine with network and copy the folder."
        msg += f"\nDownload failed: {err!r}" if err else "\n(download=False, so nothing was fetched.)"
        raise DataMissingError(msg) from err
    for p, m in files.items():
        if (got := _md5(p)) != m:
            raise _corrupt(p, m, got)


# --- loaders ------------------------------------------------------------------------------------

def _fmnist_embedded(root: Path, download: bool) -> Dataset:
    blob = SUBSET_FILE.read_bytes()
    got = hashlib.sha256(blob).hexdigest()
    if got != SUBSET_SHA256:
        raise _corrupt(SUBSET_FILE, SUBSET_SHA256, got, "SHA-256",
                       "rebuild it with `python scripts/build_fmnist_subset.py` (or restore it from git)")
    f = io.BytesIO(gzip.decompress(blob))
    a = {k: np.load(f, allow_pickle=False) for k in SUBSET_ARRAYS}
    x = {s: torch.from_numpy(a[f"x_{s}"]).unsqueeze(1).contiguous() for s in ("train", "test")}
    y = {s: torch.from_numpy(a[f"y_{s}"].astype(np.int64)) for s in ("train", "test")}
    return Dataset("fmnist_embedded", "fmnist", x["train"], y["train"], x["test"], y["test"],
                   FMNIST_CLASSES, FMNIST_HIERARCHY)


def _copy_debian_fmnist(raw: Path):
    """Fill <root>/FashionMNIST/raw from the Debian package, so no download is needed.

    torchvision 0.29 only checks that the extracted idx files exist, so only those are written; the
    Debian .gz files are not copied because their md5 differs from torchvision's (re-gzipped)."""
    todo = [s for s in FMNIST_MD5 if not (raw / s).is_file()]
    if not todo or not all((DEBIAN_FMNIST / f"{s}.gz").is_file() for s in todo):
        return
    raw.mkdir(parents=True, exist_ok=True)
    for s in todo:
        src = DEBIAN_FMNIST / f"{s}.gz"
        data = gzip.decompress(src.read_bytes())
        if (got := hashlib.md5(data, usedforsecurity=False).hexdigest()) != FMNIST_MD5[s]:
            raise _corrupt(src, FMNIST_MD5[s], f"{got} (of its content)",
                           remedy="reinstall the package: apt-get install --reinstall dataset-fashion-mnist")
        tmp = raw / f".{s}.tmp"  # write-then-rename: an interrupted copy never looks complete
        tmp.write_bytes(data)
        tmp.replace(raw / s)


def _fmnist(root: Path, download: bool) -> Dataset:
    from torchvision.datasets import FashionMNIST

    raw = root / "FashionMNIST" / "raw"
    _copy_debian_fmnist(raw)
    _ensure("fmnist", {raw / s: m for s, m in FMNIST_MD5.items()},
            lambda: FashionMNIST(root, train=True, download=True), download,
            {raw / f: m for f, m in FashionMNIST.resources})
    tr, te = (FashionMNIST(root, train=t, download=False) for t in (True, False))
    assert tuple(tr.classes) == FMNIST_CLASSES, tr.classes
    return Dataset("fmnist", "fmnist", tr.data.unsqueeze(1).contiguous(), tr.targets.long(),
                   te.data.unsqueeze(1).contiguous(), te.targets.long(),
                   FMNIST_CLASSES, FMNIST_HIERARCHY)


def _unpickle(path: Path, md5: str) -> dict:
    """Unpickle one official CIFAR file, only if the very bytes read have torchvision's md5.

    Unpickling runs whatever code the file names, so this is the gate: the bytes are hashed and then
    unpickled from memory (no window in which the file could change between check and load)."""
    blob = Path(path).read_bytes()
    if (got := hashlib.md5(blob, usedforsecurity=False).hexdigest()) != md5:
        raise _corrupt(path, md5, got)
    return pickle.loads(blob, encoding="latin1")  # the official files are Python 2 pickles


def _cifar(name: str, root: Path, download: bool) -> Dataset:
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import download_and_extract_archive

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    folder = root / cls.base_folder
    files = {folder / f: m for f, m in cls.train_list + cls.test_list}
    files[folder / cls.meta["filename"]] = cls.meta["md5"]
    # The batch files are pickles: nothing may unpickle them before their md5 is checked. So the fetch
    # only downloads and extracts (what CIFAR10.download does; the archive's md5 is checked), and
    # the data set constructors, which unpickle, run only after _ensure has checked every file.
    _ensure(name, files, lambda: download_and_extract_archive(cls.url, str(root), filename=cls.filename,
                                                              md5=cls.tgz_md5), download,
            {root / cls.filename: cls.tgz_md5})
    tr, te = (cls(root, train=t, download=False) for t in (True, False))
    # (N, 32, 32, 3) HWC -> (N, 3, 32, 32) CHW, the layout the models take
    x = [torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous() for d in (tr, te)]
    y = [torch.tensor(d.targets, dtype=torch.long) for d in (tr, te)]
    classes = tuple(tr.classes)
    if name == "cifar10":
        hierarchy = CIFAR10_HIERARCHY
    else:
        # torchvision exposes fine labels only: read the coarse labels and names from the files
        meta = _unpickle(folder / cls.meta["filename"], cls.meta["md5"])
        batches = (_unpickle(folder / f, m) for f, m in cls.train_list + cls.test_list)
        fine, coarse = (np.concatenate(c) for c in zip(*((b["fine_labels"], b["coarse_labels"]) for b in batches)))
        pairs = set(zip(fine.tolist(), coarse.tolist()))
        if len(pairs) != len(classes) or {f for f, _ in pairs} != set(range(len(classes))):
            raise DataCorruptError(f"{folder}: coarse_labels do not map each fine class to one coarse class")
        cmap = dict(pairs)
        hierarchy = tuple((cn, tuple(classes[f] for f in range(len(classes)) if cmap[f] == k))
                          for k, cn in enumerate(meta["coarse_label_names"]))
    return Dataset(name, name, x[0], y[0], x[1], y[1], classes, hierarchy)


_LOADERS = {
    "fmnist_embedded": _fmnist_embedded,
    "fmnist": _fmnist,
    "cifar10": lambda root, download: _cifar("cifar10", root, download),
    "cifar100": lambda root, download: _cifar("cifar100", root, download),
}
_CACHE: dict = {}  # (name, resolved root) -> Dataset; notebooks call load() repeatedly


def load(name: str, root=None, download: bool = True) -> Dataset:
    """The data set `name` (one of DATASETS), cached in-process.

    The cached tensors are shared between callers: never modify them in place (docs/scenarios.md#persisted-splits)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    key = (name, None if name == "fmnist_embedded" else data_root(root).resolve())
    if key not in _CACHE:
        _CACHE[key] = _LOADERS[name](key[1], download)
    return _CACHE[key]


def clear_cache():
    _CACHE.clear()
