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

Speed notes: the padded input and the patch matrix are kept in buffers that are reused
while the input shape stays the same (allocating tens of megabytes every step costs
time), and everything stays float32.
"""

from __future__ import annotations

import numpy as np

from netcore.base import DTYPE, Layer, Parameter, register
from netcore.functional import col2im, conv_output_size, im2col, pad2d
from netcore.init import initialize


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
        self._cols: np.ndarray | None = None
        self._padded_shape: tuple[int, int, int, int] | None = None

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

    def forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4:
            self.output_shape(x.shape[1:])  # raises the explanation
        f, ho, wo = self.output_shape(x.shape[1:])
        w = self.weight.data
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        n, c, h, wd = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        if p:
            # Zero border written once; only the interior is refreshed each call.
            padded = self._buffer("padded", (n, c, h + 2 * p, wd + 2 * p), w.dtype, zero=True)
            x = pad2d(x, p, out=padded)
        cols = im2col(x, k, k, s, out=self._buffer("cols", (n, c, k, k, ho, wo), w.dtype))
        self._cols = cols  # (N, K, P), kept for backward
        self._padded_shape = x.shape
        y = np.matmul(w.reshape(f, -1), cols)  # (F, K) @ (N, K, P) -> (N, F, P)
        if self.bias is not None:
            y += self.bias.data[:, None]
        return y.reshape(n, f, ho, wo)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        w = self.weight.data
        if dy.dtype != w.dtype:
            dy = dy.astype(w.dtype)
        n, f = dy.shape[:2]
        dy = dy.reshape(n, f, -1)  # (N, F, P)
        cols = self._cols  # (N, K, P)
        if self.bias is not None:
            self.bias.grad = dy.sum(axis=(0, 2))
        # dW = sum over the batch of dy[n] @ cols[n].T
        self.weight.grad = np.matmul(dy, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
        if not self.needs_input_grad:
            return None
        dcols = np.matmul(w.reshape(f, -1).T, dy)  # (K, F) @ (N, F, P) -> (N, K, P)
        k, p = self.kernel_size, self.padding
        dx = col2im(dcols, self._padded_shape, k, k, self.stride)
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
        # Scratch buffers are a cache: do not copy them along with the layer.
        state = self.__dict__.copy()
        state["_scratch"] = {}
        return state


__all__ = ["Conv2D"]
