"""2-D toy sets: shapes, dtypes, balanced classes, range, determinism; the split helper."""

import numpy as np
import pytest

from netcore.datasets import TOY_SETS, make_toy, train_test_split


@pytest.mark.parametrize("name", list(TOY_SETS))
def test_shapes_classes_and_range(name):
    X, y = make_toy(name, n_points=301, seed=4)
    k = TOY_SETS[name].default_classes
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    assert np.abs(X).max() < 1.5  # inside the playground's square, noise included
    assert np.abs(X).max() > 0.6  # and not squeezed into a corner of it


@pytest.mark.parametrize("name", list(TOY_SETS))
def test_deterministic_by_seed(name):
    a, b, c = (make_toy(name, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", ["spiral", "circles", "blobs"])
def test_number_of_classes(name):
    X, y = make_toy(name, n_points=120, n_classes=5)
    assert set(y.tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("name", ["moons", "xor"])
def test_two_class_sets_ignore_n_classes(name):
    _, y = make_toy(name, n_points=100, n_classes=4)
    assert set(y.tolist()) == {0, 1}


def test_noise_zero_gives_exact_shapes():
    X, y = make_toy("circles", n_points=200, noise=0.0, n_classes=2)
    r = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(r[y == 0], 0.5, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 1.0, atol=1e-6)
    X, y = make_toy("xor", n_points=200, noise=0.0)
    assert np.all((X[:, 0] * X[:, 1] > 0) == (y == 1))


def test_classes_are_shuffled():
    _, y = make_toy("spiral", n_points=300)
    assert len(set(y[:10].tolist())) > 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"name": "banana"}, "unknown toy set"),
        ({"name": "spiral", "noise": -1}, "noise"),
        ({"name": "blobs", "n_classes": 9}, "2 to 6 classes"),
        ({"name": "spiral", "n_points": 4}, "at least 6 points"),
    ],
)
def test_bad_parameters_are_explained(kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_toy(**kwargs)


def test_train_test_split_ratio_and_stratification():
    X, y = make_toy("blobs", n_points=300, n_classes=3)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_ratio=0.2, seed=1)
    assert len(y_te) == 60 and len(y_tr) == 240
    assert np.array_equal(np.bincount(y_te), [20, 20, 20])
    # Disjoint and complete: every point lands in exactly one split.
    rows = {tuple(r) for r in X_tr.tolist()} | {tuple(r) for r in X_te.tolist()}
    assert len(rows) == 300
    again = train_test_split(X, y, test_ratio=0.2, seed=1)
    assert np.array_equal(again[1], X_te)
