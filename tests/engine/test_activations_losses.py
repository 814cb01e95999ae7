"""Activation and loss values against their formulas, including extreme inputs."""

import numpy as np
import pytest

from netcore.layers import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from netcore.losses import CrossEntropyLoss, MSELoss


def test_relu_and_leaky_relu_values():
    x = np.array([[-2.0, -0.0, 0.0, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(ReLU().forward(x), [[0, 0, 0, 3]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.2, 0, 0, 3]], rtol=1e-6)
    relu = ReLU()
    relu.forward(x)
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0, 0, 0, 1]])
    leaky = LeakyReLU(0.1)
    leaky.forward(x)
    np.testing.assert_allclose(leaky.backward(np.ones_like(x)), [[0.1, 0.1, 0.1, 1]], rtol=1e-6)


def test_sigmoid_is_stable_at_extremes():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = Sigmoid().forward(x)
    assert np.all(np.isfinite(y))
    assert y[0] == 0.0 and y[-1] == 1.0 and y[2] == 0.5
    xs = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(Sigmoid().forward(xs), 1 / (1 + np.exp(-xs)), rtol=1e-12)


def test_tanh_values():
    xs = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(Tanh().forward(xs), np.tanh(xs))


def test_softmax_rows_are_probabilities_even_for_huge_scores():
    x = np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = Softmax().forward(x)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
    e = np.exp([-1.0, 0.0, -2.0])
    np.testing.assert_allclose(y[0], e / e.sum(), rtol=1e-6)
    assert y.dtype == np.float32


def test_cross_entropy_value_and_gradient():
    logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0]], dtype=np.float32)
    labels = np.array([0, 2], dtype=np.int64)
    loss = CrossEntropyLoss()
    value = loss.forward(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[[0, 1], labels]))
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(loss.probs, p, rtol=1e-6)
    grad = loss.backward()
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(grad, (p - onehot) / 2, rtol=1e-5, atol=1e-7)
    assert grad.dtype == np.float32


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    loss = CrossEntropyLoss()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert loss.forward(logits, np.array([0])) == pytest.approx(0.0, abs=1e-6)
        assert loss.forward(logits, np.array([2])) == pytest.approx(2e4, rel=1e-6)
    assert np.all(np.isfinite(loss.backward()))


@pytest.mark.parametrize(
    ("logits_shape", "labels", "fragment"),
    [
        ((4,), np.array([0, 1, 2, 3]), "(batch, classes)"),
        ((2, 3), np.array([0, 1, 2]), "one label per sample"),
        ((2, 3), np.eye(3)[[0, 1]], "one label per sample"),
        ((2, 3), np.array([0.0, 1.0]), "integer"),
        ((2, 3), np.array([0, 3]), "0..2"),
        ((2, 3), np.array([-1, 0]), "0..2"),
    ],
)
def test_cross_entropy_rejects_bad_input_clearly(logits_shape, labels, fragment):
    with pytest.raises(ValueError) as info:
        CrossEntropyLoss().forward(np.zeros(logits_shape, dtype=np.float32), labels)
    assert fragment in str(info.value)


def test_mse_value_gradient_and_shape_check():
    pred = np.array([[1.0, 2.0], [3.0, 5.0]], dtype=np.float32)
    target = np.array([[1.0, 0.0], [2.0, 5.0]], dtype=np.float32)
    loss = MSELoss()
    assert loss.forward(pred, target) == pytest.approx((0 + 4 + 1 + 0) / 4)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / 4)
    assert loss.backward().dtype == np.float32
    with pytest.raises(ValueError, match=r"reshape the targets to \(N, 1\)"):
        loss.forward(np.zeros((3, 1)), np.zeros(3))
