"""The plain vectorised NumPy version of the same layers, kept as the bench's baseline.

This is the obvious first version a NumPy user would write, not a strawman: no Python
loop over positions, BLAS for every product, but none of the care of the real layers:

* convolution on ``np.pad``-ded input through ``sliding_window_view`` windows and
  ``np.tensordot`` (which copies and transposes the windows internally on every call);
* every layer computes its input gradient, the first one included (through the window
  gradients in ``(C, k, k, N, Ho, Wo)`` order, whose ``k*k`` slices are read row by row:
  the other order, ``(N, Ho, Wo, C, k, k)``, reads every value from a different cache
  line and would make the baseline slower than a first version honestly is);
* max-pool backward with an equality mask over window views (which also sends the
  gradient to every tied maximum: the classic bug the real layer avoids);
* fresh arrays everywhere.

`python -m netcore.bench` times it next to the real layers on the same networks and checks
that both compute the same outputs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netcore.functional import conv_output_size


class PlainConv2D:
    """Convolution via window views and tensordot. weight (F, C, k, k), bias (F,)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, stride: int = 1, padding: int = 0):
        self.weight, self.bias = weight.copy(), bias.copy()
        self.stride, self.padding = stride, padding

    def params(self):
        return [(self.weight, "dw"), (self.bias, "db")]

    def forward(self, x):
        p, s = self.padding, self.stride
        k = self.weight.shape[2]
        self.x_shape = x.shape
        self.xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        # (N, C, Ho, Wo, k, k) view of every window
        self.windows = sliding_window_view(self.xp, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        y = np.tensordot(self.windows, self.weight, axes=([1, 4, 5], [1, 2, 3]))  # (N,Ho,Wo,F)
        return y.transpose(0, 3, 1, 2) + self.bias[None, :, None, None]

    def backward(self, dy):
        p, s = self.padding, self.stride
        k = self.weight.shape[2]
        self.db = dy.sum(axis=(0, 2, 3))
        self.dw = np.tensordot(dy, self.windows, axes=([0, 2, 3], [0, 2, 3]))  # (F, C, k, k)
        dwin = np.tensordot(self.weight, dy, axes=([0], [1]))  # (C, k, k, N, Ho, Wo)
        dxp = np.zeros_like(self.xp)
        ho, wo = dy.shape[2], dy.shape[3]
        for i in range(k):
            for j in range(k):
                dxp[:, :, i : i + s * ho : s, j : j + s * wo : s] += dwin[:, i, j].transpose(
                    1, 0, 2, 3
                )
        h, w = self.x_shape[2], self.x_shape[3]
        return dxp[:, :, p : p + h, p : p + w]


class PlainMaxPool2D:
    """Max-pool with window views; backward by an equality mask (ties all get gradient)."""

    def __init__(self, kernel_size: int, stride: int | None = None):
        self.k = kernel_size
        self.s = kernel_size if stride is None else stride

    def params(self):
        return []

    def forward(self, x):
        k, s = self.k, self.s
        self.x = x
        self.windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        self.y = self.windows.max(axis=(4, 5))
        return self.y

    def backward(self, dy):
        k, s = self.k, self.s
        mask = self.windows == self.y[:, :, :, :, None, None]
        dx = np.zeros_like(self.x)
        ho, wo = dy.shape[2], dy.shape[3]
        for i in range(k):
            for j in range(k):
                dx[:, :, i : i + s * ho : s, j : j + s * wo : s] += mask[:, :, :, :, i, j] * dy
        return dx


class PlainReLU:
    def params(self):
        return []

    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


class PlainFlatten:
    def params(self):
        return []

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self.shape)


class PlainDense:
    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        self.weight, self.bias = weight.copy(), bias.copy()

    def params(self):
        return [(self.weight, "dw"), (self.bias, "db")]

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, dy):
        self.dw = dy.T @ self.x
        self.db = dy.sum(axis=0)
        return dy @ self.weight


class PlainNet:
    """A chain of plain layers with softmax cross-entropy and an SGD step."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def train_step(self, x, labels, lr=0.01):
        logits = self.forward(x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        n = len(labels)
        loss = -np.mean(np.log(p[np.arange(n), labels] + 1e-12))
        d = p
        d[np.arange(n), labels] -= 1
        d /= n
        for layer in reversed(self.layers):
            d = layer.backward(d)
        for layer in self.layers:
            for array, grad_name in layer.params():
                array -= lr * getattr(layer, grad_name)
        return loss


def plain_copy(model) -> PlainNet:
    """The plain twin of a Sequential of Conv2D/MaxPool2D/ReLU/Flatten/Dense, same weights."""
    layers = []
    for layer in model.layers:
        name = type(layer).__name__
        if name == "Conv2D":
            layers.append(
                PlainConv2D(layer.weight.data, layer.bias.data, layer.stride, layer.padding)
            )
        elif name == "MaxPool2D":
            layers.append(PlainMaxPool2D(layer.kernel_size, layer.stride))
        elif name == "ReLU":
            layers.append(PlainReLU())
        elif name == "Flatten":
            layers.append(PlainFlatten())
        elif name == "Dense":
            layers.append(PlainDense(layer.weight.data, layer.bias.data))
        else:
            raise ValueError(f"the plain baseline has no {name}")
    return PlainNet(layers)


__all__ = ["PlainNet", "conv_output_size", "plain_copy"]
