"""The layers of a network: Dense, Flatten, Dropout here; Conv2D, pooling and BatchNorm in
their own files (`netcore.conv`, `netcore.pool`, `netcore.norm`), re-exported from here so
that ``from netcore.layers import Conv2D`` works.

Every layer follows the same recipe (see `netcore.base.Layer`):

* ``forward(x)`` computes the output and keeps what ``backward`` will need;
* ``backward(dy)`` receives dL/dy, sets each parameter's ``.grad`` to dL/dW and returns
  dL/dx (or None when ``needs_input_grad`` is False). It never changes ``dy``;
* ``output_shape(shape)`` works out the output shape without data and explains, in a
  ``ValueError``, an input the layer cannot take.

Arrays are float32. A layer with weights computes in the dtype of its weights (an input of
another dtype is converted), so a float64 gradient check only needs float64 weights.

Reading order for backprop: `Dense` below first (``dW = dy.T @ x``, ``db = dy.sum(0)``,
``dx = dy @ W``), then `netcore.conv`, whose Conv2D is the same three lines applied to
image patches: ``dW = sum_n dy[n] @ patches[n].T``, ``db = dy`` summed over batch and
positions, ``dx = col2im(W.T @ dy)`` (col2im adds each patch's gradient back onto the
pixels it was cut from, because a pixel shared by several patches influenced the loss
through each of them). The top of ``netcore/conv.py`` explains it step by step, and
``netcore.functional.conv2d_backward_naive`` does the same with plain loops.
"""

from __future__ import annotations

import math

import numpy as np

from netcore.base import DTYPE, Layer, Parameter, register
from netcore.init import initialize


def _check_positive_int(name: str, value, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a whole number of at least 1, got {value!r}")
    return int(value)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng() if rng is None else rng


@register
class Dense(Layer):
    """Fully connected layer: ``y = x @ W.T + b``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn a bias ``b`` (default True).
    init : str
        Weight initialiser (see `netcore.init`); default He-uniform, suited to ReLU. The
        bias starts at zero.
    rng : np.random.Generator, optional

    Shapes
    ------
    x : (N, in_features) -> y : (N, out_features); weight (out_features, in_features).

    Backward
    --------
    Each output is ``y[n, o] = sum_i x[n, i] * W[o, i] + b[o]``, so

    * ``dW = dy.T @ x``: weight ``W[o, i]`` is multiplied by ``x[n, i]`` to make
      ``y[n, o]``; its gradient sums ``dy[n, o] * x[n, i]`` over the batch;
    * ``db = dy.sum(axis=0)``: the bias enters every sample with factor 1;
    * ``dx = dy @ W``: input ``x[n, i]`` feeds every output ``o`` through ``W[o, i]``.
    """

    def __init__(self, in_features, out_features, *, bias=True, init="he_uniform", rng=None):
        self.in_features = _check_positive_int("in_features", in_features, "Dense")
        self.out_features = _check_positive_int("out_features", out_features, "Dense")
        self.init = init
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(initialize(init, shape, _rng(rng)))
        self.bias = Parameter(np.zeros(self.out_features, dtype=DTYPE)) if bias else None
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            self.output_shape(x.shape[1:])  # raises the explanation
        w = self.weight.data
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        self._x = x
        y = x @ w.T  # (N, in) @ (in, out); BLAS reads W transposed, no copy
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        self.weight.grad = dy.T @ self._x
        if self.bias is not None:
            self.bias.grad = dy.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return dy @ w

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1:
            n = math.prod(input_shape)
            raise ValueError(
                f"Dense expects a flat input of {self.in_features} features but gets "
                f"{input_shape} ({n} values); add a Flatten layer before it"
                + ("" if n == self.in_features else f" and set in_features={n}")
            )
        if input_shape[0] != self.in_features:
            raise ValueError(
                f"Dense expects {self.in_features} input features but gets {input_shape[0]}; "
                f"set in_features={input_shape[0]} (the previous layer's output size)"
            )
        return (self.out_features,)

    def named_parameters(self):
        if self.bias is None:
            return [("weight", self.weight)]
        return [("weight", self.weight), ("bias", self.bias)]

    def flops(self, input_shape):
        return 2 * self.in_features * self.out_features + (
            self.out_features if self.bias is not None else 0
        )

    def config(self):
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "init": self.init,
        }


@register
class Flatten(Layer):
    """Reshape ``(N, C, H, W)`` (or any ``(N, ...)``) to ``(N, C*H*W)``; no arithmetic.

    Backward reshapes the gradient back: every value keeps its place. When the input was
    stored channel-major (the output of a conv or pooling layer), the gradient is laid
    out the same way, so that the layers before work on matching memory layouts (a
    mismatch slows every element-wise operation down several times).
    """

    def __init__(self):
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        x = self._x
        if x.flags.c_contiguous:
            return dy.reshape(x.shape)
        dx = np.empty_like(x, dtype=dy.dtype)  # the memory layout of x
        dx[...] = dy.reshape(x.shape)
        return dx

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)


@register
class Dropout(Layer):
    """Inverted dropout: in training, zero each value with probability `p` and scale the
    survivors by ``1 / (1 - p)``; in evaluation, do nothing.

    The scaling keeps the expected value of every output equal to its input, so the next
    layer sees activations of the same size in training and in evaluation and nothing
    needs rescaling at test time.

    Parameters
    ----------
    p : float
        Probability of dropping a value, ``0 <= p < 1``.
    rng : np.random.Generator, optional
        Draws the masks (pass a seeded one for reproducible runs).

    Backward
    --------
    ``y = x * mask`` with a fixed mask, so ``dx = dy * mask``: dropped values pass no
    gradient, kept ones pass it scaled like the forward pass.
    """

    def __init__(self, p=0.5, *, rng=None):
        if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be at least 0 and below 1, got {p!r}")
        self.p = float(p)
        self.rng = _rng(rng)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        keep = 1.0 - self.p
        dtype = np.float64 if x.dtype == np.float64 else DTYPE
        mask = (self.rng.random(x.shape, dtype=dtype) < keep).astype(dtype)
        mask *= 1.0 / keep  # kept values are scaled up, dropped ones stay 0
        self._mask = mask
        return x * mask

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        if self._mask is None:
            return dy
        return dy * self._mask

    def flops(self, input_shape):
        return math.prod(input_shape)

    def config(self):
        return {"p": self.p}


# The other layer families, importable from here too. Importing them also registers
# them in LAYER_TYPES.
from netcore.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from netcore.conv import Conv2D  # noqa: E402
from netcore.norm import BatchNorm1D, BatchNorm2D  # noqa: E402
from netcore.pool import AvgPool2D, MaxPool2D  # noqa: E402

__all__ = [
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
