"""The bundled MNIST subset: shapes, dtypes, the stratified split, determinism, speed."""

import time

import numpy as np
import pytest

from netcore.datasets import list_datasets, load_dataset
from netcore.datasets.bundled import BUNDLED_FILE, load_mnist_5k_raw


def test_bundled_file_is_small_and_plain():
    assert BUNDLED_FILE.stat().st_size < 2_500_000
    with np.load(BUNDLED_FILE, allow_pickle=False) as f:
        assert f["images"].shape == (5000, 28, 28)
        assert f["images"].dtype == np.uint8
        assert f["labels"].dtype == np.int64
        assert np.array_equal(np.bincount(f["labels"]), np.full(10, 500))


def test_shapes_dtypes_and_range():
    ds = load_dataset("mnist_5k")
    assert ds.X_train.shape == (4000, 1, 28, 28) and ds.X_test.shape == (1000, 1, 28, 28)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.raw_train.dtype == np.uint8 and ds.raw_train.shape == (4000, 1, 28, 28)
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    np.testing.assert_allclose(ds.X_test, ds.raw_test / np.float32(255), rtol=1e-6)
    assert ds.input_shape == (1, 28, 28) and ds.class_names == tuple("0123456789")


def test_split_is_stratified_exactly_and_disjoint():
    raw_train, y_train, raw_test, y_test = load_mnist_5k_raw()
    assert np.array_equal(np.bincount(y_train), np.full(10, 400))
    assert np.array_equal(np.bincount(y_test), np.full(10, 100))
    # No image is in both splits: compare the images' bytes.
    train_rows = {r.tobytes() for r in raw_train.reshape(4000, -1)}
    assert not any(r.tobytes() in train_rows for r in raw_test.reshape(1000, -1))
    # Classes are mixed (the source is sorted by label).
    assert len(set(y_train[:20].tolist())) > 5


def test_split_is_deterministic():
    a, b = load_dataset("mnist_5k"), load_dataset("mnist_5k")
    assert np.array_equal(a.y_train, b.y_train) and np.array_equal(a.raw_test, b.raw_test)
    _, y_other, _, _ = load_mnist_5k_raw(seed=1)
    assert not np.array_equal(a.y_train, y_other)


def test_standardise_uses_training_statistics():
    ds = load_dataset("mnist_5k", normalization="standardise")
    assert abs(float(ds.X_train.mean())) < 1e-4 and abs(float(ds.X_train.std()) - 1) < 1e-3
    (m,), (s,) = ds.normalization.mean, ds.normalization.std
    np.testing.assert_allclose(ds.X_test, (ds.raw_test / 255 - m) / s, rtol=1e-4, atol=1e-5)


def test_loads_well_under_a_second():
    t0 = time.perf_counter()
    load_dataset("mnist_5k")
    elapsed = time.perf_counter() - t0
    print(f"bundled mnist_5k load: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0


def test_catalog_describes_every_set():
    infos = {i.key: i for i in list_datasets()}
    assert list(infos) == ["mnist_5k", "mnist", "fashion_mnist", "cifar10"]
    assert infos["mnist_5k"].bundled and infos["mnist_5k"].available
    assert "CC BY-SA 3.0" in infos["mnist_5k"].licence
    assert "LeCun" in infos["mnist_5k"].licence and "Cortes" in infos["mnist_5k"].licence
    assert infos["fashion_mnist"].class_names[0] == "T-shirt/top"
    assert infos["cifar10"].class_names[0] == "airplane"
    assert infos["cifar10"].input_shape == (3, 32, 32)
    assert all(i.n_classes == 10 for i in infos.values())


def test_subset_sizes_are_stratified():
    ds = load_dataset("mnist_5k", train_size=1000, test_size=200, seed=3)
    assert np.array_equal(np.bincount(ds.y_train), np.full(10, 100))
    assert np.array_equal(np.bincount(ds.y_test), np.full(10, 20))
    assert ds.info.n_train == 1000


def test_read_only_dataset_refuses_writes():
    ds = load_dataset("mnist_5k").read_only()
    for a in ds.arrays():
        assert not a.flags.writeable


def test_key_spellings_and_unknown_key():
    from netcore.datasets import DatasetError, dataset_info

    assert load_dataset("mnist-5k").info.key == "mnist_5k"
    assert dataset_info("CIFAR-10").key == "cifar10"
    assert dataset_info("Fashion-MNIST").key == "fashion_mnist"
    with pytest.raises(DatasetError, match="no dataset called 'svhn'.*mnist_5k"):
        load_dataset("svhn")
