"""Cached access to the datasets for the app.

* Image datasets are big (CIFAR-10 as float32 is 600 MB), so they are loaded once per server
  with ``st.cache_resource`` and shared by every session. Their arrays are made read-only, so no
  session can change what another one sees (copy before editing).
* Toy sets are small: ``st.cache_data`` (each caller gets its own copy).
* A download runs in the script run that asked for it, with an ``st.progress`` bar; any failure
  is shown with ``st.error`` and the page falls back to the bundled MNIST subset.

All arguments of the cached functions are plain hashable values (str, int, float, None).
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from netcore.datasets import (
    DEFAULT_DATASET,
    Dataset,
    DatasetError,
    DatasetInfo,
    dataset_info,
    list_datasets,
    load_dataset,
    load_raw,
    make_toy,
    save_custom,
    train_test_split,
)


def dataset_catalog() -> list[DatasetInfo]:
    """Every image dataset with ``available`` up to date (not cached: it checks the disk)."""
    return list_datasets()


@st.cache_resource(show_spinner="Loading the dataset ...", max_entries=6)
def _shared_dataset(
    key: str, normalization: str, train_size: int | None, test_size: int | None
) -> Dataset:
    return load_dataset(
        key, normalization=normalization, train_size=train_size, test_size=test_size
    ).read_only()


def cached_dataset(
    key: str = DEFAULT_DATASET,
    normalization: str = "0-1",
    train_size: int | None = None,
    test_size: int | None = None,
) -> Dataset:
    """A dataset already on this machine (bundled or downloaded), shared read-only.

    Raises DatasetError when it would need a download; use `get_dataset` in pages.
    """
    if not dataset_info(key).available:
        raise DatasetError(
            f"{dataset_info(key).title} is not downloaded yet; download it on the Data page."
        )
    return _shared_dataset(key, normalization, train_size, test_size)


def get_dataset(
    key: str = DEFAULT_DATASET,
    normalization: str = "0-1",
    train_size: int | None = None,
    test_size: int | None = None,
) -> Dataset:
    """The dataset for a page: downloads it first if needed (with a progress bar).

    Never raises for a data problem: it shows the message with ``st.error`` and returns the
    bundled MNIST subset instead, so the page keeps working.
    """
    try:
        if not dataset_info(key).available and not download_with_progress(key):
            return _shared_dataset(DEFAULT_DATASET, normalization, None, None)
        return _shared_dataset(key, normalization, train_size, test_size)
    except DatasetError as e:
        st.error(f"{e} Showing the bundled MNIST subset instead.")
        return _shared_dataset(DEFAULT_DATASET, normalization, None, None)


def download_with_progress(key: str) -> bool:
    """Download (and parse once) dataset `key`, showing a progress bar. True on success.

    On failure the bar disappears and ``st.error`` says what happened and what to do; nothing
    half-downloaded stays in the cache.
    """
    info = dataset_info(key)
    if info.available:
        return True
    bar = st.progress(0.0, text=f"Downloading {info.title} ...")
    progress = _throttled(bar)
    try:
        load_raw(key, progress=progress)
    except DatasetError as e:
        bar.empty()
        st.error(f"{e} Showing the bundled MNIST subset instead.")
        return False
    bar.empty()
    return True


def _throttled(bar, interval: float = 0.2):
    """A progress callback that redraws the bar at most every `interval` seconds.

    A 170 MB download arrives in thousands of chunks; one browser message per chunk would
    flood the connection.
    """
    last = [0.0]

    def progress(done: int, total: int | None, filename: str) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - last[0] < interval and not finished:
            return
        last[0] = now
        if total:
            text = f"Downloading {filename}: {done / 1e6:.1f} of {total / 1e6:.1f} MB"
            bar.progress(min(done / total, 1.0), text=text)
        else:
            bar.progress(0.0, text=f"Downloading {filename}: {done / 1e6:.1f} MB")

    return progress


@st.cache_data(show_spinner=False, max_entries=64)
def toy_dataset(
    name: str, n_points: int = 300, noise: float | None = None, seed: int = 0, n_classes=None
) -> tuple[np.ndarray, np.ndarray]:
    """``make_toy`` cached: X float32 ``(N, 2)``, y int64 ``(N,)``."""
    return make_toy(name, n_points=n_points, noise=noise, seed=seed, n_classes=n_classes)


@st.cache_data(show_spinner=False, max_entries=64)
def toy_split(
    name: str,
    n_points: int = 300,
    noise: float | None = None,
    seed: int = 0,
    n_classes=None,
    test_ratio: float = 0.2,
):
    """A toy set split into ``X_train, X_test, y_train, y_test`` (stratified)."""
    X, y = make_toy(name, n_points=n_points, noise=noise, seed=seed, n_classes=n_classes)
    return train_test_split(X, y, test_ratio=test_ratio, seed=seed)


@st.cache_data(show_spinner=False, max_entries=32)
def sample_grid(
    key: str = DEFAULT_DATASET, per_class: int = 8, split: str = "train", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Images for the Data page's grid: ``per_class`` random images of each class.

    Returns
    -------
    pixels : uint8 (n_classes * per_class, C, H, W), grouped by class
    labels : int64 (n_classes * per_class,)
    """
    ds = cached_dataset(key)
    idx = ds.samples_per_class(per_class, split=split, seed=seed)
    raw, y = (ds.raw_train, ds.y_train) if split == "train" else (ds.raw_test, ds.y_test)
    return raw[idx], y[idx]


def save_uploaded_zip(
    data: bytes, zip_name: str, input_shape: tuple[int, int, int]
) -> tuple[str, list[str]]:
    """A .zip of class folders -> (key of the saved dataset, one sentence per skipped file).

    The images are resized to `input_shape` and kept on this server (see
    ``netcore.datasets.custom``), so every page, every run and a reload can use the key.
    Raises DatasetError with a message that names the problem (not a zip, too few images ...).
    """
    from ui.images import load_zip_dataset

    ds, problems = load_zip_dataset(data, zip_name, input_shape)
    return save_custom(ds), problems
