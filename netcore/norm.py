"""Batch normalisation: give every feature (or channel) zero mean and unit variance over
the batch, then let the network scale and shift it back as it likes.

In training, each feature is normalised with the mean and variance *of the current
batch*::

    x_hat = (x - mean) / sqrt(var + eps)        y = weight * x_hat + bias

and exponential moving averages of those statistics are kept
(``running = (1 - momentum) * running + momentum * batch``, as in PyTorch; the running
variance uses the unbiased estimate). In evaluation the running statistics are used
instead, so a prediction does not depend on the other images of the batch.

Backward in training
--------------------
The mean and variance depend on every input of the batch, so each input's gradient has
three parts: its direct path through ``x_hat``, its share in the mean, and its share in
the variance. With ``g = dy * weight`` (the gradient reaching ``x_hat``) and ``m`` values
per feature, they add up to::

    dx = (1 / (m * std)) * (m * g - sum(g) - x_hat * sum(g * x_hat))

In evaluation the statistics are constants and ``dx = g / std``.
"""

from __future__ import annotations

import math

import numpy as np

from netcore.base import DTYPE, Layer, Parameter, register
from netcore.functional import is_channel_major


def _by_channel(a: np.ndarray, channels_last_batch: bool, c: int) -> np.ndarray:
    """`a` as an ``(A, C, B)`` array whose per-channel statistics run over axes 0 and 2.

    Usually ``(N, C, H*W)``. For channel-major images (stored ``(C, H, W, N)``, as the
    fast layers pass them on) it is ``(1, C, H*W*N)``: the same values per channel,
    read without a copy.
    """
    if channels_last_batch:
        return a.transpose(1, 2, 3, 0).reshape(1, c, -1)
    return a.reshape(a.shape[0], c, -1)


def _restore(a3: np.ndarray, shape: tuple[int, ...], channels_last_batch: bool) -> np.ndarray:
    """Undo `_by_channel`: an array of `shape`, in the memory layout it came in."""
    if channels_last_batch:
        n, c, h, w = shape
        return a3.reshape(c, h, w, n).transpose(3, 0, 1, 2)
    return a3.reshape(shape)


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of ``a : (N, C, P)`` over axes 0 and 2 -> ``(C,)`` (last axis first: fast)."""
    return a.sum(axis=2).sum(axis=0)


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` per channel for ``(N, C, P)`` arrays, without the product array."""
    return np.einsum("ncp,ncp->c", a, b)


class _BatchNorm(Layer):
    """Shared code; subclasses say which input shapes they accept."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise ValueError(f"{name}: num_features must be a whole number, got {num_features!r}")
        if num_features < 1:
            raise ValueError(f"{name}: num_features must be at least 1, got {num_features}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name}: momentum must be between 0 and 1, got {momentum}")
        if eps <= 0:
            raise ValueError(f"{name}: eps must be positive, got {eps}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(self.num_features, dtype=DTYPE))
        self.bias = Parameter(np.zeros(self.num_features, dtype=DTYPE))
        self.running_mean = np.zeros(self.num_features, dtype=DTYPE)
        self.running_var = np.ones(self.num_features, dtype=DTYPE)
        self._cache: tuple | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.output_shape(x.shape[1:])
        w, b = self.weight.data, self.bias.data
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        # (N, C, P) view: P = H*W positions per channel for images, 1 for flat features.
        # Statistics are per channel, over the batch and the positions (axes 0 and 2).
        cm = x.ndim == 4 and is_channel_major(x)
        x3 = _by_channel(x, cm, self.num_features)
        m = x3.shape[0] * x3.shape[2]  # values per channel
        if self.training:
            if m < 2:
                raise ValueError(
                    f"{type(self).__name__} needs more than one value per feature to train "
                    "(the batch holds a single sample); use a larger batch or eval mode"
                )
            mean = _channel_sum(x3) / m
            centred = x3 - mean[:, None]
            var = _channel_dot(centred, centred) / m  # biased: what normalises this batch
            mom = self.momentum
            self.running_mean *= 1 - mom
            self.running_mean += mom * mean.astype(self.running_mean.dtype)
            self.running_var *= 1 - mom
            self.running_var += (mom * m / (m - 1)) * var.astype(self.running_var.dtype)
        else:
            mean = self.running_mean.astype(w.dtype, copy=False)
            var = self.running_var.astype(w.dtype, copy=False)
            centred = x3 - mean[:, None]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = centred
        x_hat *= inv_std[:, None]  # in place: the centred values are not needed any more
        self._cache = (x_hat, inv_std, self.training, cm)
        y = x_hat * w[:, None]
        y += b[:, None]
        return _restore(y, x.shape, cm)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        x_hat, inv_std, used_batch_stats, cm = self._cache
        dy3 = _by_channel(dy, cm, self.num_features)
        db = _channel_sum(dy3)
        dw = _channel_dot(dy3, x_hat)
        self.bias.grad = db
        self.weight.grad = dw
        if not self.needs_input_grad:
            return None
        if not used_batch_stats:
            return _restore(dy3 * (w * inv_std)[:, None], dy.shape, cm)
        # The formula of the module docstring with g = dy * weight, whose sums are
        # sum(g) = weight * db and sum(g * x_hat) = weight * dw (no new passes needed):
        # dx = weight / (m * std) * (m * dy - db - x_hat * dw)
        m = x_hat.shape[0] * x_hat.shape[2]
        dx = dy3 * m
        dx -= x_hat * dw[:, None]
        dx -= db[:, None]
        dx *= (w * inv_std / m)[:, None]
        return _restore(dx, dy.shape, cm)

    def named_parameters(self):
        return [("weight", self.weight), ("bias", self.bias)]

    def buffers(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def flops(self, input_shape):
        return 4 * math.prod(input_shape)

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}


@register
class BatchNorm1D(_BatchNorm):
    """Batch normalisation of flat features: ``x : (N, num_features)``.

    Parameters
    ----------
    num_features : int
    eps : float
        Added to the variance so that a constant feature does not divide by zero.
    momentum : float
        Weight of the current batch in the running statistics.
    """

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1:
            raise ValueError(
                f"BatchNorm1D expects flat features (num_features,) but gets {input_shape}; "
                "use BatchNorm2D after a Conv2D, or put a Flatten layer before BatchNorm1D"
            )
        if input_shape[0] != self.num_features:
            raise ValueError(
                f"BatchNorm1D expects {self.num_features} features but gets {input_shape[0]}; "
                f"set num_features={input_shape[0]}"
            )
        return input_shape


@register
class BatchNorm2D(_BatchNorm):
    """Batch normalisation of image channels: ``x : (N, num_features, H, W)``.

    Each channel is normalised with statistics over the batch and every pixel position.

    Parameters
    ----------
    num_features : int
        Number of channels.
    eps, momentum : float
        As in `BatchNorm1D`.
    """

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"BatchNorm2D expects an image input (channels, height, width) but gets "
                f"{input_shape}; use BatchNorm1D for flat features"
            )
        if input_shape[0] != self.num_features:
            raise ValueError(
                f"BatchNorm2D expects {self.num_features} channels but gets {input_shape[0]} "
                f"(input shape {input_shape}); set num_features={input_shape[0]}"
            )
        return input_shape


__all__ = ["BatchNorm1D", "BatchNorm2D"]
