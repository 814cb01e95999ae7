"""Conv2D: a 2-D convolution layer computed as one matrix product per batch.

How the forward pass works
--------------------------
Every output value is a dot product of one filter with one patch of the input::

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} W[f, c, i, j] * x[n, c, oh*s + i, ow*s + j]

`netcore.functional.im2col` copies every patch into a column of a matrix
``cols[n]`` of shape ``(K, P)``, with ``K = C*kH*kW`` values per patch and ``P = Ho*Wo``
patches. Then all the dot products of sample ``n`` are one matrix product::

    y[n] = W_mat @ cols[n]        W_mat = W.reshape(F, K):  (F, K) @ (K, P) -> (F, P)

and ``np.matmul`` runs it for the whole batch at once. The result is already in
``(N, F, Ho, Wo)`` order: no transpose is needed.

How the backward pass works
---------------------------
Given ``dy = dL/dy`` of shape ``(N, F, Ho, Wo)``, seen as ``(N, F, P)``:

* ``dW = sum_n dy[n] @ cols[n].T``. In ``y[n] = W_mat @ cols[n]`` the weight ``W[f, k]``
  multiplies patch value ``cols[n, k, p]`` to make ``y[n, f, p]``; so its gradient is the
  sum over every sample and position of ``dy[n, f, p] * cols[n, k, p]``: the same product
  as in a Dense layer (``dW = dy.T @ x``), with patches in the role of inputs.
* ``db = dy.sum over (n, oh, ow)``: the bias is added to every output position of its filter.
* ``dx = col2im(W_mat.T @ dy[n])``. ``W_mat.T @ dy[n]`` (shape ``(K, P)``) is the gradient
  with respect to every patch value, exactly like ``dx = dy @ W`` in a Dense layer. But a
  pixel appears in several overlapping patches; it influenced the loss through each of
  them, so its gradient is the *sum* of its patch gradients. `col2im` performs that sum
  by adding each column back where it was copied from.

The first layer of a network does not need ``dx`` (nothing comes before it), so when
``needs_input_grad`` is False the matrix product and the col2im are skipped.

Speed notes (each measured; see ``python -m netcore.bench``):

* the padded input and the patch matrix live in buffers reused from step to step
  (allocating megabytes every step costs time);
* ``dW`` is computed transposed, ``cols[n] @ dy[n].T``, a shape BLAS runs faster;
* for stride 1, the col2im runs on "wide" rows (`netcore.functional.col2im_wide`):
  the same additions as contiguous runs instead of short strided rows;
* batches above `KEEP_PATCHES_UP_TO` images go through in pieces of `CHUNK`, so that
  evaluating a test set does not build a patch matrix of hundreds of megabytes;
* everything stays float32 (a float64 upcast would double the time silently).
"""

from __future__ import annotations

import numpy as np

from netcore.base import DTYPE, Layer, Parameter, register
from netcore.functional import col2im, col2im_wide, conv_output_size, im2col, pad2d
from netcore.init import initialize

KEEP_PATCHES_UP_TO = 256
"""Batches up to this size (training batches) are convolved in one piece, and their patch
matrix is kept for the backward pass."""

CHUNK = 64
"""Bigger batches (evaluating a whole test set) go through in pieces of this many images,
so that the patch matrix stays a few megabytes instead of hundreds; a backward pass after
such a forward rebuilds each piece's patches."""


def _int_arg(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Conv2D: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


@register
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch) over a batch of images.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Square kernel side ``k`` (``k x k`` filters).
    stride : int
        Step between two filter positions.
    padding : int
        Rows/columns of zeros added on each side of the input.
    bias : bool
    init : str
        Weight initialiser (see `netcore.init`); default He-uniform (suited to ReLU).
    rng : np.random.Generator, optional

    Shapes
    ------
    x : (N, in_channels, H, W) -> y : (N, out_channels, Ho, Wo) with
    ``Ho = (H + 2*padding - k) // stride + 1`` (same for W);
    weight (out_channels, in_channels, k, k), bias (out_channels,).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        *,
        bias=True,
        init="he_uniform",
        rng=None,
    ):
        self.in_channels = _int_arg("in_channels", in_channels, 1)
        self.out_channels = _int_arg("out_channels", out_channels, 1)
        self.kernel_size = _int_arg("kernel_size", kernel_size, 1)
        self.stride = _int_arg("stride", stride, 1)
        self.padding = _int_arg("padding", padding, 0)
        self.init = init
        rng = np.random.default_rng() if rng is None else rng
        k = self.kernel_size
        shape = (self.out_channels, self.in_channels, k, k)
        self.weight = Parameter(initialize(init, shape, rng))
        self.bias = Parameter(np.zeros(self.out_channels, dtype=DTYPE)) if bias else None
        self._scratch: dict[str, np.ndarray] = {}
        self._x: np.ndarray | None = None
        self._cols: np.ndarray | None = None

    # -- shapes ------------------------------------------------------------------------
    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"Conv2D expects an image input (channels, height, width) but gets "
                f"{input_shape}; a Conv2D cannot follow a Flatten or Dense layer"
                + (" (reshape flat data into images first)" if len(input_shape) == 1 else "")
            )
        c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(
                f"Conv2D expects {self.in_channels} input channels but gets {c} "
                f"(input shape {input_shape}); set in_channels={c}"
            )
        k, p = self.kernel_size, self.padding
        if k > h + 2 * p or k > w + 2 * p:
            raise ValueError(
                f"Conv2D: a {k}x{k} kernel does not fit a {h}x{w} input (with padding {p}). "
                "Use padding or a smaller kernel."
            )
        ho = conv_output_size(h, k, self.stride, p)
        wo = conv_output_size(w, k, self.stride, p)
        return (self.out_channels, ho, wo)

    # -- forward / backward ------------------------------------------------------------
    def _buffer(self, name: str, shape: tuple[int, ...], dtype, zero: bool = False):
        """A scratch array kept between calls; reallocated only when the shape changes."""
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._scratch[name] = buf
        return buf

    def _patches(self, x: np.ndarray, capacity: int) -> np.ndarray:
        """im2col of `x` (n <= capacity images) in reused buffers: ``(n, K, P)``."""
        n, c, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        if p:
            # The zero border is written once; only the interior is refreshed each call.
            shape = (capacity, c, h + 2 * p, w + 2 * p)
            x = pad2d(x, p, out=self._buffer("padded", shape, x.dtype, zero=True)[:n])
        ho = conv_output_size(h, k, s, p)
        wo = conv_output_size(w, k, s, p)
        cols = self._buffer("cols", (capacity, c, k, k, ho, wo), x.dtype)[:n]
        return im2col(x, k, k, s, out=cols)

    def _pieces(self, n: int) -> list[tuple[int, int]]:
        """Batch ranges: the whole batch, or CHUNK-sized pieces of a big one."""
        if n <= KEEP_PATCHES_UP_TO:
            return [(0, n)]
        return [(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            self.output_shape(x.shape[1:])  # raises the explanation
        f, ho, wo = self.output_shape(x.shape[1:])
        w = self.weight.data
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        w_mat = w.reshape(f, -1)  # (F, K)
        n = x.shape[0]
        self._x = x
        pieces = self._pieces(n)
        if len(pieces) == 1:
            self._cols = self._patches(x, max(n, CHUNK))  # (N, K, P), kept for backward
            y = np.matmul(w_mat, self._cols)  # (F, K) @ (N, K, P) -> (N, F, P)
        else:
            # A big batch: piece by piece, so the patch matrix stays small.
            self._cols = None
            y = np.empty((n, f, ho * wo), dtype=w.dtype)
            for start, stop in pieces:
                np.matmul(w_mat, self._patches(x[start:stop], CHUNK), out=y[start:stop])
        if self.bias is not None:
            y += self.bias.data[:, None]
        return y.reshape(n, f, ho, wo)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        n, f, ho, wo = dy.shape
        dy = dy.reshape(n, f, ho * wo)  # (N, F, P)
        if self.bias is not None:
            self.bias.grad = dy.sum(axis=2).sum(axis=0)  # over positions, then the batch
        dw_t = np.zeros((w[0].size, f), dtype=w.dtype)  # dW transposed, (K, F)
        dx = None
        pieces = self._pieces(n)
        for start, stop in pieces:
            if self._cols is not None:
                cols = self._cols
            else:  # a big batch: rebuild this piece's patches
                cols = self._patches(self._x[start:stop], CHUNK)
            g = dy[start:stop]
            # dW = sum over the batch of dy[n] @ cols[n].T, computed transposed as
            # cols[n] @ dy[n].T (K, F): the same numbers, and a faster shape for BLAS.
            dw_t += np.matmul(cols, g.transpose(0, 2, 1)).sum(axis=0)
            if self.needs_input_grad:
                dx_piece = self._input_grad(g, ho, wo)
                if len(pieces) == 1:
                    dx = dx_piece
                else:
                    if dx is None:
                        dx = np.empty(self._x.shape, dtype=w.dtype)
                    dx[start:stop] = dx_piece
        self.weight.grad = np.ascontiguousarray(dw_t.T).reshape(w.shape)
        return dx

    def _input_grad(self, dy: np.ndarray, ho: int, wo: int) -> np.ndarray:
        """dL/dx of images whose output gradient is `dy` ``(n, F, P)``: col2im(W^T dy)."""
        w = self.weight.data
        n, f = dy.shape[:2]
        _, c, h, wd = self._x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        padded_shape = (n, c, h + 2 * p, wd + 2 * p)
        w_mat_t = w.reshape(f, -1).T  # (K, F)
        if s == 1:
            # Same maths, faster memory access: see functional.col2im_wide.
            width = padded_shape[3]
            shape = (max(n, CHUNK), f, ho, width)
            dy_wide = self._buffer("dy_wide", shape, w.dtype, zero=True)[:n]
            dy_wide[:, :, :, :wo] = dy.reshape(n, f, ho, wo)  # junk columns stay 0
            dcols = np.matmul(w_mat_t, dy_wide.reshape(n, f, -1))  # (n, K, Ho*W)
            dx = col2im_wide(dcols, padded_shape, k, k)
        else:
            dcols = np.matmul(w_mat_t, dy)  # (K, F) @ (n, F, P) -> (n, K, P)
            dx = col2im(dcols, padded_shape, k, k, s)
        if p:
            dx = dx[:, :, p:-p, p:-p]  # the padding zeros are not inputs
        return dx

    # -- bookkeeping -------------------------------------------------------------------
    def named_parameters(self):
        if self.bias is None:
            return [("weight", self.weight)]
        return [("weight", self.weight), ("bias", self.bias)]

    def flops(self, input_shape):
        f, ho, wo = self.output_shape(input_shape)
        per_output = 2 * self.in_channels * self.kernel_size**2 + (
            1 if self.bias is not None else 0
        )
        return per_output * f * ho * wo

    def config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "bias": self.bias is not None,
            "init": self.init,
        }

    def __getstate__(self):
        # Scratch buffers and the patches kept for backward are caches (megabytes): a copy
        # of the layer starts without them and rebuilds them at its first forward pass.
        state = self.__dict__.copy()
        state.update(_scratch={}, _cols=None, _x=None)
        return state


__all__ = ["Conv2D"]
