"""The offline default: 5,000 MNIST digits shipped inside the project.

``netcore/data/mnist_5k.npz`` holds ``images`` (uint8, 5000 x 28 x 28, sorted by label, 500 per
digit) and ``labels`` (int64). It was made once by ``tools/make_mnist_subset.py``. The split into
4,000 training and 1,000 test images is made here: stratified (exactly 400 + 100 of every digit)
with a fixed seed, so everybody gets the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from netcore.datasets.split import stratified_split

BUNDLED_FILE = Path(__file__).resolve().parent.parent / "data" / "mnist_5k.npz"
SPLIT_SEED = 0
TEST_RATIO = 0.2


def load_mnist_5k_raw(
    seed: int = SPLIT_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read the bundled subset and split it.

    Returns
    -------
    raw_train : uint8 (4000, 1, 28, 28)
    y_train : int64 (4000,)
    raw_test : uint8 (1000, 1, 28, 28)
    y_test : int64 (1000,)
    """
    with np.load(BUNDLED_FILE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"].astype(np.int64)
    images = images.reshape(-1, 1, 28, 28)
    train_idx, test_idx = stratified_split(labels, TEST_RATIO, np.random.default_rng(seed))
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]
