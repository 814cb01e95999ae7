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


class _BatchNorm(Layer):
    """Shared code; subclasses set the axes to average over and the expected input rank."""

    _axes: tuple[int, ...] = (0,)
    _feature_name = "features"

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

    def _stat_shape(self, ndim: int) -> tuple[int, ...]:
        """Shape that broadcasts a per-feature vector against the input: (1, C, 1, 1)."""
        shape = [1] * ndim
        shape[1] = self.num_features
        return tuple(shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.output_shape(x.shape[1:])
        w = self.weight.data
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        axes = self._axes
        shape = self._stat_shape(x.ndim)
        m = x.size // self.num_features  # values per feature
        if self.training:
            if m < 2:
                raise ValueError(
                    f"{type(self).__name__} needs more than one value per feature to train "
                    "(the batch holds a single sample); use a larger batch or eval mode"
                )
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)  # biased: what normalises this batch
            mom = self.momentum
            self.running_mean *= 1 - mom
            self.running_mean += mom * mean.astype(self.running_mean.dtype)
            self.running_var *= 1 - mom
            self.running_var += (mom * m / (m - 1)) * var.astype(self.running_var.dtype)
        else:
            mean = self.running_mean.astype(w.dtype, copy=False)
            var = self.running_var.astype(w.dtype, copy=False)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
        self._cache = (x_hat, inv_std, self.training)
        return x_hat * w.reshape(shape) + self.bias.data.reshape(shape)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        x_hat, inv_std, used_batch_stats = self._cache
        axes = self._axes
        shape = self._stat_shape(dy.ndim)
        self.bias.grad = dy.sum(axis=axes)
        self.weight.grad = (dy * x_hat).sum(axis=axes)
        if not self.needs_input_grad:
            return None
        g = dy * w.reshape(shape)  # gradient reaching x_hat
        if not used_batch_stats:
            return g * inv_std.reshape(shape)
        m = dy.size // self.num_features
        g_sum = g.sum(axis=axes).reshape(shape)
        gx_sum = (g * x_hat).sum(axis=axes).reshape(shape)
        return (inv_std.reshape(shape) / m) * (m * g - g_sum - x_hat * gx_sum)

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

    _axes = (0,)

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

    _axes = (0, 2, 3)

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
