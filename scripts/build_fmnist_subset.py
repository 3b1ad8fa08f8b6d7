"""Rebuild tarf/assets/fmnist_subset.npy.gz from the full Fashion-MNIST, bit for bit.

    python scripts/build_fmnist_subset.py [--source DIR] [--out FILE]

Selection: numpy.random.default_rng(SUBSET_SEED), used in order for the train split then the test
split, class 0..9 each: SUBSET_PER_CLASS images per class without replacement; the chosen indices
are sorted, so the subset keeps the original order. The arrays (and the original indices, for
provenance) are np.save'd one after another into a gzip stream with mtime=0 and no file name, so
the same inputs give the same bytes (with the same zlib; a different zlib build may compress
differently). Prints the SHA-256 to put in tarf.data.SUBSET_SHA256.
"""

import argparse
import gzip
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tarf.data import (  # noqa: E402
    DEBIAN_FMNIST,
    FMNIST_MD5,
    SUBSET_ARRAYS,
    SUBSET_FILE,
    SUBSET_PER_CLASS,
    SUBSET_SEED,
    data_root,
)


def read_idx(folder: Path, stem: str) -> np.ndarray:
    """An idx-ubyte file (plain or .gz), checked against the official md5 of its content."""
    for p in (folder / stem, folder / f"{stem}.gz"):
        if p.is_file():
            b = p.read_bytes()
            b = gzip.decompress(b) if p.suffix == ".gz" else b
            got = hashlib.md5(b, usedforsecurity=False).hexdigest()
            if got != FMNIST_MD5[stem]:
                sys.exit(f"{p}: md5 of content {got}, expected {FMNIST_MD5[stem]}: not the official file")
            ndim = b[3]  # idx header: 0, 0, dtype (0x08 = uint8), ndim, then ndim big-endian sizes
            shape = np.frombuffer(b, ">u4", ndim, 4)
            return np.frombuffer(b, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    sys.exit(f"{stem}(.gz) not found in {folder}; pass --source")


def main():
    default = DEBIAN_FMNIST if DEBIAN_FMNIST.is_dir() else data_root() / "FashionMNIST" / "raw"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=default, help=f"folder with the idx files (default {default})")
    ap.add_argument("--out", type=Path, default=SUBSET_FILE)
    args = ap.parse_args()

    rng = np.random.default_rng(SUBSET_SEED)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(args.source, f"{prefix}-images-idx3-ubyte")
        y = read_idx(args.source, f"{prefix}-labels-idx1-ubyte")
        n = SUBSET_PER_CLASS[split]
        idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in range(10)]))
        arrays |= {f"x_{split}": x[idx], f"y_{split}": y[idx], f"idx_{split}": idx.astype(np.int64)}

    buf = io.BytesIO()
    for k in SUBSET_ARRAYS:
        np.save(buf, np.ascontiguousarray(arrays[k]), allow_pickle=False)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as g:
        g.write(buf.getvalue())
    blob = out.getvalue()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(args.out)
    print(f"wrote {args.out}: {len(blob):,} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")


if __name__ == "__main__":
    main()
