"""Convolution and pooling as plain functions: the fast versions and the loop references.

Two kinds of code live here.

* **Fast building blocks** used by the layers: `conv_output_size` (the one place for the
  output-size formula), `pad2d`, `im2col`, `col2im` and `conv_input_grad`. They turn the
  convolution of a whole batch into a single matrix product.
* **Loop references** (`conv2d_naive`, `conv2d_backward_naive`, `maxpool2d_naive`, ...)
  written for a reader: explicit loops over every output position, comments, no tricks.
  They are slow (thousands of times slower), and that is fine: the tests check the fast
  layers against them, and the teaching pages show them.

Shapes: images are ``(N, C, H, W)`` (batch, channels, height, width); a convolution
weight is ``(F, C, kH, kW)`` (filters, input channels, kernel height, kernel width).

The im2col idea
---------------
A convolution slides each filter over the image and takes a dot product at every
position. If we copy every ``C x kH x kW`` patch the filter looks at into one column of a
matrix ``cols`` (the patches of every image of the batch side by side), the whole
convolution becomes one matrix product::

    y = W.reshape(F, C*kH*kW) @ cols        # (F, K) @ (K, Ho*Wo*N) -> (F, Ho*Wo*N)

``y`` holds channel ``f`` of every image in row ``f``: it is channel-major, the memory
layout the fast layers keep between them (see "Memory layout" below).

We build ``cols`` without a Python loop over positions: for each of the ``kH*kW`` kernel
offsets ``(i, j)``, the pixels that offset sees at every output position form a strided
slice of the image, ``x[:, :, i : i + stride*Ho : stride, j : j + stride*Wo : stride]``.
`patch_view` stacks those ``kH*kW`` slices into one strided view of the image (no copy),
and a single copy of that view fills the whole matrix. ``col2im`` is the reverse (adjoint)
operation used by the backward pass: it adds each column back onto the pixels it came
from, with ``kH*kW`` strided additions (pixels covered by several patches receive several
contributions, which is exactly what the chain rule asks for).
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Number of positions a window of width `kernel` takes along one axis.

    ``out = (size + 2*padding - kernel) // stride + 1`` (rows/columns that do not fill a
    whole step at the far edge are dropped, as in PyTorch).

    Parameters
    ----------
    size : int
        Input height or width.
    kernel : int
        Window (kernel) height or width.
    stride : int
        Step between two windows (>= 1).
    padding : int
        Zeros added on each side (>= 0).

    Raises
    ------
    ValueError
        If an argument is out of range or the window does not fit the (padded) input.
    """
    if kernel < 1:
        raise ValueError(f"kernel size must be at least 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be 0 or more, got {padding}")
    padded = size + 2 * padding
    if kernel > padded:
        raise ValueError(
            f"a window of {kernel} does not fit an input of size {size} with padding "
            f"{padding} ({padded} < {kernel}); use more padding or a smaller kernel"
        )
    return (padded - kernel) // stride + 1


# --------------------------------------------------------------------------------------
# Fast building blocks
# --------------------------------------------------------------------------------------
#
# Memory layout. Arrays keep the (N, C, H, W) *shape* everywhere, but the fast layers
# store their images channel-major with the batch innermost: memory holds a (C, H, W, N)
# array (seen through ``.transpose(3, 0, 1, 2)``), so for every channel and pixel the N
# values of the batch sit side by side. Then
#
# * the patches of a whole batch form one (C*kH*kW, Ho*Wo*N) matrix whose rows are
#   copied in long contiguous runs (a whole image row for all N images at once);
# * a convolution is ONE matrix product, whose result is already in this layout, so
#   nothing has to be transposed between layers;
# * pooling and ReLU, which act on each image separately, run their element-wise
#   operations over contiguous runs of N values, which NumPy vectorises well.
#
# Element-wise NumPy operations follow the memory order of their inputs, so ReLU and
# pooling keep the layout without knowing about it.


def channel_major(shape: tuple[int, int, int, int], dtype, zero: bool = False) -> np.ndarray:
    """A new ``(N, C, H, W)`` array stored as ``(C, H, W, N)`` in memory (see above).

    Parameters
    ----------
    shape : (N, C, H, W)
    dtype : NumPy dtype
    zero : bool
        Fill with zeros (otherwise the values are arbitrary).

    Returns
    -------
    (N, C, H, W) array, a transposed view of a C-contiguous ``(C, H, W, N)`` array.
    """
    n, c, h, w = shape
    make = np.zeros if zero else np.empty
    return make((c, h, w, n), dtype).transpose(3, 0, 1, 2)


def is_channel_major(x: np.ndarray) -> bool:
    """True when the (N, C, H, W) array `x` is stored as a contiguous (C, H, W, N) array."""
    return x.transpose(1, 2, 3, 0).flags.c_contiguous


def pad2d(x: np.ndarray, padding: int, out: np.ndarray | None = None) -> np.ndarray:
    """Surround every image with `padding` rows/columns of zeros.

    Parameters
    ----------
    x : (N, C, H, W) array
    padding : int
    out : (N, C, H + 2p, W + 2p) array, optional
        A buffer whose border is already zero (e.g. one kept from a previous call with the
        same shape): only the interior is written, so no time goes into zeroing. With
        padding 0 it receives a plain copy of `x`.

    Returns
    -------
    (N, C, H + 2p, W + 2p) array: `out`, or a new channel-major array, or `x` itself when
    padding is 0 and no `out` is given.
    """
    if padding == 0 and out is None:
        return x
    n, c, h, w = x.shape
    if out is None:
        out = channel_major((n, c, h + 2 * padding, w + 2 * padding), x.dtype, zero=True)
    out[:, :, padding : padding + h, padding : padding + w] = x
    return out


def patch_view(x: np.ndarray, kernel_h: int, kernel_w: int, stride: int = 1) -> np.ndarray:
    """Every patch of `x` as a read-only 6-D view, without copying anything.

    ``view[c, i, j, oh, ow, n] = x[n, c, oh*stride + i, ow*stride + j]``: moving one step
    along ``i`` (``j``) moves one row (column) in `x`, and one step along ``oh`` (``ow``)
    moves ``stride`` rows (columns). So the view just reuses the strides of `x`, the
    row and column ones multiplied by `stride`: NumPy then reads the overlapping patches
    straight from the image. (For each kernel offset ``(i, j)``, ``view[:, i, j]`` is the
    strided slice ``x[:, :, i : i + stride*Ho : stride, j : j + stride*Wo : stride]``
    with the batch axis moved last.)

    Parameters
    ----------
    x : (N, C, H, W) array (any memory layout; channel-major is read fastest)
    kernel_h, kernel_w, stride : int

    Returns
    -------
    (C, kH, kW, Ho, Wo, N) read-only view
    """
    n, c, h, w = x.shape
    ho = conv_output_size(h, kernel_h, stride)
    wo = conv_output_size(w, kernel_w, stride)
    sn, sc, sh, sw = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(c, kernel_h, kernel_w, ho, wo, n),
        strides=(sc, sh, sw, sh * stride, sw * stride, sn),
        writeable=False,
    )


def im2col(
    x: np.ndarray,
    kernel_h: int,
    kernel_w: int,
    stride: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Copy every patch of an (already padded) image batch into the columns of a matrix.

    Parameters
    ----------
    x : (N, C, H, W) array
        Input, already padded (see `pad2d`).
    kernel_h, kernel_w : int
        Kernel size.
    stride : int
    out : (C, kH, kW, Ho, Wo, N) array, optional
        Preallocated buffer to fill (saves allocating a large array every step).

    Returns
    -------
    cols : (C*kH*kW, Ho*Wo*N) array
        ``cols[(c, i, j), (oh, ow, n)] = x[n, c, oh*stride + i, ow*stride + j]``: one
        column per patch, for every image of the batch. The row order ``(c, i, j)``
        matches ``W.reshape(F, C*kH*kW)``, so the convolution of the whole batch is the
        single product ``W.reshape(F, -1) @ cols``, of shape ``(F, Ho*Wo*N)``.
    """
    view = patch_view(x, kernel_h, kernel_w, stride)
    c, kh, kw, ho, wo, n = view.shape
    if out is None:
        out = np.empty(view.shape, dtype=x.dtype)
    out[...] = view  # one copy does it all
    return out.reshape(c * kh * kw, ho * wo * n)


def col2im(
    cols: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel_h: int,
    kernel_w: int,
    stride: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Add every column back onto the pixels of the patch it was copied from.

    The adjoint of `im2col`: if ``cols = im2col(x)`` then for any ``g``,
    ``sum(g * cols) == sum(col2im(g) * x)``. The backward pass of a convolution uses it to
    turn gradients with respect to patches into gradients with respect to pixels.

    Parameters
    ----------
    cols : (C*kH*kW, Ho*Wo*N) array
    input_shape : (N, C, H, W)
        Shape of the (padded) input `im2col` was given.
    kernel_h, kernel_w, stride : int
    out : (N, C, H, W) array, optional
        Buffer to accumulate into; it is zeroed first.

    Returns
    -------
    (N, C, H, W) array (channel-major in memory unless `out` is given)
    """
    n, c, h, w = input_shape
    ho = conv_output_size(h, kernel_h, stride)
    wo = conv_output_size(w, kernel_w, stride)
    cols6 = cols.reshape(c, kernel_h, kernel_w, ho, wo, n)
    if out is None:
        out = channel_major(input_shape, cols.dtype, zero=True)
    else:
        out.fill(0)
    out_cm = out.transpose(1, 2, 3, 0)  # (C, H, W, N), the order of cols6's axes
    h_end, w_end = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for i in range(kernel_h):
        for j in range(kernel_w):
            # A pixel inside several patches gets one contribution from each: "+=".
            out_cm[:, i : i + h_end : stride, j : j + w_end : stride] += cols6[:, i, j]
    return out


def conv_input_grad(
    g: np.ndarray, weight: np.ndarray, input_shape: tuple[int, int, int, int], stride: int = 1
) -> np.ndarray:
    """dL/dx of a convolution: ``col2im(W_mat.T @ g)``, one kernel row at a time.

    The rows of the patch gradient ``W_mat.T @ g`` that belong to kernel offset ``(i, j)``
    are ``W[:, :, i, j].T @ g`` (shape ``(C, Ho*Wo*N)``): the gradient of every pixel that
    offset looked at. col2im adds each offset's rows back at that offset. Here the
    ``kW`` offsets of kernel row ``i`` come from one matrix product, and their rows are
    added back before the next kernel row: the same sums, without ever building the
    whole ``(C*kH*kW, Ho*Wo*N)`` matrix (megabytes; one kernel row's share stays in the
    cache, and the products are still big enough for BLAS to run fast).

    Parameters
    ----------
    g : (F, Ho*Wo*N) array
        Gradient with respect to the convolution's output, as the matrix ``W_mat @ cols``
        produced (channel-major, batch innermost).
    weight : (F, C, kH, kW) array
    input_shape : (N, C, H, W)
        Shape of the padded input.
    stride : int

    Returns
    -------
    (N, C, H, W) array (channel-major in memory), equal to
    ``col2im(W.reshape(F, -1).T @ g, input_shape, kH, kW, stride)``.
    """
    n, c, h, w = input_shape
    f, _, kernel_h, kernel_w = weight.shape
    ho = conv_output_size(h, kernel_h, stride)
    wo = conv_output_size(w, kernel_w, stride)
    dx = channel_major(input_shape, g.dtype, zero=True)
    dx_cm = dx.transpose(1, 2, 3, 0)  # (C, H, W, N)
    w_rows = weight.transpose(2, 3, 1, 0)  # (kH, kW, C, F): w_rows[i, j] = W[:, :, i, j].T
    part = np.empty((kernel_w, c, ho * wo * n), dtype=g.dtype)
    h_end, w_end = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for i in range(kernel_h):
        # part[j] = W[:, :, i, j].T @ g for every j of kernel row i, in one product
        np.matmul(w_rows[i].reshape(kernel_w * c, f), g, out=part.reshape(kernel_w * c, -1))
        for j in range(kernel_w):
            # A pixel seen at several offsets gets one contribution from each: "+=".
            dx_cm[:, i : i + h_end : stride, j : j + w_end : stride] += part[j].reshape(
                c, ho, wo, n
            )
    return dx


# --------------------------------------------------------------------------------------
# Loop references: slow, obvious, and the ground truth for the tests
# --------------------------------------------------------------------------------------


def conv2d_naive(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution (cross-correlation, as in every deep-learning library) with loops.

    Parameters
    ----------
    x : (N, C, H, W) array
    w : (F, C, kH, kW) array
    b : (F,) array or None
    stride, padding : int

    Returns
    -------
    y : (N, F, Ho, Wo) array
        ``y[n, f, oh, ow] = b[f] + sum over c, i, j of
        w[f, c, i, j] * x_padded[n, c, oh*stride + i, ow*stride + j]``.
    """
    n_batch, _, h, w_in = x.shape
    n_filters, _, kh, kw = w.shape
    ho = conv_output_size(h, kh, stride, padding)
    wo = conv_output_size(w_in, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    y = np.zeros((n_batch, n_filters, ho, wo), dtype=np.result_type(x, w))
    for n in range(n_batch):
        for f in range(n_filters):
            for oh in range(ho):
                for ow in range(wo):
                    top, left = oh * stride, ow * stride
                    patch = xp[n, :, top : top + kh, left : left + kw]  # (C, kH, kW)
                    y[n, f, oh, ow] = np.sum(patch * w[f])
            if b is not None:
                y[n, f] += b[f]
    return y


def conv2d_backward_naive(
    x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a convolution, one output position at a time.

    Each output ``y[n, f, oh, ow]`` was a dot product of the filter ``w[f]`` with one
    patch of the input. So its gradient ``dy[n, f, oh, ow]``

    * flows to the filter in proportion to the patch: ``dw[f] += dy * patch``;
    * flows to the patch in proportion to the filter: ``dx_patch += dy * w[f]``;
    * flows to the bias unchanged: ``db[f] += dy``.

    Parameters
    ----------
    x : (N, C, H, W) array
    w : (F, C, kH, kW) array
    dy : (N, F, Ho, Wo) array
        Gradient of the loss with respect to the output.
    stride, padding : int

    Returns
    -------
    dx : (N, C, H, W) array
    dw : (F, C, kH, kW) array
    db : (F,) array
    """
    n_batch, _, h, w_in = x.shape
    n_filters, _, kh, kw = w.shape
    _, _, ho, wo = dy.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp, dtype=np.result_type(x, w, dy))
    dw = np.zeros_like(w, dtype=dxp.dtype)
    db = np.zeros(n_filters, dtype=dxp.dtype)
    for n in range(n_batch):
        for f in range(n_filters):
            for oh in range(ho):
                for ow in range(wo):
                    top, left = oh * stride, ow * stride
                    g = dy[n, f, oh, ow]
                    dw[f] += g * xp[n, :, top : top + kh, left : left + kw]
                    dxp[n, :, top : top + kh, left : left + kw] += g * w[f]
                    db[f] += g
    # The padding zeros are not inputs: drop their gradient.
    dx = dxp[:, :, padding : padding + h, padding : padding + w_in]
    return dx, dw, db


def maxpool2d_naive(
    x: np.ndarray, kernel_size: int, stride: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling with loops; also returns where each maximum was.

    When several values in a window tie for the maximum (common: MNIST has large zero
    backgrounds), the FIRST one in row-major order is the winner, like ``np.argmax``.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int
    stride : int, optional
        Defaults to `kernel_size` (non-overlapping windows).

    Returns
    -------
    y : (N, C, Ho, Wo) array
    argmax : (N, C, Ho, Wo, 2) int array
        Row and column (in `x`) of the winner of every window.
    """
    stride = kernel_size if stride is None else stride
    n_batch, channels, h, w = x.shape
    ho = conv_output_size(h, kernel_size, stride)
    wo = conv_output_size(w, kernel_size, stride)
    y = np.zeros((n_batch, channels, ho, wo), dtype=x.dtype)
    argmax = np.zeros((n_batch, channels, ho, wo, 2), dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(ho):
                for ow in range(wo):
                    top, left = oh * stride, ow * stride
                    window = x[n, c, top : top + kernel_size, left : left + kernel_size]
                    k = int(np.argmax(window))  # first maximum in row-major order
                    i, j = divmod(k, kernel_size)
                    y[n, c, oh, ow] = window[i, j]
                    argmax[n, c, oh, ow] = (top + i, left + j)
    return y, argmax


def maxpool2d_backward_naive(
    dy: np.ndarray, argmax: np.ndarray, input_shape: tuple[int, int, int, int]
) -> np.ndarray:
    """Send each window's gradient to the one input that won the max.

    The other inputs of the window did not influence the output (a tiny change to them
    leaves the max unchanged), so their gradient is 0. Where windows overlap, an input
    that wins several windows receives the sum.

    Parameters
    ----------
    dy : (N, C, Ho, Wo) array
    argmax : (N, C, Ho, Wo, 2) int array
        As returned by `maxpool2d_naive`.
    input_shape : (N, C, H, W)

    Returns
    -------
    dx : (N, C, H, W) array
    """
    dx = np.zeros(input_shape, dtype=dy.dtype)
    n_batch, channels, ho, wo = dy.shape
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(ho):
                for ow in range(wo):
                    i, j = argmax[n, c, oh, ow]
                    dx[n, c, i, j] += dy[n, c, oh, ow]
    return dx


def avgpool2d_naive(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Average pooling with loops.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int
    stride : int, optional
        Defaults to `kernel_size`.

    Returns
    -------
    y : (N, C, Ho, Wo) array
    """
    stride = kernel_size if stride is None else stride
    n_batch, channels, h, w = x.shape
    ho = conv_output_size(h, kernel_size, stride)
    wo = conv_output_size(w, kernel_size, stride)
    y = np.zeros((n_batch, channels, ho, wo), dtype=x.dtype)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(ho):
                for ow in range(wo):
                    top, left = oh * stride, ow * stride
                    window = x[n, c, top : top + kernel_size, left : left + kernel_size]
                    y[n, c, oh, ow] = window.mean()
    return y


def avgpool2d_backward_naive(
    dy: np.ndarray, input_shape: tuple[int, int, int, int], kernel_size: int, stride=None
) -> np.ndarray:
    """Spread each window's gradient evenly over the window (each input weighed 1/k^2).

    Parameters
    ----------
    dy : (N, C, Ho, Wo) array
    input_shape : (N, C, H, W)
    kernel_size : int
    stride : int, optional

    Returns
    -------
    dx : (N, C, H, W) array
    """
    stride = kernel_size if stride is None else stride
    dx = np.zeros(input_shape, dtype=dy.dtype)
    n_batch, channels, ho, wo = dy.shape
    share = 1.0 / (kernel_size * kernel_size)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(ho):
                for ow in range(wo):
                    top, left = oh * stride, ow * stride
                    dx[n, c, top : top + kernel_size, left : left + kernel_size] += (
                        dy[n, c, oh, ow] * share
                    )
    return dx
