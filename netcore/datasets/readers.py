"""Parsers for the downloaded files: IDX (MNIST, Fashion-MNIST) and CIFAR-10 batches.

IDX format (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions ``d``, then ``d`` 32-bit sizes, then the values row-major. We check every part of the
header against the data length before trusting it.

CIFAR-10's "python version" is a tar.gz of pickled dicts. ``pickle.load`` on a downloaded file
can run any code the file names, so we never call it. `read_pickle_safely` uses an unpickler whose
``find_class`` returns only inert stand-ins (see `_ArrayStub`): loading can create nothing but
dicts, lists, tuples, strings, bytes, numbers and those stand-ins. The arrays are then rebuilt by
us with ``np.frombuffer`` from a whitelisted numeric dtype and a checked byte length.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from netcore.datasets.core import DatasetError

# -- IDX ------------------------------------------------------------------------------------


def parse_idx(data: bytes, name: str = "IDX file") -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file of unsigned bytes.

    Returns
    -------
    np.ndarray, uint8, with the shape stored in the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{name} is not an IDX file (it must start with two zero bytes).")
    type_code, ndim = data[2], data[3]
    if type_code != 0x08:
        raise DatasetError(f"{name} holds IDX type 0x{type_code:02x}; expected 0x08 (bytes).")
    if not 1 <= ndim <= 4 or len(data) < 4 + 4 * ndim:
        raise DatasetError(f"{name} has a damaged IDX header ({ndim} dimensions).")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = memoryview(data)[4 + 4 * ndim :]
    if len(body) != math.prod(dims):
        raise DatasetError(
            f"{name} should hold {math.prod(dims):,} values for shape {dims} but holds "
            f"{len(body):,}; the file is damaged. Delete it from the cache and download again."
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def read_idx_gz(path: str | Path) -> np.ndarray:
    """Read a gzip-compressed IDX file. Returns uint8 array with the header's shape."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path.name} is not a readable gzip file ({e}).") from e
    return parse_idx(data, path.name)


def read_idx_set(train_images, train_labels, test_images, test_labels):
    """The four MNIST-style files -> ``raw_train (N,1,28,28) uint8, y_train int64, ...``."""
    out = []
    for img_path, lbl_path in ((train_images, train_labels), (test_images, test_labels)):
        images, labels = read_idx_gz(img_path), read_idx_gz(lbl_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(
                f"{Path(img_path).name} ({images.shape}) and {Path(lbl_path).name} "
                f"({labels.shape}) do not match: expected N images and N labels."
            )
        if labels.size and labels.max() > 9:
            raise DatasetError(f"{Path(lbl_path).name} has labels above 9.")
        out += [images[:, None, :, :], labels.astype(np.int64)]
    return tuple(out)


# -- restricted unpickling -------------------------------------------------------------------
_SAFE_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "b1"}


class _DtypeStub:
    """Stands in for ``numpy.dtype(spec, align, copy)``; remembers the spec, runs nothing."""

    def __init__(self, spec, align=False, copy=False):
        self.spec = spec.decode("ascii") if isinstance(spec, bytes) else str(spec)
        self.byteorder = "|"

    def __setstate__(self, state):
        # state = (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]

    def to_dtype(self) -> np.dtype:
        if self.spec not in _SAFE_DTYPES:
            raise pickle.UnpicklingError(f"refused array dtype {self.spec!r}")
        order = "<" if self.byteorder == "=" else self.byteorder
        return np.dtype(self.spec).newbyteorder(order if order in "<>" else "=")


class _ArrayStub:
    """Stands in for ``numpy.core.multiarray._reconstruct(ndarray, shape, dtype)`` and the
    ``ndarray.__setstate__`` that follows; only records the pieces."""

    def __init__(self, *args):
        self.state = None

    def __setstate__(self, state):
        self.state = state  # (version, shape, dtype, is_fortran, raw bytes)

    @classmethod
    def from_buffer(cls, buf, dtype, shape, order="C"):  # protocol-5 form of the same thing
        stub = cls()
        stub.state = (1, shape, dtype, order == "F", bytes(buf))
        return stub

    def to_array(self) -> np.ndarray:
        try:
            _, shape, dtype, fortran, raw = self.state
            shape = tuple(int(s) for s in shape)
            if not isinstance(dtype, _DtypeStub) or not isinstance(raw, (bytes, bytearray)):
                raise TypeError
        except (TypeError, ValueError) as e:
            raise pickle.UnpicklingError("refused a malformed array") from e
        dt = dtype.to_dtype()
        if len(raw) != math.prod(shape) * dt.itemsize:
            raise pickle.UnpicklingError("array data does not match its shape")
        return np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode``: how Python 3 writes ``bytes`` in protocol 2 pickles."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("refused _codecs.encode with another codec")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build plain data plus numeric arrays.

    ``find_class`` is the only way a pickle can reach a Python callable; it returns our inert
    stand-ins for the four globals NumPy array pickles use and refuses everything else
    (``os.system``, ``builtins.eval``, ...), so the file cannot run code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _ArrayStub,
        ("numpy._core.multiarray", "_reconstruct"): _ArrayStub,
        ("numpy.core.numeric", "_frombuffer"): _ArrayStub.from_buffer,
        ("numpy._core.numeric", "_frombuffer"): _ArrayStub.from_buffer,
        ("numpy", "ndarray"): None,  # only ever an argument of _reconstruct
        ("numpy", "dtype"): _DtypeStub,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused to load global '{module}.{name}'")
        return self._ALLOWED[(module, name)]

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent reference")


def _materialise(obj):
    """Replace array stand-ins by real arrays, walking dicts, lists and tuples."""
    if isinstance(obj, _ArrayStub):
        return obj.to_array()
    if isinstance(obj, _DtypeStub):
        return obj.to_dtype()
    if isinstance(obj, dict):
        return {_materialise(k): _materialise(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialise(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v) for v in obj)
    if obj is None or isinstance(obj, (str, bytes, bytearray, int, float, bool)):
        return obj
    raise pickle.UnpicklingError(f"refused an object of type {type(obj).__name__}")


def read_pickle_safely(data: bytes, name: str = "pickle"):
    """Load a pickle of plain data and NumPy arrays without running any code from it.

    ``encoding="bytes"`` reads Python 2 pickles (CIFAR-10's) with their byte strings intact.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
        return _materialise(obj)
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        RecursionError,
    ) as e:
        raise DatasetError(f"{name} was refused: {e}. It is not a plain CIFAR-10 batch.") from e
    except (IndexError, KeyError, struct.error) as e:
        raise DatasetError(f"{name} is damaged ({e!r}); delete it and download again.") from e


# -- CIFAR-10 ----------------------------------------------------------------------------------
_CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
_MAX_MEMBER = 64 << 20  # a real batch is 31 MB


def _text_key(d: dict, key: str):
    """CIFAR's Python 2 dicts have byte-string keys; ones made by Python 3 have str keys."""
    if key in d:
        return d[key]
    return d[key.encode()]


def parse_cifar_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> ``images (N, 3, 32, 32) uint8, labels (N,) int64``."""
    batch = read_pickle_safely(data, name)
    try:
        pixels = np.asarray(_text_key(batch, "data"))
        labels = np.asarray(_text_key(batch, "labels"), dtype=np.int64)
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{name} lacks the 'data' and 'labels' entries of a batch.") from e
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        raise DatasetError(f"{name}: expected uint8 data of shape (N, 3072), got {pixels.shape}")
    if len(labels) != len(pixels) or (labels.size and not 0 <= labels.min() <= labels.max() < 10):
        raise DatasetError(f"{name}: labels do not match the images (or are not 0-9).")
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major: already CHW.
    return pixels.reshape(-1, 3, 32, 32), labels


def read_cifar10_tar(path: str | Path):
    """``cifar-10-python.tar.gz`` -> ``raw_train (50000,3,32,32) uint8, y_train, raw_test,
    y_test``, reading members in memory (nothing is extracted to disk)."""
    path = Path(path)
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if base not in _CIFAR_BATCHES or not member.isfile():
                    continue
                if member.size > _MAX_MEMBER:
                    raise DatasetError(f"{member.name} in {path.name} is too large for a batch.")
                data = tar.extractfile(member).read()
                found[base] = parse_cifar_batch(data, f"{path.name}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(f"{path.name} is not a readable tar.gz archive ({e}).") from e
    missing = [b for b in _CIFAR_BATCHES if b not in found]
    if missing:
        raise DatasetError(f"{path.name} lacks the batches {', '.join(missing)}.")
    train = [found[b] for b in _CIFAR_BATCHES[:5]]
    raw_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    raw_test, y_test = found["test_batch"]
    return raw_train, y_train, np.ascontiguousarray(raw_test), y_test
