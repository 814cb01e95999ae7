"""Initialisers: the spread each one promises, float32, reproducible with a seed."""

import numpy as np
import pytest

from netcore import init


def test_compute_fans_use_pytorch_layouts():
    assert init.compute_fans((128, 784)) == (784, 128)
    assert init.compute_fans((16, 6, 5, 5)) == (150, 400)
    with pytest.raises(ValueError):
        init.compute_fans((10,))


@pytest.mark.parametrize(
    ("name", "shape", "expected_std"),
    [
        ("he_normal", (400, 300), np.sqrt(2 / 300)),
        ("he_uniform", (400, 300), np.sqrt(2 / 300)),
        ("xavier_normal", (400, 300), np.sqrt(2 / 700)),
        ("xavier_uniform", (400, 300), np.sqrt(2 / 700)),
        ("he_normal", (64, 16, 3, 3), np.sqrt(2 / 144)),
        ("xavier_uniform", (64, 16, 3, 3), np.sqrt(2 / (144 + 576))),
    ],
)
def test_spread_matches_the_formula(name, shape, expected_std):
    w = init.initialize(name, shape, np.random.default_rng(0))
    assert w.shape == shape
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.02 * expected_std
    assert w.std() == pytest.approx(expected_std, rel=0.03)


def test_uniform_initialisers_respect_their_bound():
    w = init.he_uniform((200, 50), np.random.default_rng(1))
    assert np.abs(w).max() <= np.sqrt(6 / 50)
    w = init.xavier_uniform((200, 50), np.random.default_rng(1))
    assert np.abs(w).max() <= np.sqrt(6 / 250)


def test_normal_and_zeros():
    w = init.normal((300, 300), np.random.default_rng(2), std=0.5)
    assert w.std() == pytest.approx(0.5, rel=0.02)
    assert not init.zeros((3, 4)).any()


def test_same_seed_same_weights_and_explicit_fans():
    a = init.he_normal((10, 20), np.random.default_rng(3))
    b = init.he_normal((10, 20), np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    c = init.he_normal((10, 20), np.random.default_rng(3), fan_in=2)
    np.testing.assert_allclose(c, a * np.sqrt(20 / 2), rtol=1e-5)


def test_unknown_initialiser_lists_the_choices():
    with pytest.raises(ValueError, match="he_normal"):
        init.initialize("kaiming", (2, 2), np.random.default_rng())
