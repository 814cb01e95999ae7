"""Load times of every dataset: ``python tools/measure_datasets.py``.

The bundled MNIST subset and the toy sets are timed as they are. The downloadable sets cannot be
fetched on every machine, so files of their real size and format are generated in a temporary
folder (random pixels: the parsing work is the same) and timed through the same readers and the
same parsed-array cache the app uses: the first load after a download (parse the archives) and
every later load (read the cache).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netcore.datasets import download, load_dataset, make_toy, readers  # noqa: E402
from netcore.datasets.toy import TOY_SETS  # noqa: E402


def median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def write_idx_set(folder: Path, n_train: int, n_test: int) -> list[Path]:
    """The four gzip IDX files of an MNIST-style set, with random pixels."""
    rng = np.random.default_rng(0)
    arrays = [
        ("train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)),
        ("train-labels-idx1-ubyte.gz", (np.arange(n_train) % 10).astype(np.uint8)),
        ("t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)),
        ("t10k-labels-idx1-ubyte.gz", (np.arange(n_test) % 10).astype(np.uint8)),
    ]
    paths = []
    for name, a in arrays:
        header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
        path = folder / name
        path.write_bytes(gzip.compress(header + a.tobytes(), compresslevel=1))
        paths.append(path)
    return paths


def write_cifar_tar(path: Path, per_batch: int = 10_000) -> Path:
    """A cifar-10-python.tar.gz of the real layout: five training batches and a test batch."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {
                b"batch_label": name.encode(),
                b"labels": rng.integers(0, 10, per_batch).tolist(),
                b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                b"filenames": [f"{i}.png".encode() for i in range(per_batch)],
            }
            content = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    path.write_bytes(buf.getvalue())
    return path


def cached_ms(key: str, arrays, folder: Path, label: str) -> None:
    """Save the parsed arrays as the app does after a download, then time loading them."""
    download.dataset_dir(key, folder).mkdir(parents=True, exist_ok=True)
    download.save_parsed(key, arrays, folder)
    assert download.load_parsed(key, folder) is not None, "the parsed cache was not written"
    ms = median_ms(lambda: load_dataset(key, cache_dir=folder), 3)
    print(f"{label + ', ready to train':<42} {ms:>9.1f}")


def main() -> None:
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; medians of 5 runs")
    print(f"{'dataset':<42} {'load ms':>9}")
    print(f"{'MNIST subset, bundled (4,000 + 1,000)':<42} {median_ms(load_dataset):>9.1f}")
    for name in TOY_SETS:
        for n in (500, 5000):
            ms = median_ms(lambda name=name, n=n: make_toy(name, n_points=n))
            print(f"{f'toy {name}, {n} points':<42} {ms:>9.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        idx = write_idx_set(folder, 60_000, 10_000)
        arrays = readers.read_idx_set(*idx)
        ms = median_ms(lambda: readers.read_idx_set(*idx), 3)
        print(f"{'MNIST/Fashion full, first load (parse IDX)':<42} {ms:>9.1f}")
        cached_ms("mnist", arrays, folder, "MNIST full, from the cache")
        tar = write_cifar_tar(folder / "cifar-10-python.tar.gz")
        arrays = readers.read_cifar10_tar(tar)
        ms = median_ms(lambda: readers.read_cifar10_tar(tar), 3)
        print(f"{'CIFAR-10, first load (parse tar.gz)':<42} {ms:>9.1f}")
        cached_ms("cifar10", arrays, folder, "CIFAR-10, from the cache")


if __name__ == "__main__":
    main()
