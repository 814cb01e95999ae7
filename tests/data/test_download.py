"""Downloads against a local HTTP server serving generated files in the real formats.

Good files, wrong checksums, a server that is down, a connection that breaks off, a full disk:
each gives a clear DatasetError, and the cache never keeps a half or wrong file.
"""

import errno
import os
from dataclasses import replace

import numpy as np
import pytest
from data_fakes import make_cifar_tar, make_idx_set, md5

from netcore.datasets import SOURCES, DatasetError, dataset_info, load_dataset, load_raw
from netcore.datasets import download as dl
from netcore.datasets.download import RemoteFile, Source


def serve_idx(server, monkeypatch, key="mnist", wrong_md5_for=None):
    """Put a generated MNIST-style set on the server; point SOURCES[key] at its checksums."""
    arrays, files = make_idx_set()
    remote = []
    for name, content in files.items():
        server.files[f"/{key}/{name}"] = content
        remote.append(RemoteFile(name, "0" * 32 if name == wrong_md5_for else md5(content)))
    monkeypatch.setitem(SOURCES, key, replace(SOURCES[key], files=tuple(remote)))
    return arrays, files


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_idx_download_parses_and_caches(server, cache_dir, monkeypatch):
    arrays, files = serve_idx(server, monkeypatch)
    calls = []
    ds = load_dataset("mnist", mirror=server.url, progress=lambda *a: calls.append(a))
    assert ds.raw_train.shape == (60, 1, 28, 28) and ds.raw_test.shape == (20, 1, 28, 28)
    assert np.array_equal(ds.raw_train[:, 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    # Progress: bytes grow to the file size, for every file.
    last = {name: (done, total) for done, total, name in calls}
    assert last == {name: (len(c), len(c)) for name, c in files.items()}
    assert sorted([*files, "parsed.npz"]) == files_in(cache_dir / "mnist")
    assert dataset_info("mnist").available
    # A second load needs no network: the server is asked nothing more.
    n_requests = len(server.requests)
    again = load_dataset("mnist", mirror="http://127.0.0.1:9/unused")
    assert np.array_equal(again.raw_train, ds.raw_train) and len(server.requests) == n_requests


def test_mirror_from_environment(server, cache_dir, monkeypatch):
    serve_idx(server, monkeypatch, key="fashion_mnist")
    monkeypatch.setenv("NETCORE_DATA_MIRROR", server.url + "/")
    ds = load_dataset("fashion_mnist")
    assert ds.class_names[0] == "T-shirt/top" and len(ds.y_train) == 60
    assert all(r.startswith("/fashion_mnist/") for r in server.requests)


def test_raw_files_reparsed_when_parsed_cache_is_damaged(server, cache_dir, monkeypatch):
    serve_idx(server, monkeypatch)
    first = load_raw("mnist", mirror=server.url)
    (cache_dir / "mnist" / "parsed.npz").write_bytes(b"not a zip")
    second = load_raw("mnist", mirror=server.url)
    assert np.array_equal(first[0], second[0])


def test_cifar_download_parses_batches(server, cache_dir, monkeypatch):
    x_train, y_train, x_test, y_test, tar_gz = make_cifar_tar()
    server.files["/cifar10/cifar-10-python.tar.gz"] = tar_gz
    files = (RemoteFile("cifar-10-python.tar.gz", md5(tar_gz)),)
    monkeypatch.setitem(SOURCES, "cifar10", Source("http://unused/", files))
    ds = load_dataset("cifar10", mirror=server.url, normalization="standardise")
    assert ds.raw_train.shape == (50, 3, 32, 32) and ds.X_test.shape == (10, 3, 32, 32)
    assert np.array_equal(ds.raw_train, x_train) and np.array_equal(ds.y_train, y_train)
    assert np.array_equal(ds.raw_test, x_test) and np.array_equal(ds.y_test, y_test)
    assert len(ds.normalization.mean) == 3 and ds.augment.flip
    assert np.allclose(ds.X_train.mean(axis=(0, 2, 3)), 0, atol=1e-4)


def test_wrong_hash_is_rejected_and_not_cached(server, cache_dir, monkeypatch):
    serve_idx(server, monkeypatch, wrong_md5_for="t10k-images-idx3-ubyte.gz")
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", mirror=server.url)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "md5" in msg and "deleted" in msg
    assert "t10k-images-idx3-ubyte.gz" not in files_in(cache_dir)
    assert not any(n.endswith(".part") or n == "parsed.npz" for n in files_in(cache_dir))
    assert not dataset_info("mnist").available


def test_server_down_gives_clear_error(cache_dir, dead_url, monkeypatch):
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", mirror=dead_url)
    msg = str(err.value)
    assert "Could not download train-images-idx3-ubyte.gz" in msg
    assert "internet connection" in msg and "bundled MNIST subset" in msg
    assert files_in(cache_dir) == []
    assert load_dataset("mnist_5k").X_train.shape == (4000, 1, 28, 28)  # still works


def test_http_error_names_the_status(server, cache_dir):
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.gz.*404"):
        load_dataset("mnist", mirror=server.url)  # nothing is served: 404
    assert files_in(cache_dir) == []


def test_interrupted_download_leaves_nothing(server, cache_dir, monkeypatch):
    _, files = serve_idx(server, monkeypatch)
    name = "train-images-idx3-ubyte.gz"
    server.truncate[f"/mnist/{name}"] = len(files[name]) // 2
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", mirror=server.url)
    msg = str(err.value)
    assert name in msg and "stopped after" in msg and "Nothing was kept" in msg
    assert files_in(cache_dir) == []


class FullDisk:
    """A file whose writes fail with ENOSPC after the first one (the disk fills up)."""

    def __init__(self, real):
        self.real, self.writes = real, 0

    def write(self, data):
        self.writes += 1
        if self.writes > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def test_full_disk_gives_clear_message(server, cache_dir, monkeypatch):
    serve_idx(server, monkeypatch)
    real_fdopen = os.fdopen
    monkeypatch.setattr(dl.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    monkeypatch.setattr(dl, "CHUNK", 1024)  # several writes per file
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", mirror=server.url)
    msg = str(err.value)
    assert msg.startswith("The disk is full") and "train-images-idx3-ubyte.gz" in msg
    assert "NETCORE_DATA_DIR" in msg
    assert files_in(cache_dir) == []


def test_unwritable_cache_folder(server, cache_dir, monkeypatch, tmp_path):
    serve_idx(server, monkeypatch)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match="NETCORE_DATA_DIR"):
        load_dataset("mnist", mirror=server.url, cache_dir=blocker / "sub")


def test_malicious_cifar_batch_is_refused_and_not_run(server, cache_dir, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    evil = b"cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    *_, tar_gz = make_cifar_tar(replace={"data_batch_3": evil})
    server.files["/cifar10/cifar-10-python.tar.gz"] = tar_gz
    files = (RemoteFile("cifar-10-python.tar.gz", md5(tar_gz)),)
    monkeypatch.setitem(SOURCES, "cifar10", Source("http://unused/", files))
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", mirror=server.url)
    assert "data_batch_3" in str(err.value) and "posix.system" in str(err.value)
    assert not marker.exists()
    assert "parsed.npz" not in files_in(cache_dir)


def test_cache_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("NETCORE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dl.cache_root() == tmp_path / "netcore-lab" / "datasets"
    monkeypatch.setenv("NETCORE_DATA_DIR", str(tmp_path / "mine"))
    assert dl.cache_root() == tmp_path / "mine"


def test_official_sources_match_the_design():
    assert SOURCES["mnist"].files[0].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert SOURCES["fashion_mnist"].files[3].md5 == "bb300cfdad3c16e7a12a480ee83cd310"
    assert SOURCES["cifar10"].files[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert dl.file_url("cifar10", SOURCES["cifar10"], "x.tar.gz", mirror="") == (
        "https://www.cs.toronto.edu/~kriz/x.tar.gz"
    )
