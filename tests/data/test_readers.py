"""File readers: IDX header checks and the restricted unpickler for CIFAR-10 batches."""

import gzip
import os
import pickle

import numpy as np
import pytest
from data_fakes import cifar_batch_pickle, idx_bytes, make_cifar_tar

from netcore.datasets import DatasetError
from netcore.datasets.readers import (
    parse_cifar_batch,
    parse_idx,
    read_cifar10_tar,
    read_idx_gz,
    read_pickle_safely,
)


def test_idx_round_trip(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(idx_bytes(a)))
    assert np.array_equal(read_idx_gz(path), a)
    assert np.array_equal(parse_idx(idx_bytes(np.arange(5, dtype=np.uint8))), np.arange(5))


@pytest.mark.parametrize(
    "data, words",
    [
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "two zero bytes"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x05", "type 0x0d"),
        (b"\x00\x00\x08\x09", "damaged IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "should hold 3 values"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "holds 2"),
    ],
)
def test_idx_header_is_validated(data, words):
    with pytest.raises(DatasetError, match=words) as err:
        parse_idx(data, "t10k-labels-idx1-ubyte")
    assert "t10k-labels-idx1-ubyte" in str(err.value)


def test_not_gzip_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"<html>error page</html>")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz is not a readable gzip"):
        read_idx_gz(path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batch_in_every_protocol(protocol):
    data = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    images, labels = parse_cifar_batch(cifar_batch_pickle(data, [1, 2, 3, 9], protocol), "b")
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8
    assert np.array_equal(images.reshape(4, -1), data) and labels.tolist() == [1, 2, 3, 9]
    # Channel order: the first 1024 values of a row are the red plane.
    assert np.array_equal(images[0, 0].ravel(), data[0, :1024])


def py2_style_batch(raw: bytes, shape) -> bytes:
    """A protocol-2 pickle as Python 2 + NumPy 1 wrote CIFAR-10: str keys and data as
    SHORT_BINSTRING/BINSTRING, 'numpy.core.multiarray' (not numpy._core)."""

    def binstring(b: bytes) -> bytes:
        return b"T" + len(b).to_bytes(4, "little") + b

    def ints(*xs) -> bytes:  # BININT1, BININT2 or BININT, as pickle chooses by size
        return b"".join(
            b"K" + x.to_bytes(1, "little")
            if x < 256
            else b"M" + x.to_bytes(2, "little")
            if x < 65536
            else b"J" + x.to_bytes(4, "little")
            for x in xs
        )

    return b"".join(
        [
            b"\x80\x02}(",
            b"U\x04data",
            b"cnumpy.core.multiarray\n_reconstruct\n",
            b"cnumpy\nndarray\n",
            ints(0) + b"\x85" + b"U\x01b" + b"\x87R",
            b"(" + ints(1) + b"(" + ints(*shape) + b"t",
            b"cnumpy\ndtype\nU\x02u1" + ints(0, 1) + b"\x87R",
            b"(" + ints(3) + b"U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff" + ints(0) + b"tb",
            b"\x89" + binstring(raw) + b"tb",
            b"U\x06labels](" + ints(*range(shape[0])) + b"e",
            b"u.",
        ]
    )


def test_python2_numpy1_pickle_as_in_the_real_set():
    raw = bytes(range(256)) * 24  # 2 x 3072 bytes
    images, labels = parse_cifar_batch(py2_style_batch(raw, (2, 3072)), "data_batch_1")
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [0, 1]
    assert images.tobytes() == raw


class RunsCommand:
    def __init__(self, cmd):
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_restricted_unpickler_refuses_code_without_running_it(tmp_path):
    marker = tmp_path / "was_run"
    evil = pickle.dumps({b"data": RunsCommand(f"touch {marker}")}, protocol=2)
    with pytest.raises(DatasetError, match=r"refused to load global '(posix|os)\.system'"):
        read_pickle_safely(evil, "data_batch_1")
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(eval, protocol=2),  # builtins.eval
        pickle.dumps(np.array([None, 1], dtype=object), protocol=2),  # object arrays
        pickle.dumps(np.zeros(2, dtype=[("a", "u1"), ("b", "f4")]), protocol=2),  # records
        pickle.dumps(np.float64(1.0), protocol=2),  # numpy scalars are not needed
        b"\x80\x02cnumpy\nload\nq\x00.",
        b"\x80\x02}q\x00(X\x01\x00\x00\x00a",  # truncated
    ],
)
def test_restricted_unpickler_refuses_anything_else(payload):
    with pytest.raises(DatasetError, match="data_batch_2"):
        read_pickle_safely(payload, "data_batch_2")


def test_cifar_tar_reads_all_batches(tmp_path):
    x_train, y_train, x_test, y_test, tar_gz = make_cifar_tar(per_batch=3)
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(tar_gz)
    got = read_cifar10_tar(path)
    for a, b in zip(got, (x_train, y_train, x_test, y_test), strict=True):
        assert np.array_equal(a, b)


def test_cifar_tar_missing_batch(tmp_path):
    *_, tar_gz = make_cifar_tar(per_batch=2, replace={"data_batch_5": b"x"})
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(tar_gz)
    with pytest.raises(DatasetError, match="data_batch_5"):
        read_cifar10_tar(path)
