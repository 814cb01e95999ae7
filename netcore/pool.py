"""Pooling layers: shrink feature maps by summarising each small window by one value.

Both layers look at the input through ``k*k`` strided views, one per position ``(i, j)``
inside the window::

    view(i, j) = x[:, :, i : i + s*Ho : s, j : j + s*Wo : s]        # (N, C, Ho, Wo)

``view(i, j)[n, c, oh, ow]`` is the value at offset ``(i, j)`` of window ``(oh, ow)``.
Combining the ``k*k`` views element by element (max or mean) pools every window of the
batch at once, with no Python loop over positions and no copy of the input. The results
keep the memory layout of the input (channel-major after a `Conv2D`), so the next
convolution reads them without a transpose.
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
        self._x: np.ndarray | None = None

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
        _, _, h, w = x.shape
        if self.kernel_size == self.stride == 2 and h == 2 * ho and w == 2 * wo:
            # The common case, faster; the winners are only worth finding for training
            # (after an evaluation forward, backward finds them the general way below).
            y, self._winners = _max_2x2(x, find_winners=self.training)
        else:
            views = _window_views(x, self.kernel_size, self.stride, ho, wo)
            y = views[0].copy(order="K")  # "K": keep the memory layout of x
            for view in views[1:]:
                np.maximum(y, view, out=y)
            self._winners = None  # backward finds them by comparing x with y
        self._x = x
        self._y = y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        x, y = self._x, self._y
        k, s = self.kernel_size, self.stride
        _, _, h, w = x.shape
        _, _, ho, wo = dy.shape
        # Windows that tile the input exactly write every dx value; otherwise start at 0.
        tiles = s == k and h == k * ho and w == k * wo
        dx = np.empty_like(x, dtype=dy.dtype) if tiles else np.zeros_like(x, dtype=dy.dtype)
        dx_views = _window_views(dx, k, s, ho, wo)
        if self._winners is not None:  # 2x2: the winners were found in forward
            for wins, dx_view in zip(self._winners, dx_views, strict=True):
                np.multiply(dy, wins, out=dx_view)
            return dx
        # Walk the window positions in row-major order; a position gets the gradient if it
        # holds the maximum and no earlier position of its window has claimed it.
        # (Masks multiplied in, rather than np.where, keep this fast: no branches.)
        x_views = _window_views(x, k, s, ho, wo)
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


def _max_2x2(x: np.ndarray, find_winners: bool = True):
    """2x2 max-pool, stride 2, and where each window's first maximum is.

    Parameters
    ----------
    x : (N, C, 2*Ho, 2*Wo) array
    find_winners : bool
        Also return the winners (otherwise None).

    Returns
    -------
    y : (N, C, Ho, Wo) array, in the memory layout of `x`
    winners : four (N, C, Ho, Wo) bool arrays, one per window position in row-major
        order (top-left, top-right, bottom-left, bottom-right): True where that position
        is the first maximum of its window. Exactly one is True per window.
    """
    ho, wo = x.shape[2] // 2, x.shape[3] // 2
    a, b, c, d = _window_views(x, 2, 2, ho, wo)  # a b
    top = np.maximum(a, b)  #                       c d
    bottom = np.maximum(c, d)
    y = np.maximum(top, bottom)
    if not find_winners:
        return y, None
    # On a tie the earlier position wins, so a later one wins only if strictly greater.
    b_beats_a = b > a
    d_beats_c = d > c
    bottom_wins = bottom > top
    top_wins = ~bottom_wins
    winners = (
        top_wins & ~b_beats_a,
        top_wins & b_beats_a,
        bottom_wins & ~d_beats_c,
        bottom_wins & d_beats_c,
    )
    return y, winners


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
        y = views[0].copy(order="K")  # "K": keep the memory layout of x
        for view in views[1:]:
            y += view
        y *= 1.0 / len(views)
        self._x = x
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.needs_input_grad:
            return None
        dx = np.zeros_like(self._x, dtype=dy.dtype)
        _, _, ho, wo = dy.shape
        share = dy * (1.0 / self.kernel_size**2)
        for view in _window_views(dx, self.kernel_size, self.stride, ho, wo):
            view += share
        return dx


__all__ = ["AvgPool2D", "MaxPool2D"]
