"""How good is a classifier? Accuracy, confusion matrix, precision and recall.

Everything here takes plain label arrays, so it works for any model (ours or another
library's) and is easy to check by hand on a few labels.
"""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    y_true, y_pred : (N,) int
        True and predicted class indices.

    Returns
    -------
    float in [0, 1] (``nan`` for an empty set: there is nothing to be right about).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Count how often each true class was predicted as each class.

    Parameters
    ----------
    y_true, y_pred : (N,) int
        Class indices in ``[0, n_classes)``.
    n_classes : int

    Returns
    -------
    cm : (n_classes, n_classes) int64
        ``cm[i, j]`` = number of samples of true class ``i`` predicted as class ``j``.
        Rows sum to the class sizes; the diagonal holds the correct predictions.
    """
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds a class outside 0..{n_classes - 1}")
    # One pass: encode the pair (i, j) as the single index i * K + j and count.
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum: ``out[i, j]`` = P(predicted j | true class i).

    Rows of a class with no samples stay all ``nan`` (no fraction can be computed).
    """
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, cm / np.where(totals > 0, totals, 1.0), np.nan)


def precision_recall(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support from a confusion matrix.

    precision[k] = TP / (TP + FP): of the samples called ``k``, the fraction that really are.
    recall[k]    = TP / (TP + FN): of the samples that are ``k``, the fraction found.

    Parameters
    ----------
    cm : (K, K) int
        Rows are true classes, columns predicted classes (see `confusion_matrix`).

    Returns
    -------
    dict of (K,) arrays: ``precision``, ``recall``, ``f1`` (float64, ``nan`` where the
    denominator is 0, e.g. precision of a class that is never predicted) and ``support``
    (int, samples per true class).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)  # TP + FP
    actual = cm.sum(axis=1)  # TP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), np.nan)
        recall = np.where(actual > 0, tp / np.where(actual > 0, actual, 1), np.nan)
        both = precision + recall
        f1 = np.where(both > 0, 2 * precision * recall / np.where(both > 0, both, 1), np.nan)
    f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": actual.astype(np.int64),
    }


def misclassified_by_confidence(probs: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Indices of the wrongly classified samples, the most confident mistakes first.

    Parameters
    ----------
    probs : (N, K) float
        Predicted class probabilities (each row sums to 1).
    y_true : (N,) int

    Returns
    -------
    (M,) int64 indices into the N samples, sorted by the probability given to the wrong
    predicted class, highest first (ties keep the sample order).
    """
    probs = np.asarray(probs)
    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")].astype(np.int64)
