"""Every image dataset the lab knows: its description, where it comes from, how to load it.

``load_dataset(key)`` is the one entry point: it reads the bundled subset, or the download cache,
or downloads first (with a progress callback), then normalises.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from netcore.datasets import custom, download, readers
from netcore.datasets.bundled import load_mnist_5k_raw
from netcore.datasets.core import Dataset, DatasetError, DatasetInfo, ProgressCallback
from netcore.datasets.download import RemoteFile, Source
from netcore.datasets.split import stratified_subset
from netcore.datasets.transforms import Normalization, default_augment

DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10 = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

MNIST_LICENCE = "CC BY-SA 3.0; MNIST is by Yann LeCun and Corinna Cortes."
MNIST_ABOUT = (
    "Handwritten digits 0-9, grey 28x28 pixels, white ink on black, collected by NIST from "
    "American high-school students and Census Bureau employees and prepared as MNIST by Yann "
    "LeCun, Corinna Cortes and Christopher J.C. Burges. Licence: CC BY-SA 3.0."
)

_INFOS: dict[str, DatasetInfo] = {
    "mnist_5k": DatasetInfo(
        key="mnist_5k",
        title="MNIST digits, 5,000-image subset (offline)",
        description=MNIST_ABOUT
        + " This subset (500 images per digit) ships with the lab, so it works with no "
        "network; it is split 4,000 train / 1,000 test, 400 / 100 per digit, with a fixed seed.",
        class_names=DIGITS,
        input_shape=(1, 28, 28),
        n_train=4000,
        n_test=1000,
        source_url="http://yann.lecun.com/exdb/mnist/",
        licence=MNIST_LICENCE,
        kind="digits",
        bundled=True,
    ),
    "mnist": DatasetInfo(
        key="mnist",
        title="MNIST digits, full (70,000 images)",
        description=MNIST_ABOUT + " The standard split: 60,000 training and 10,000 test images.",
        class_names=DIGITS,
        input_shape=(1, 28, 28),
        n_train=60000,
        n_test=10000,
        source_url="http://yann.lecun.com/exdb/mnist/",
        licence=MNIST_LICENCE,
        kind="digits",
        download_bytes=11_594_722,
    ),
    "fashion_mnist": DatasetInfo(
        key="fashion_mnist",
        title="Fashion-MNIST (70,000 images)",
        description="Zalando's article images: ten kinds of clothing, shoes and bags, grey "
        "28x28 pixels, light on black, a drop-in (and harder) replacement for MNIST. By Han "
        "Xiao, Kashif Rasul and Roland Vollgraf (Zalando Research), 2017. 60,000 training and "
        "10,000 test images. Licence: MIT.",
        class_names=FASHION,
        input_shape=(1, 28, 28),
        n_train=60000,
        n_test=10000,
        source_url="https://github.com/zalandoresearch/fashion-mnist",
        licence="MIT; by Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf).",
        kind="clothing",
        download_bytes=30_878_645,
    ),
    "cifar10": DatasetInfo(
        key="cifar10",
        title="CIFAR-10 (60,000 colour photos)",
        description="Tiny colour photos, 32x32 pixels, of ten kinds of object: airplanes, cars, "
        "birds, cats, deer, dogs, frogs, horses, ships and trucks. Collected by Alex "
        "Krizhevsky, Vinod Nair and Geoffrey Hinton, 2009. 50,000 training and 10,000 test "
        "images. Much harder than MNIST: expect 60-70% from a small network.",
        class_names=CIFAR10,
        input_shape=(3, 32, 32),
        n_train=50000,
        n_test=10000,
        source_url="https://www.cs.toronto.edu/~kriz/cifar.html",
        licence="No formal licence; the authors ask users to cite A. Krizhevsky, Learning "
        "Multiple Layers of Features from Tiny Images, 2009.",
        kind="photos",
        download_bytes=170_498_071,
    ),
}

_IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _idx_source(base_url: str, md5s: tuple[str, str, str, str]) -> Source:
    return Source(base_url, tuple(RemoteFile(n, h) for n, h in zip(_IDX_NAMES, md5s, strict=True)))


SOURCES: dict[str, Source] = {
    "mnist": _idx_source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ),
    ),
    "fashion_mnist": _idx_source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ),
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
    ),
}
"""Where each downloadable set lives: base URL plus file names and md5 checksums."""


def canonical_key(key: str) -> str:
    """Accept the spellings people use: ``"mnist-5k"``, ``"Fashion-MNIST"``, ``"cifar-10"``."""
    k = str(key).strip().lower().replace("-", "_")
    return {"cifar_10": "cifar10", "mnist5k": "mnist_5k", "fashion": "fashion_mnist"}.get(k, k)


def dataset_info(key: str, cache_dir: str | Path | None = None) -> DatasetInfo:
    """The description of dataset `key`, with ``available`` filled in."""
    if custom.is_custom(key):
        return custom.custom_info(key, cache_dir)
    key = canonical_key(key)
    if key not in _INFOS:
        known = ", ".join(_INFOS)
        raise DatasetError(f"There is no dataset called {key!r}; choose one of: {known}.")
    info = _INFOS[key]
    available = info.bundled or download.is_cached(key, SOURCES[key], cache_dir)
    return replace(info, available=available)


def list_datasets(cache_dir: str | Path | None = None) -> list[DatasetInfo]:
    """All image datasets, bundled first, each saying whether it can be used offline now; then
    the user's own saved image sets (see `netcore.datasets.custom`)."""
    return [dataset_info(key, cache_dir) for key in _INFOS] + custom.list_custom(cache_dir)


def load_raw(
    key: str,
    *,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    mirror: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels and labels of dataset `key`, downloading it first if needed.

    Returns
    -------
    raw_train : uint8 (N_train, C, H, W)
    y_train : int64 (N_train,)
    raw_test : uint8 (N_test, C, H, W)
    y_test : int64 (N_test,)
    """
    key = dataset_info(key, cache_dir).key  # canonical spelling; a clear error for an unknown key
    if custom.is_custom(key):
        return custom.load_custom_raw(key, cache_dir)
    if key == "mnist_5k":
        return load_mnist_5k_raw()
    cached = download.load_parsed(key, cache_dir)
    if cached is not None:
        return cached
    paths = download.fetch(key, SOURCES[key], progress=progress, cache_dir=cache_dir, mirror=mirror)
    if key == "cifar10":
        arrays = readers.read_cifar10_tar(paths[0])
    else:
        arrays = readers.read_idx_set(*paths)
    download.save_parsed(key, arrays, cache_dir)
    return arrays


def load_dataset(
    key: str = "mnist_5k",
    *,
    normalization: str = "0-1",
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    mirror: str | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load an image dataset, ready for training.

    Parameters
    ----------
    key : str
        One of ``list_datasets()``: ``"mnist_5k"`` (bundled), ``"mnist"``,
        ``"fashion_mnist"``, ``"cifar10"``.
    normalization : {"0-1", "standardise"}
        See `Normalization`. The statistics come from the training images only.
    progress : callable, optional
        ``progress(bytes_done, bytes_total, filename)`` during a download.
    cache_dir : path, optional
        Download cache; default ``$NETCORE_DATA_DIR`` or ``~/.cache/netcore-lab/datasets``.
    mirror : str, optional
        Base URL serving ``<key>/<file name>`` instead of the official hosts; default
        ``$NETCORE_DATA_MIRROR``.
    train_size, test_size : int, optional
        Keep a stratified random subset of this many images (smaller, faster experiments).
    seed : int
        Seed of those subsets.

    Returns
    -------
    Dataset
        ``X_*`` float32 ``(N, C, H, W)``, ``y_*`` int64, plus the raw pixels, the
        normalisation and a suggested augmentation.

    Raises
    ------
    DatasetError
        With a sentence saying what went wrong and what to do (offline, bad checksum,
        disk full, ...). The bundled ``"mnist_5k"`` never needs the network.
    """
    info = dataset_info(key, cache_dir)
    raw_train, y_train, raw_test, y_test = load_raw(
        info.key, progress=progress, cache_dir=cache_dir, mirror=mirror
    )
    rng = np.random.default_rng(seed)
    if train_size is not None and train_size < len(y_train):
        keep = stratified_subset(y_train, train_size, rng)
        raw_train, y_train = raw_train[keep], y_train[keep]
    if test_size is not None and test_size < len(y_test):
        keep = stratified_subset(y_test, test_size, rng)
        raw_test, y_test = raw_test[keep], y_test[keep]
    info = replace(info, n_train=len(y_train), n_test=len(y_test), available=True)
    return make_dataset(info, raw_train, y_train, raw_test, y_test, normalization)


def make_dataset(
    info: DatasetInfo,
    raw_train: np.ndarray,
    y_train: np.ndarray,
    raw_test: np.ndarray,
    y_test: np.ndarray,
    normalization: str | Normalization = "0-1",
) -> Dataset:
    """Normalise raw uint8 ``(N, C, H, W)`` images into a `Dataset`."""
    if isinstance(normalization, str):
        normalization = Normalization.fit(raw_train, normalization)
    return Dataset(
        info=info,
        X_train=normalization(raw_train),
        y_train=np.ascontiguousarray(y_train, dtype=np.int64),
        X_test=normalization(raw_test),
        y_test=np.ascontiguousarray(y_test, dtype=np.int64),
        raw_train=np.ascontiguousarray(raw_train),
        raw_test=np.ascontiguousarray(raw_test),
        normalization=normalization,
        augment=default_augment(info.kind, normalization),
    )
