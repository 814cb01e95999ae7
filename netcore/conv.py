"""Conv2D: a 2-D convolution layer computed as one matrix product per batch.

How the forward pass works
--------------------------
Every output value is a dot product of one filter with one patch of the input::

    y[n, f, oh, ow] = b[f] + sum_{c,i,j} W[f, c, i, j] * x[n, c, oh*s + i, ow*s + j]

`netcore.functional.im2col` copies every patch of every image into a column of a matrix
``cols`` of shape ``(K, P*N)``, with ``K = C*kH*kW`` values per patch and ``P = Ho*Wo``
patches per image (columns ordered by position, then image). Then all the dot products
of the batch are one matrix product::

    y = W_mat @ cols        W_mat = W.reshape(F, K):  (F, K) @ (K, P*N) -> (F, P*N)

Row ``f`` of ``y`` is channel ``f`` of every image: ``y`` is the output in channel-major
memory order (``(F, Ho, Wo, N)``), returned as an ``(N, F, Ho, Wo)`` array by a
transposed view (no copy). The next layers keep that memory order, and the next
convolution reads its patches from it (see "Memory layout" in `netcore.functional`).

How the backward pass works
---------------------------
Given ``dy = dL/dy`` of shape ``(N, F, Ho, Wo)``, seen as the matrix ``g`` of shape
``(F, P*N)`` (the same layout as ``y`` above):

* ``dW = g @ cols.T``. In ``y = W_mat @ cols`` the weight ``W[f, k]`` multiplies patch
  value ``cols[k, q]`` to make ``y[f, q]``; so its gradient is the sum over every patch
  ``q`` (every sample and position) of ``g[f, q] * cols[k, q]``: the same product as in a
  Dense layer (``dW = dy.T @ x``), with patches in the role of inputs.
* ``db = g summed over its columns``: the bias is added to every output position of its
  filter, in every image.
* ``dx = col2im(W_mat.T @ g)``. ``W_mat.T @ g`` (shape ``(K, P*N)``) is the gradient with
  respect to every patch value, exactly like ``dx = dy @ W`` in a Dense layer. But a
  pixel appears in several overlapping patches; it influenced the loss through each of
  them, so its gradient is the *sum* of its patch gradients. `col2im` performs that sum
  by adding each column back where it was copied from.

The first layer of a network does not need ``dx`` (nothing comes before it), so when
``needs_input_grad`` is False the matrix product and the col2im are skipped.

Speed notes (each measured; see ``python -m netcore.bench``):

* one big matrix product per pass instead of one per image: BLAS runs it near its peak;
* the channel-major layout, batch innermost, means no transpose anywhere on the way:
  the patches are copied in long contiguous runs, and the output comes out of the
  product ready for the next layer;
* the padded input and the patch matrix live in buffers reused from step to step
  (allocating megabytes every step costs time);
* ``dx`` is computed one kernel row at a time (`netcore.functional.conv_input_grad`):
  the same sums as col2im, without building the big ``(K, P*N)`` matrix;
* batches above `KEEP_PATCHES_UP_TO` images go through a few output rows at a time (see
  `PIECE_VALUES`), so that evaluating a test set does not build a patch matrix of
  hundreds of megabytes; each piece is still one matrix product over all the images;
* everything stays float32 (a float64 upcast would double the time silently).
"""

from __future__ import annotations

import numpy as np

from netcore.base import DTYPE, Layer, Parameter, register
from netcore.functional import (
    conv_input_grad,
    conv_output_size,
    im2col,
    is_channel_major,
    pad2d,
)
from netcore.init import initialize

KEEP_PATCHES_UP_TO = 256
"""Batches up to this size (training batches) are convolved in one piece, and their patch
matrix is kept for the backward pass."""

PIECE_VALUES = 2**21
"""Bigger batches (evaluating a whole test set) are convolved a few output rows at a time
(for all images at once), each piece's patch matrix holding about this many values
(8 MB in float32) instead of hundreds of megabytes for the whole batch; a backward pass
after such a forward rebuilds each piece's patches."""

BUFFER_SHAPES_KEPT = 2
"""Scratch buffers kept per kind: a training batch and the (smaller) last batch of an
epoch, or a piece of a big batch and its remainder, each keep their own."""


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
        """A scratch array kept between calls, one per (name, shape, dtype)."""
        key = (name, shape, np.dtype(dtype))
        buf = self._scratch.get(key)
        if buf is None:
            same_kind = [k for k in self._scratch if k[0] == name]
            if len(same_kind) >= BUFFER_SHAPES_KEPT:
                del self._scratch[same_kind[0]]  # the oldest one
            buf = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
            self._scratch[key] = buf
        return buf

    def _padded(self, x: np.ndarray, keep: bool = True) -> np.ndarray:
        """`x` padded, in a channel-major buffer (`x` itself if that is already it)."""
        n, c, h, w = x.shape
        p = self.padding
        if not p and is_channel_major(x):
            return x
        # The patches are read from a channel-major (padded) copy of x. A kept buffer's
        # zero border is written once; only the interior is refreshed each call.
        shape = (c, h + 2 * p, w + 2 * p, n)
        if keep:
            buf = self._buffer("padded", shape, x.dtype, zero=True)
        else:
            buf = np.zeros(shape, x.dtype)
        return pad2d(x, p, out=buf.transpose(3, 0, 1, 2))

    def _patches(self, x: np.ndarray) -> np.ndarray:
        """im2col of `x` ``(n, C, H, W)``: ``(K, P*n)``.

        In training the buffers are kept and reused from step to step; in evaluation they
        are not (an evaluation batch can be big, and a server holding many models should
        not keep megabytes per layer for it).
        """
        n, c, h, w = x.shape
        k, s = self.kernel_size, self.stride
        ho, wo = self.output_shape(x.shape[1:])[1:]
        shape = (c, k, k, ho, wo, n)
        cols = self._buffer("cols", shape, x.dtype) if self.training else np.empty(shape, x.dtype)
        return im2col(self._padded(x, keep=self.training), k, k, s, out=cols)

    def _row_pieces(self, x_padded: np.ndarray, ho: int):
        """For a big batch: (first output row, last + 1, patches of those rows ``(K, r*Wo*N)``)."""
        n, c, _, w = x_padded.shape
        k, s = self.kernel_size, self.stride
        wo = conv_output_size(w, k, s)
        rows = max(1, PIECE_VALUES // (c * k * k * wo * n))
        for r0 in range(0, ho, rows):
            r1 = min(r0 + rows, ho)
            x_rows = x_padded[:, :, r0 * s : (r1 - 1) * s + k]  # the input rows they see
            yield r0, r1, im2col(x_rows, k, k, s)

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
        y = np.empty((f, ho * wo * n), dtype=w.dtype)  # channel-major output
        if n <= KEEP_PATCHES_UP_TO:
            self._cols = self._patches(x)  # (K, P*N), kept for backward
            np.matmul(w_mat, self._cols, out=y)  # the whole batch at once
        else:
            # A big batch: a few output rows at a time, so the patch matrix stays small.
            # Columns are ordered (row, column, image): the piece of y is a block of
            # whole columns, written in place.
            self._cols = None
            for r0, r1, cols in self._row_pieces(self._padded(x, keep=False), ho):
                np.matmul(w_mat, cols, out=y[:, r0 * wo * n : r1 * wo * n])
        if self.bias is not None:
            y += self.bias.data[:, None]
        return y.reshape(f, ho, wo, n).transpose(3, 0, 1, 2)  # (N, F, Ho, Wo) view

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        n, f, ho, wo = dy.shape
        # g: (F, P*N). No copy when dy is channel-major, as the layers after a conv
        # produce it; otherwise this is the one transpose of the backward pass.
        g = dy.transpose(1, 2, 3, 0).reshape(f, -1)
        if self.bias is not None:
            self.bias.grad = g.sum(axis=1)  # over positions and the batch
        if self._cols is not None:
            # dW = g @ cols.T: (F, P*N) @ (P*N, K), every patch of every image at once
            self.weight.grad = (g @ self._cols.T).reshape(w.shape)
        else:  # a big batch: the same sum, piece by piece, rebuilding the patches
            dw = np.zeros((f, w[0].size), dtype=w.dtype)
            for r0, r1, cols in self._row_pieces(self._padded(self._x, keep=False), ho):
                dw += g[:, r0 * wo * n : r1 * wo * n] @ cols.T
            self.weight.grad = dw.reshape(w.shape)
        return self._input_grad(g, n) if self.needs_input_grad else None

    def _input_grad(self, g: np.ndarray, n: int) -> np.ndarray:
        """dL/dx of `n` images whose output gradient is `g` ``(F, P*n)``: col2im(W^T g)."""
        _, c, h, w = self._x.shape
        p = self.padding
        padded_shape = (n, c, h + 2 * p, w + 2 * p)
        dx = conv_input_grad(g, self.weight.data, padded_shape, self.stride)
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
