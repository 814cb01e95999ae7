"""Data for NetCore Lab: image datasets, 2-D toy sets and the user's own images.

Image datasets (``Dataset``: ``X_*`` float32 ``(N, C, H, W)``, ``y_*`` int64)::

    from netcore.datasets import list_datasets, load_dataset
    ds = load_dataset("mnist_5k")          # bundled, offline: 4,000 train / 1,000 test
    ds = load_dataset("cifar10", normalization="standardise", progress=print)  # downloads once

2-D toy sets for the MLP playground (``X`` float32 ``(N, 2)`` in about ``[-1, 1]``)::

    from netcore.datasets import make_toy, train_test_split
    X, y = make_toy("spiral", n_points=300, noise=0.1, seed=0, n_classes=3)

User images (already decoded to a uint8 array by the app)::

    from netcore.datasets import prepare_image
    x = prepare_image(pixels, ds.info, ds.normalization).x   # (1, C, H, W), ready to predict

Modules: ``core`` (the dataclasses), ``catalog`` (which sets exist, ``load_dataset``),
``bundled`` (the offline subset), ``download`` (cache, checksums), ``readers`` (IDX, CIFAR),
``transforms`` (normalisation, augmentation), ``split``, ``toy``, ``images`` (resize and
prepare one image), ``uploads`` (a zip or folder of class folders as a dataset).
"""

from netcore.datasets.catalog import (
    SOURCES,
    dataset_info,
    list_datasets,
    load_dataset,
    load_raw,
    make_dataset,
)
from netcore.datasets.core import Dataset, DatasetError, DatasetInfo, to_display
from netcore.datasets.custom import save_custom
from netcore.datasets.download import cache_root
from netcore.datasets.images import PreparedImage, prepare_image, resize
from netcore.datasets.split import stratified_split, train_test_split
from netcore.datasets.toy import TOY_SETS, make_toy
from netcore.datasets.transforms import (
    Augment,
    Normalization,
    default_augment,
    random_flip,
    random_shift,
)
from netcore.datasets.uploads import UploadLimits, build_image_dataset, read_folder, read_zip

DEFAULT_DATASET = "mnist_5k"
"""The bundled set: works offline, loads in milliseconds."""

__all__ = [
    "DEFAULT_DATASET",
    "SOURCES",
    "TOY_SETS",
    "Augment",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "Normalization",
    "PreparedImage",
    "UploadLimits",
    "build_image_dataset",
    "cache_root",
    "dataset_info",
    "default_augment",
    "list_datasets",
    "load_dataset",
    "load_raw",
    "make_dataset",
    "make_toy",
    "prepare_image",
    "save_custom",
    "random_flip",
    "random_shift",
    "read_folder",
    "read_zip",
    "resize",
    "stratified_split",
    "to_display",
    "train_test_split",
]
