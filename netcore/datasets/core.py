"""The objects every data source returns: `DatasetInfo`, `Dataset`, `DatasetError`.

A `Dataset` holds two versions of the same images:

* ``raw_train`` / ``raw_test``: ``uint8`` pixels 0-255, shape ``(N, C, H, W)``, for display;
* ``X_train`` / ``X_test``: ``float32`` ``(N, C, H, W)`` after `Normalization`, what the network
  sees.

Keeping the normalisation next to the data means an image the user draws or uploads can be
normalised exactly the way the training images were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netcore.datasets.transforms import Augment, Normalization

ProgressCallback = Callable[[int, "int | None", str], None]
"""``progress(bytes_done, bytes_total, filename)``; ``bytes_total`` is None when unknown."""


class DatasetError(Exception):
    """A data problem explained in one human sentence: what happened and what to do.

    The app shows ``str(error)`` as it is, so every message names the file or dataset and
    says how to fix it (never a bare errno or a traceback).
    """


@dataclass(frozen=True)
class DatasetInfo:
    """Description of one image dataset (bundled, downloadable or made from uploads).

    Attributes
    ----------
    key : str
        Short identifier used in code and URLs, e.g. ``"mnist_5k"``.
    title : str
        Name shown to people, e.g. ``"MNIST (5,000-image subset)"``.
    description : str
        One paragraph: what the images are and who made them.
    class_names : tuple of str
        Name of each class; label ``i`` means ``class_names[i]``.
    input_shape : tuple of int
        One image as the network sees it, ``(C, H, W)``.
    n_train, n_test : int
        Number of training and test images.
    source_url : str
        Where the data comes from.
    licence : str
        Licence or terms of use, with the authors to credit.
    kind : str
        ``"digits"``, ``"clothing"``, ``"photos"`` or ``"custom"``: decides the default
        augmentation (photos may be flipped, digits never) and whether a light-background
        upload is inverted to match the dark-background training images.
    bundled : bool
        Ships with the project (works offline).
    available : bool
        Usable right now without a download (bundled, or already in the cache).
    download_bytes : int
        Approximate download size (0 for bundled sets).
    """

    key: str
    title: str
    description: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]
    n_train: int
    n_test: int
    source_url: str
    licence: str
    kind: str = "digits"
    bundled: bool = False
    available: bool = False
    download_bytes: int = 0

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def dark_background(self) -> bool:
        """True when the images are light strokes on black (MNIST style)."""
        return self.kind in ("digits", "clothing")


def own_images_info(
    key: str,
    title: str,
    class_names,
    input_shape: tuple[int, int, int],
    n_train: int,
    n_test: int,
    source_url: str = "",
) -> DatasetInfo:
    """The description of a dataset made of the user's own images."""
    return DatasetInfo(
        key=key,
        title=title,
        description=f"{n_train + n_test} of your own images in {len(class_names)} classes.",
        class_names=tuple(class_names),
        input_shape=tuple(input_shape),
        n_train=n_train,
        n_test=n_test,
        source_url=source_url,
        licence="Your images.",
        kind="custom",
        available=True,
    )


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test images, ready for a network.

    Attributes
    ----------
    info : DatasetInfo
    X_train : np.ndarray, float32 (N_train, C, H, W)
        Normalised training images.
    y_train : np.ndarray, int64 (N_train,)
    X_test : np.ndarray, float32 (N_test, C, H, W)
    y_test : np.ndarray, int64 (N_test,)
    raw_train : np.ndarray, uint8 (N_train, C, H, W)
        The same training images as pixels 0-255 (for display).
    raw_test : np.ndarray, uint8 (N_test, C, H, W)
    normalization : Normalization
        What turned ``raw`` into ``X``; apply it to any new image before predicting.
    augment : Augment or None
        Suggested training-time augmentation, ``augment(xb, rng) -> xb``.
    """

    info: DatasetInfo
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    raw_train: np.ndarray
    raw_test: np.ndarray
    normalization: Normalization
    augment: Augment | None = field(default=None)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.info.class_names

    @property
    def n_classes(self) -> int:
        return self.info.n_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.X_train.shape[1:])

    def arrays(self) -> tuple[np.ndarray, ...]:
        """All six arrays, in the order X_train, y_train, X_test, y_test, raw_train, raw_test."""
        return (self.X_train, self.y_train, self.X_test, self.y_test, self.raw_train, self.raw_test)

    def read_only(self) -> Dataset:
        """Make every array read-only (for a copy shared by many app sessions); returns self."""
        for a in self.arrays():
            a.flags.writeable = False
        return self

    def display_image(self, index: int, split: str = "train") -> np.ndarray:
        """One image as pixels for plotting: uint8 ``(H, W)`` for grey, ``(H, W, 3)`` for colour."""
        raw = self.raw_train if split == "train" else self.raw_test
        return to_display(raw[index])

    def samples_per_class(self, n: int, split: str = "train", seed: int = 0) -> np.ndarray:
        """Indices of up to `n` random images of each class, grouped by class.

        Returns
        -------
        np.ndarray, int64 (n_classes * n,) or fewer when a class has fewer images.
        """
        y = self.y_train if split == "train" else self.y_test
        rng = np.random.default_rng(seed)
        picks = []
        for c in range(self.n_classes):
            idx = np.flatnonzero(y == c)
            picks.append(rng.permutation(idx)[:n])
        return np.concatenate(picks).astype(np.int64)


def to_display(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` uint8 -> ``(H, W)`` for one channel, ``(H, W, C)`` otherwise."""
    if image.shape[0] == 1:
        return image[0]
    return np.moveaxis(image, 0, -1)
