"""Pooling layers: shrink feature maps by summarising each small window by one value.

Both layers look at the input through ``k*k`` strided views, one per position ``(i, j)``
inside the window::

    view(i, j) = x[:, :, i : i + s*Ho : s, j : j + s*Wo : s]        # (N, C, Ho, Wo)

``view(i, j)[n, c, oh, ow]`` is the value at offset ``(i, j)`` of window ``(oh, ow)``.
Combining the ``k*k`` views element by element (max or mean) pools every window of the
batch at once, with no Python loop over positions and no copy of the input.
"""

from __future__ import annotations

import numpy as np

from netcore.base import DTYPE, Layer, register
from netcore.functional import conv_output_size


def _window_views(x: np.ndarray, k: int, stride: int, ho: int, wo: int) -> list[np.ndarray]:
    """The ``k*k`` strided views of `x`, in row-major order of the offset ``(i, j)``."""
    h_end, w_end = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    return [
        x[:, :, i : i + h_end : stride, j : j + w_end : stride] for i in range(k) for j in range(k)
    ]


class _Pool2D(Layer):
    """Shared shape logic of the pooling layers."""

    def __init__(self, kernel_size, stride=None):
        name = type(self).__name__
        for arg, value in (("kernel_size", kernel_size), ("stride", stride)):
            if value is None and arg == "stride":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: {arg} must be a whole number >= 1, got {value!r}")
        self.kernel_size = int(kernel_size)
        self.stride = self.kernel_size if stride is None else int(stride)
        self._x_shape: tuple[int, ...] | None = None

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        name = type(self).__name__
        if len(input_shape) != 3:
            raise ValueError(
                f"{name} expects an image input (channels, height, width) but gets "
                f"{input_shape}; pooling cannot follow a Flatten or Dense layer"
            )
        c, h, w = input_shape
        k = self.kernel_size
        if k > h or k > w:
            raise ValueError(
                f"{name}: a {k}x{k} window does not fit a {h}x{w} input; use a smaller "
                "kernel_size or remove a pooling layer before it"
            )
        return (c, conv_output_size(h, k, self.stride), conv_output_size(w, k, self.stride))

    def _check_input(self, x: np.ndarray) -> tuple[np.ndarray, int, int]:
        """Validate `x`; return it as floats and the output height and width."""
        _, ho, wo = self.output_shape(x.shape[1:])
        if x.dtype.kind != "f":
            x = x.astype(DTYPE)
        return x, ho, wo

    def flops(self, input_shape):
        c, ho, wo = self.output_shape(input_shape)
        return c * ho * wo * self.kernel_size**2

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}


@register
class MaxPool2D(_Pool2D):
    """Keep the largest value of each ``k x k`` window.

    Parameters
    ----------
    kernel_size : int
    stride : int, optional
        Defaults to `kernel_size` (windows side by side, no overlap).

    Shapes
    ------
    x : (N, C, H, W) -> y : (N, C, Ho, Wo), ``Ho = (H - k) // stride + 1``.

    Backward
    --------
    Only the winning input of a window affected the output, so the window's gradient goes
    to that input and nowhere else. On a tie (many MNIST windows are all zeros) the FIRST
    maximum in row-major order wins, as with ``np.argmax``: sending the gradient to every
    tied input (an equality mask) would multiply it by the number of ties and be wrong.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, ho, wo = self._check_input(x)
        n, c, h, w = x.shape
        if self.kernel_size == self.stride == 2 and h == 2 * ho and w == 2 * wo:
            # The common 2x2 case, faster: first the max of each pair of rows (two
            # contiguous rows at a time, which NumPy vectorises well), then of each pair
            # of columns of that.
            rows = x.reshape(n * c * ho, 2, w)
            pair_max = np.maximum(rows[:, 0], rows[:, 1])
            y = np.maximum(pair_max[:, 0::2], pair_max[:, 1::2]).reshape(n, c, ho, wo)
        else:
            views = _window_views(x, self.kernel_size, self.stride, ho, wo)
            y = np.maximum(views[0], views[1]) if len(views) > 1 else views[0].copy()
            for view in views[2:]:
                np.maximum(y, view, out=y)
        self._x = x  # backward finds the winners by comparing x with y
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        x, y = self._x, self._y
        k, s = self.kernel_size, self.stride
        _, _, h, w = x.shape
        _, _, ho, wo = dy.shape
        x_views = _window_views(x, k, s, ho, wo)
        # Windows that tile the input exactly write every dx value; otherwise start at 0.
        tiles = s == k and h == k * ho and w == k * wo
        dx = np.empty(x.shape, dy.dtype) if tiles else np.zeros(x.shape, dy.dtype)
        dx_views = _window_views(dx, k, s, ho, wo)
        # Walk the window positions in row-major order; a position gets the gradient if it
        # holds the maximum and no earlier position of its window has claimed it.
        # (Masks multiplied in, rather than np.where, keep this fast: no branches.)
        claimed = np.zeros(y.shape, dtype=bool)
        for t, (x_view, dx_view) in enumerate(zip(x_views, dx_views, strict=True)):
            if t == len(x_views) - 1:
                wins = ~claimed  # the last position wins whatever is left
            else:
                wins = x_view == y
                wins &= ~claimed
                claimed |= wins
            if s < k:  # overlapping windows: an input may win several, so add up
                dx_view += dy * wins
            else:
                np.multiply(dy, wins, out=dx_view)
        return dx


@register
class AvgPool2D(_Pool2D):
    """Average each ``k x k`` window.

    Parameters
    ----------
    kernel_size : int
    stride : int, optional
        Defaults to `kernel_size`.

    Backward
    --------
    Every input of a window counts ``1/k**2`` in its average, so it receives ``1/k**2``
    of the window's gradient (summed over the windows it belongs to).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, ho, wo = self._check_input(x)
        views = _window_views(x, self.kernel_size, self.stride, ho, wo)
        y = views[0].copy()
        for view in views[1:]:
            y += view
        y *= 1.0 / len(views)
        self._x_shape = x.shape
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        dx = np.zeros(self._x_shape, dtype=dy.dtype)
        _, _, ho, wo = dy.shape
        share = dy * (1.0 / self.kernel_size**2)
        for view in _window_views(dx, self.kernel_size, self.stride, ho, wo):
            view += share
        return dx


__all__ = ["AvgPool2D", "MaxPool2D"]
