"""Generators of small test files in the real formats of the downloadable datasets."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian sizes, values."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_idx_set(n_train=60, n_test=20, seed=0):
    """Random MNIST-like images and labels, and the four gzip files of the real set."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    files = {name: gzip.compress(idx_bytes(a), compresslevel=1) for name, a in arrays.items()}
    return arrays, files


def cifar_batch_pickle(data: np.ndarray, labels: list[int], protocol: int = 2) -> bytes:
    """A batch with the structure of CIFAR-10's: byte-string keys, uint8 (N, 3072), list."""
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=protocol)


def make_cifar_tar(per_batch=10, seed=0, replace: dict | None = None):
    """A cifar-10-python.tar.gz with five training batches and a test batch.

    `replace` maps a batch name to raw bytes to put there instead (e.g. a malicious pickle).
    Returns (x_train, y_train, x_test, y_test, tar_gz_bytes), images as (N, 3, 32, 32).
    """
    rng = np.random.default_rng(seed)
    members, xs, ys = {}, [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        members[name] = cifar_batch_pickle(data, labels)
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.array(labels, dtype=np.int64))
    members["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=2)
    members.update(replace or {})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return (np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5], buf.getvalue())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def image_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    """Encode a uint8 (H, W) or (H, W, 3|4) array with Pillow."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG file that declares `width` x `height` pixels (a decompression bomb's header)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive of {name: content}, names written exactly as given."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name), content, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()
