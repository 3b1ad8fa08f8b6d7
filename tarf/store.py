"""Content-addressed artifact store: every split, checkpoint, log and result row is keyed by a hash
of exactly the params that determine it, written atomically, and checksummed on load.

Layout: <store>/<kind>/<key>.<ext> with a sidecar <key>.<ext>.sha256. A file without a valid sidecar
is never read: writers create the data file under a temporary name, fsync, rename, and only then
write the sidecar (also by rename), so a crash at any point leaves either nothing or a complete pair.
Writers of one kind take turns (an exclusive flock on <store>/<kind>/.lock; readers take it shared):
two writers of one key, with different bytes (a row's TIME differs between runs), could otherwise
interleave their four renames into one's data with the other's sidecar. A lock dies with its
process, so a killed writer holds none; on NFS, Linux turns flock into a POSIX lock the server keeps.

The sidecar is integrity, not authenticity: it catches a truncated or damaged file, but anyone who
can write a file can write its matching sidecar too. So the store never runs code it reads. JSON is
parsed as JSON, arrays are loaded with ``allow_pickle=False``, and a checkpoint (``.pt``) is a
``torch.save`` archive of tensors and plain data only (dict, list, tuple, str, int, float, bool,
None), read back with ``torch.load(weights_only=True)`` and never with an unrestricted unpickler.
A checkpoint in the old format (from before this rule), or holding anything else, is reported in a
one-line notice, deleted and recomputed. Still, whoever can write to the store decides which
numbers it returns: a shared store must be writable only by the people who use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections import OrderedDict
from pathlib import Path

import torch

from .paths import store_dir


class CorruptArtifact(RuntimeError):
    """A stored file whose content does not match its checksum."""


def key(params: dict) -> str:
    """Stable 16-hex-digit key of a JSON-serialisable dict (sorted keys, no whitespace)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(kind: str, shared: bool = False):
    """The kind's lock: exclusive for put and discard, shared for get (no read of a half-swapped pair)."""
    folder = store_dir() / kind
    if shared and not folder.exists():  # nothing to read: create nothing
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield  # closing the file releases the lock


@contextlib.contextmanager
def claim(kind: str, k: str):
    """One computer per key: an exclusive flock on <store>/<kind>/.claims/<key>.lock. Two notebooks that
    run at once (`make -j2`) and need the same run would otherwise both compute it; the second waits
    here, then finds the first's result (callers look again after the claim). The lock files stay
    (empty, one per key): removing one while another process waits on it would let a third in."""
    folder = store_dir() / kind / ".claims"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{k}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def path_for(kind: str, k: str, ext: str) -> Path:
    return store_dir() / kind / f"{k}.{ext}"


def exists(kind: str, k: str, ext: str) -> bool:
    p = path_for(kind, k, ext)
    return p.exists() and Path(f"{p}.sha256").exists()


def put(kind: str, k: str, ext: str, data: bytes) -> Path:
    p = path_for(kind, k, ext)
    with _locked(kind):
        # drop an old sidecar first: a crash between the two renames must not pair new data with an old sum
        Path(f"{p}.sha256").unlink(missing_ok=True)
        atomic_write_bytes(p, data)
        atomic_write_bytes(Path(f"{p}.sha256"), sha256_bytes(data).encode())
    return p


def get(kind: str, k: str, ext: str) -> bytes | None:
    """The stored bytes, or None if absent (a data file without its sidecar counts as absent).
    A checksum mismatch raises CorruptArtifact naming the file."""
    p = path_for(kind, k, ext)
    side = Path(f"{p}.sha256")
    with _locked(kind, shared=True):
        if not (p.exists() and side.exists()):
            return None
        data = p.read_bytes()
        want, got = side.read_text().strip(), sha256_bytes(data)
    if want != got:
        raise CorruptArtifact(f"{p}: checksum mismatch (expected {want}, found {got}); delete it to recompute")
    return data


def discard(kind: str, k: str, ext: str) -> None:
    p = path_for(kind, k, ext)
    with _locked(kind):
        Path(f"{p}.sha256").unlink(missing_ok=True)
        p.unlink(missing_ok=True)


def _recover(kind, k, ext, loader):
    """Load, or on a checksum mismatch report it, remove the file and return None (recompute)."""
    try:
        data = get(kind, k, ext)
    except CorruptArtifact as e:
        print(f"warning: {e}; recomputing")
        discard(kind, k, ext)
        return None
    return None if data is None else loader(data)


# A checkpoint is torch.save({"format": CHECKPOINT_FORMAT, "data": obj}). Files without this marker
# were written by the old writer (which pickled whatever it was given) and are recomputed, not used.
CHECKPOINT_FORMAT = "tarf-checkpoint/2"
_PLAIN = (str, int, float, bool, type(None))


def _check_plain(obj, where: str = "checkpoint") -> None:
    """Raise TypeError naming the first value that torch.load(weights_only=True) could not read back.

    Exact types: a numpy scalar is a float subclass but pickles as a numpy object."""
    t = type(obj)
    if t in _PLAIN or t in (torch.Tensor, torch.nn.Parameter):
        return
    if t in (dict, OrderedDict):
        for k_, v in obj.items():
            _check_plain(k_, f"{where} key {k_!r}")
            _check_plain(v, f"{where}[{k_!r}]")
        return
    if t in (list, tuple):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {t.__module__}.{t.__qualname__}: a checkpoint holds only tensors and plain "
                    f"data (dict, list, tuple, str, int, float, bool, None); convert it (float(x), x.tolist())")


class _NotACheckpoint(Exception):
    """Stored bytes that are not a checkpoint in the current format (never loaded any other way)."""


def put_torch(kind: str, k: str, obj) -> Path:
    """Store ``obj`` (tensors and plain data only: see _check_plain) as a checkpoint."""
    _check_plain(obj)
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "data": obj}, buf)
    return put(kind, k, "pt", buf.getvalue())


def _load_checkpoint(data: bytes):
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the notice says enough
            warnings.simplefilter("ignore")
            # weights_only=True, explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot override it, and
            # there is deliberately no fallback to an unrestricted load
            box = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError (a forbidden global), or not a torch archive at all
        raise _NotACheckpoint(f"it holds more than tensors and plain data: {type(e).__name__}") from None
    if not (type(box) is dict and box.keys() == {"format", "data"} and box["format"] == CHECKPOINT_FORMAT):
        raise _NotACheckpoint(f"no {CHECKPOINT_FORMAT} marker")
    return box["data"]


def get_torch(kind: str, k: str):
    """The stored checkpoint, or None if absent, corrupt, or not in the current format; the last two
    are reported in one line and deleted, so the caller recomputes them."""
    try:
        return _recover(kind, k, "pt", _load_checkpoint)
    except _NotACheckpoint as e:
        print(f"notice: {path_for(kind, k, 'pt')} is in the old checkpoint format ({e}); recomputing")
        discard(kind, k, "pt")
        return None


def put_json(kind: str, k: str, obj) -> Path:
    return put(kind, k, "json", json.dumps(obj, sort_keys=True, indent=1, default=_jsonable).encode())


def get_json(kind: str, k: str):
    return _recover(kind, k, "json", lambda b: json.loads(b))


def _jsonable(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
