"""Activation functions: the non-linear bends between linear layers.

Without them a stack of Dense/Conv layers would collapse into one linear map. Each one
acts on every value separately (except Softmax, which mixes the values of one row), so
its backward pass is the incoming gradient times the local slope: ``dx = dy * f'(x)``.

All of them keep the dtype of their input and have no parameters.
"""

from __future__ import annotations

import math

import numpy as np

from netcore.base import Layer, register


@register
class ReLU(Layer):
    """``y = max(x, 0)``. Slope 1 where ``x > 0``, 0 elsewhere (we take 0 at exactly 0).

    Backward: ``dx = dy`` where the input was positive, 0 where it was clipped.
    """

    def __init__(self):
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.maximum(x, 0)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        # y > 0 exactly where x > 0: the output tells where the slope was 1.
        return dy * (self._y > 0)

    def flops(self, input_shape):
        return math.prod(input_shape)


@register
class LeakyReLU(Layer):
    """``y = x`` for ``x > 0``, ``negative_slope * x`` otherwise.

    A small slope on the negative side keeps a gradient flowing to units whose input is
    negative, so they cannot "die" the way ReLU units sometimes do.

    Parameters
    ----------
    negative_slope : float
    """

    def __init__(self, negative_slope=0.01):
        self.negative_slope = float(negative_slope)
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, x * self.negative_slope)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        return np.where(self._positive, dy, dy * self.negative_slope)

    def flops(self, input_shape):
        return 2 * math.prod(input_shape)

    def config(self):
        return {"negative_slope": self.negative_slope}


@register
class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))``, squashing any value into (0, 1).

    Computed without overflow: with ``e = exp(-|x|)`` (always in (0, 1]),
    ``y = 1 / (1 + e)`` for ``x >= 0`` and ``y = e / (1 + e)`` for ``x < 0``.
    Backward uses the output: ``dy/dx = y * (1 - y)``.
    """

    def __init__(self):
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))
        r = 1 / (1 + e)
        y = np.where(x >= 0, r, e * r)
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        y = self._y
        return dy * y * (1 - y)

    def flops(self, input_shape):
        return 4 * math.prod(input_shape)


@register
class Tanh(Layer):
    """``y = tanh(x)``, squashing into (-1, 1). Backward: ``dy/dx = 1 - y**2``."""

    def __init__(self):
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        y = self._y
        return dy * (1 - y * y)

    def flops(self, input_shape):
        return 4 * math.prod(input_shape)


@register
class Softmax(Layer):
    """Turn each row of scores into probabilities: ``y_k = exp(x_k) / sum_j exp(x_j)``.

    Acts along the last axis. Subtracting the row maximum first changes nothing
    mathematically but keeps ``exp`` from overflowing.

    For training a classifier use `netcore.losses.CrossEntropyLoss` on the raw scores
    instead: it fuses softmax with the loss, which is faster and more accurate.

    Backward: every output depends on every input of its row,
    ``dy_k/dx_j = y_k * (delta_kj - y_j)``, so
    ``dx = y * (dy - sum(dy * y, axis=-1))``.
    """

    def __init__(self):
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        y = self._y
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))

    def flops(self, input_shape):
        return 5 * math.prod(input_shape)
