"""Train/test splits that keep every class in the same proportion (stratified)."""

from __future__ import annotations

import numpy as np


def stratified_split(
    y: np.ndarray, test_ratio: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices so each class gives ``round(n_c * test_ratio)`` to the test set.

    Parameters
    ----------
    y : np.ndarray, int (N,)
        Class of every sample.
    test_ratio : float
        Fraction of each class that goes to the test set, in ``[0, 1)``.
    rng : np.random.Generator
        Decides which samples go where; a fixed seed gives the same split every time.

    Returns
    -------
    train_idx, test_idx : np.ndarray, int64
        Disjoint indices covering ``range(N)``, each in random order (classes mixed).
    """
    if not 0.0 <= test_ratio < 1.0:
        raise ValueError(f"test_ratio must be in [0, 1), got {test_ratio}")
    y = np.asarray(y)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(len(idx) * test_ratio))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    # Shuffle across classes so that the first images of a split are not all zeros.
    train_idx = rng.permutation(np.concatenate(train)).astype(np.int64)
    test_idx = rng.permutation(np.concatenate(test)).astype(np.int64)
    return train_idx, test_idx


def stratified_subset(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of about `size` samples with the class proportions of `y`, in random order."""
    if size >= len(y):
        return rng.permutation(len(y)).astype(np.int64)
    _, keep = stratified_split(y, size / len(y), rng)
    return keep


def train_test_split(X: np.ndarray, y: np.ndarray, test_ratio: float = 0.2, seed: int = 0):
    """Stratified split of any arrays with samples on axis 0.

    Returns
    -------
    X_train, X_test, y_train, y_test
        In this order (the order scikit-learn uses).
    """
    train_idx, test_idx = stratified_split(y, test_ratio, np.random.default_rng(seed))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]
