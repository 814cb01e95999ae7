"""The user's own image datasets, kept on this machine so that every page and run can use them.

A dataset made from uploaded images (`build_image_dataset`) lives only in memory. `save_custom`
stores its pixels and labels in the download cache as ``custom/<key>.npz`` and returns a key,
``"custom-<12 hex digits of a content hash>"``, that works everywhere a built-in key does
(`dataset_info`, `load_dataset`, a saved run's configuration). The same images always get the
same key, so uploading a zip twice keeps one copy. Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from netcore.datasets.core import Dataset, DatasetError, DatasetInfo, own_images_info
from netcore.datasets.download import cache_root

PREFIX = "custom-"
_ARRAYS = ("raw_train", "y_train", "raw_test", "y_test")


def is_custom(key: str) -> bool:
    return str(key).startswith(PREFIX)


def _folder(cache_dir: str | Path | None) -> Path:
    return cache_root(cache_dir) / "custom"


def _path(key: str, cache_dir: str | Path | None) -> Path:
    name = str(key)[len(PREFIX) :]
    if not (len(name) == 12 and all(ch in "0123456789abcdef" for ch in name)):
        raise DatasetError(f"{key!r} is not the name of a saved image set.")
    return _folder(cache_dir) / f"{key}.npz"


def _content_key(dataset: Dataset) -> str:
    h = hashlib.sha256()
    for a in (dataset.raw_train, dataset.y_train, dataset.raw_test, dataset.y_test):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update("\n".join(dataset.class_names).encode())
    return PREFIX + h.hexdigest()[:12]


def save_custom(dataset: Dataset, cache_dir: str | Path | None = None) -> str:
    """Store `dataset`'s pixels, labels, class names and title; return its key.

    Raises DatasetError (with what to do) when the cache folder cannot be written.
    """
    key = _content_key(dataset)
    path = _path(key, cache_dir)
    if path.is_file():
        return key
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".custom.", suffix=".npz", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            np.savez_compressed(
                out,
                raw_train=dataset.raw_train,
                y_train=dataset.y_train,
                raw_test=dataset.raw_test,
                y_test=dataset.y_test,
                class_names=np.array(dataset.class_names, dtype=np.str_),
                title=np.array(dataset.info.title, dtype=np.str_),
            )
        os.replace(tmp, path)  # readers never see half a file
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise DatasetError(
            f"Could not keep your images in {path.parent} ({e.strerror or e}). Free some disk "
            "space or set NETCORE_DATA_DIR to a folder you can write to."
        ) from e
    return key


def _read(key: str, cache_dir: str | Path | None, arrays: bool):
    path = _path(key, cache_dir)
    if not path.is_file():
        raise DatasetError(
            f"The image set {key} is no longer on this server; upload its zip again on the "
            "Data page."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            names = tuple(str(s) for s in f["class_names"])
            title = str(f["title"])
            y_train, y_test = f["y_train"], f["y_test"]
            raw = tuple(f[k] for k in _ARRAYS) if arrays else None
            shape = tuple(int(s) for s in f["raw_test"].shape[1:])
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise DatasetError(f"The saved image set {key} is damaged ({e}); upload it again.") from e
    info = own_images_info(
        key, title, names, shape, len(y_train), len(y_test), "uploaded to this server"
    )
    return info, raw


def custom_info(key: str, cache_dir: str | Path | None = None) -> DatasetInfo:
    """The description of saved set `key` (DatasetError when it is missing or damaged)."""
    return _read(key, cache_dir, arrays=False)[0]


def load_custom_raw(key: str, cache_dir: str | Path | None = None):
    """``raw_train, y_train, raw_test, y_test`` of saved set `key` (as `load_raw`)."""
    return _read(key, cache_dir, arrays=True)[1]


def list_custom(cache_dir: str | Path | None = None) -> list[DatasetInfo]:
    """Every saved image set that can still be read, oldest first."""
    folder = _folder(cache_dir)
    if not folder.is_dir():
        return []
    infos = []
    for path in sorted(folder.glob(f"{PREFIX}*.npz"), key=lambda p: p.stat().st_mtime):
        try:
            infos.append(custom_info(path.stem, cache_dir))
        except DatasetError:
            continue  # damaged or foreign file: not offered
    return infos
