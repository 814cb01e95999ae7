"""One conv layer, one ReLU, one max-pool and one dense layer, cell by cell.

The "Convolution explained" page shows every multiply and every add of a tiny network on a
real input. This module computes those numbers as plain records, one output cell (or one
gradient cell) at a time, so that the page only has to draw them.

The records are deliberately the slowest possible loops: each value is the written-out sum
from the formula. `check_against_netcore` then recomputes everything with netcore's own loop
references (`netcore.functional`) and its fast layers (`netcore.layers`) and reports the
largest difference, so a student can see that the fast code computes the same thing.

Single channel everywhere: the input ``x`` is ``(H, W)``, the kernel ``weight`` is
``(kH, kW)``. (A real Conv2D sums this over input channels and repeats it per output channel;
one channel is enough to see the idea.)

The chain explained is::

    x --conv(weight, bias)--> z --ReLU--> a --maxpool(k)--> p,   loss gradient dL/dp given

and backwards::

    dL/dp --pool backward--> dL/da --ReLU backward--> dL/dz --conv backward--> dL/dW, dL/db, dL/dx
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from netcore.base import DTYPE

KERNEL_PRESETS: dict[str, list[list[float]]] = {
    # Responds where brightness changes from left to right (a vertical edge).
    "vertical edge": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    # Responds where brightness changes from top to bottom (a horizontal edge).
    "horizontal edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    # Average of the 3x3 neighbourhood: smooths the image.
    "blur": [[1 / 9] * 3, [1 / 9] * 3, [1 / 9] * 3],
    # The centre minus its neighbours, plus itself: makes edges crisper.
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    # Copies the input: the output equals the input (a sanity check).
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}


# ----------------------------------------------------------------------------------------
# Inputs: a digit made small enough to read, or a grid typed in
# ----------------------------------------------------------------------------------------
def _area_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights of area resampling: each output bin averages what it covers."""
    edges_in = np.arange(n_in + 1) / n_in
    edges_out = np.arange(n_out + 1) / n_out
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    overlap = np.clip(hi - lo, 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def digit_crop(image: np.ndarray, size: int = 10, decimals: int | None = 1) -> np.ndarray:
    """A 28x28 digit shrunk to ``size`` x ``size`` so every pixel's number can be read.

    The centre 20x20 box (where MNIST puts the digit) is averaged down by area, scaled to
    [0, 1], and rounded to `decimals` (None keeps full precision): short numbers make the
    multiply-and-add on screen easy to follow.

    Parameters
    ----------
    image : (28, 28) or (1, 28, 28) grey image, 0-255 (uint8) or 0-1 (float)
    size : output side, 4 to 20

    Returns
    -------
    (size, size) float32 in [0, 1]
    """
    img = np.asarray(image, dtype=np.float64).reshape(np.shape(image)[-2:])
    if img.max() > 1.0:
        img = img / 255.0
    if not 4 <= size <= 20:
        raise ValueError(f"choose a size between 4 and 20 pixels, got {size}")
    h, w = img.shape
    top, left = max((h - 20) // 2, 0), max((w - 20) // 2, 0)
    box = img[top : top + min(20, h), left : left + min(20, w)]
    small = _area_matrix(size, box.shape[0]) @ box @ _area_matrix(size, box.shape[1]).T
    peak = small.max()
    if peak > 0:
        small = small / peak  # the stroke's centre becomes 1.0 whatever the size
    if decimals is not None:
        small = np.round(small, decimals)
    return small.astype(DTYPE)


def parse_grid(text: str, *, name: str = "grid", max_side: int = 16) -> np.ndarray:
    """Numbers typed in as rows (one row a line, separated by spaces or commas).

    Fractions like ``1/9`` are accepted (handy for a blur kernel). Raises ValueError saying
    which line is wrong and how to fix it.

    Returns
    -------
    (rows, cols) float32
    """
    rows = []
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"the {name} is empty: type one row of numbers per line")
    for n, line in enumerate(lines, start=1):
        row = []
        for token in line.replace(",", " ").replace(";", " ").split():
            try:
                if "/" in token:
                    num, den = token.split("/", 1)
                    value = float(num) / float(den)
                else:
                    value = float(token)
            except (ValueError, ZeroDivisionError):
                raise ValueError(
                    f"line {n} of the {name}: {token!r} is not a number (write e.g. 0.5, -1 or 1/9)"
                ) from None
            if not np.isfinite(value):
                raise ValueError(f"line {n} of the {name}: {token!r} is not a finite number")
            row.append(value)
        rows.append(row)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(
            f"every line of the {name} needs the same number of values; found lines with "
            f"{', '.join(str(len(r)) for r in rows)} values"
        )
    grid = np.array(rows, dtype=DTYPE)
    if max(grid.shape) > max_side:
        raise ValueError(
            f"the {name} is {grid.shape[0]}x{grid.shape[1]}; keep it at most "
            f"{max_side}x{max_side} so the numbers stay readable"
        )
    return grid


def format_grid(grid: np.ndarray) -> str:
    """The inverse of `parse_grid`: one line per row, values separated by spaces."""
    return "\n".join(" ".join(f"{v:g}" for v in row) for row in np.asarray(grid))


# ----------------------------------------------------------------------------------------
# Forward records
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvCell:
    """How one output cell ``z[i, j]`` of the convolution is computed.

    ``window`` is the patch of the padded input under the kernel, rows ``r0:r0+kH`` and
    columns ``c0:c0+kW``; ``products = window * weight``; ``value = products.sum() + bias``.
    """

    i: int
    j: int
    r0: int
    c0: int
    window: np.ndarray
    products: np.ndarray
    bias: float
    value: float


@dataclass(frozen=True)
class PoolCell:
    """How one output cell ``p[i, j]`` of the max-pool is computed.

    The window is ``a[r0:r0+k, c0:c0+k]``; the winner is the first maximum in row-major
    order (the one the backward pass routes the gradient to), at ``(wr, wc)`` in ``a``.
    """

    i: int
    j: int
    r0: int
    c0: int
    window: np.ndarray
    wr: int
    wc: int
    value: float


@dataclass
class Forward:
    """The forward pass of conv -> ReLU -> max-pool on one single-channel input.

    Attributes
    ----------
    x : (H, W) input; x_padded : (H + 2 padding, W + 2 padding)
    weight : (kH, kW) kernel; bias : float
    z : (Ho, Wo) convolution output; a : (Ho, Wo) = ReLU(z)
    p : (Ho // pool, Wo // pool) max-pool output
    winners : (Hp, Wp, 2) row and column in ``a`` of each pool window's winner
    """

    x: np.ndarray
    x_padded: np.ndarray
    weight: np.ndarray
    bias: float
    stride: int
    padding: int
    pool: int
    z: np.ndarray
    a: np.ndarray
    p: np.ndarray
    winners: np.ndarray
    conv_cells: list[ConvCell] = field(repr=False)
    pool_cells: list[PoolCell] = field(repr=False)


def _out_size(size: int, k: int, stride: int, padding: int) -> int:
    """Output length of a sliding window; same formula as netcore.functional.conv_output_size."""
    return (size + 2 * padding - k) // stride + 1


def validate(x: np.ndarray, weight: np.ndarray, stride: int, padding: int, pool: int) -> None:
    """Raise ValueError with a fix-it message when the settings do not fit the input."""
    if x.ndim != 2 or weight.ndim != 2:
        raise ValueError("the input and the kernel must both be 2-D grids of numbers")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding cannot be negative, got {padding}")
    kh, kw = weight.shape
    h, w = x.shape
    if kh > h + 2 * padding or kw > w + 2 * padding:
        raise ValueError(
            f"kernel {kh}x{kw} does not fit a {h}x{w} input with padding {padding}; "
            "add padding or use a smaller kernel"
        )
    ho, wo = _out_size(h, kh, stride, padding), _out_size(w, kw, stride, padding)
    if pool < 1 or ho < pool or wo < pool:
        raise ValueError(
            f"the convolution output is {ho}x{wo}, too small for a {pool}x{pool} max-pool; "
            "use a bigger input, a smaller stride or more padding"
        )


def forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: float = 0.0,
    *,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
) -> Forward:
    """Run conv -> ReLU -> max-pool on one single-channel input, keeping every cell's record.

    Parameters
    ----------
    x : (H, W) input grid
    weight : (kH, kW) kernel
    bias : added to every output cell of the convolution
    stride, padding : of the convolution (zero padding on all four sides)
    pool : size and stride of the max-pool window

    Returns
    -------
    Forward, whose ``conv_cells`` and ``pool_cells`` are in row-major order.
    """
    x = np.asarray(x, dtype=DTYPE)
    weight = np.asarray(weight, dtype=DTYPE)
    validate(x, weight, stride, padding, pool)
    bias = float(DTYPE(bias))
    kh, kw = weight.shape
    x_padded = np.pad(x, padding)
    ho = _out_size(x.shape[0], kh, stride, padding)
    wo = _out_size(x.shape[1], kw, stride, padding)

    # Convolution (strictly: cross-correlation, as in every deep-learning library): slide the
    # kernel, multiply element by element, add everything up.
    z = np.zeros((ho, wo), dtype=DTYPE)
    conv_cells = []
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride, j * stride
            window = x_padded[r0 : r0 + kh, c0 : c0 + kw]
            products = window * weight
            value = float(products.sum(dtype=DTYPE) + DTYPE(bias))
            z[i, j] = value
            conv_cells.append(ConvCell(i, j, r0, c0, window, products, bias, value))

    a = np.maximum(z, 0).astype(DTYPE)  # ReLU: keep positives, zero the rest

    # Max-pool: non-overlapping pool x pool windows; a partial window at the edge is dropped.
    hp, wp = ho // pool, wo // pool
    p = np.zeros((hp, wp), dtype=DTYPE)
    winners = np.zeros((hp, wp, 2), dtype=np.int64)
    pool_cells = []
    for i in range(hp):
        for j in range(wp):
            r0, c0 = i * pool, j * pool
            window = a[r0 : r0 + pool, c0 : c0 + pool]
            # argmax gives the FIRST maximum: ties (common on zero backgrounds) send the whole
            # gradient to one cell, not to every tied cell.
            flat = int(np.argmax(window))
            wr, wc = r0 + flat // pool, c0 + flat % pool
            p[i, j] = a[wr, wc]
            winners[i, j] = (wr, wc)
            pool_cells.append(PoolCell(i, j, r0, c0, window, wr, wc, float(a[wr, wc])))

    return Forward(
        x, x_padded, weight, bias, stride, padding, pool, z, a, p, winners, conv_cells, pool_cells
    )


# ----------------------------------------------------------------------------------------
# Backward records
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightGradCell:
    """dL/dW[u, v] = sum over output cells (i, j) of dL/dz[i, j] * x_padded[i*s + u, j*s + v].

    ``dz`` and ``xs`` hold the two factors of each term (both ``(Ho, Wo)``); ``value`` is the sum.
    """

    u: int
    v: int
    dz: np.ndarray
    xs: np.ndarray
    value: float


@dataclass(frozen=True)
class InputGradTerm:
    """One term of dL/dx[r, c]: output cell (i, j) used this input under kernel weight (u, v)."""

    i: int
    j: int
    u: int
    v: int
    dz: float
    w: float


@dataclass(frozen=True)
class InputGradCell:
    """dL/dx[r, c] = sum over every (output cell, kernel weight) pair that touched x[r, c].

    ``r, c`` index the unpadded input; ``terms`` is empty for a cell no window ever covered
    (possible with a stride larger than the kernel).
    """

    r: int
    c: int
    terms: tuple[InputGradTerm, ...]
    value: float


@dataclass
class Backward:
    """The backward pass of `Forward`, given dL/dp.

    Attributes
    ----------
    dp : (Hp, Wp) gradient arriving at the pool output
    da : (Ho, Wo) after max-pool backward: dp[i, j] lands on its window's winner, 0 elsewhere
    dz : (Ho, Wo) after ReLU backward: da where z > 0, else 0
    dweight : (kH, kW); dbias : float; dx : (H, W)
    """

    dp: np.ndarray
    da: np.ndarray
    dz: np.ndarray
    dweight: np.ndarray
    dbias: float
    dx: np.ndarray
    weight_cells: list[WeightGradCell] = field(repr=False)
    input_cells: list[InputGradCell] = field(repr=False)


def backward(fwd: Forward, dp: np.ndarray) -> Backward:
    """Push dL/dp back through max-pool, ReLU and the convolution, cell by cell.

    Parameters
    ----------
    fwd : the forward records
    dp : (Hp, Wp) gradient of the loss with respect to the pool output

    Returns
    -------
    Backward, whose ``weight_cells`` (row-major over the kernel) and ``input_cells``
    (row-major over the input) carry every term of every sum.
    """
    dp = np.asarray(dp, dtype=DTYPE)
    if dp.shape != fwd.p.shape:
        raise ValueError(f"dL/dp must have the pool output's shape {fwd.p.shape}, got {dp.shape}")

    # Max-pool backward: only the winner influenced the output, so only it gets the gradient.
    da = np.zeros_like(fwd.a)
    for i in range(dp.shape[0]):
        for j in range(dp.shape[1]):
            wr, wc = fwd.winners[i, j]
            da[wr, wc] += dp[i, j]

    # ReLU backward: slope 1 where z was positive, 0 where it was cut off.
    dz = np.where(fwd.z > 0, da, 0).astype(DTYPE)

    s = fwd.stride
    kh, kw = fwd.weight.shape
    ho, wo = dz.shape
    rows = np.arange(ho) * s
    cols = np.arange(wo) * s

    # dL/dW[u, v]: weight (u, v) met x_padded[i*s+u, j*s+v] in every output cell (i, j).
    dweight = np.zeros_like(fwd.weight)
    weight_cells = []
    for u in range(kh):
        for v in range(kw):
            xs = fwd.x_padded[np.ix_(rows + u, cols + v)]
            value = float((dz * xs).sum(dtype=DTYPE))
            dweight[u, v] = value
            weight_cells.append(WeightGradCell(u, v, dz, xs, value))
    dbias = float(dz.sum(dtype=DTYPE))  # the bias was added to every output cell

    # dL/dx[r, c]: collect every (output cell, kernel weight) pair whose window covered x[r, c].
    h, w = fwd.x.shape
    pad = fwd.padding
    dx = np.zeros_like(fwd.x)
    input_cells = []
    for r in range(h):
        for c in range(w):
            terms = []
            for i in range(ho):
                u = r + pad - i * s
                if not 0 <= u < kh:
                    continue
                for j in range(wo):
                    v = c + pad - j * s
                    if 0 <= v < kw:
                        terms.append(
                            InputGradTerm(i, j, u, v, float(dz[i, j]), float(fwd.weight[u, v]))
                        )
            value = float(sum(DTYPE(t.dz) * DTYPE(t.w) for t in terms)) if terms else 0.0
            dx[r, c] = value
            input_cells.append(InputGradCell(r, c, tuple(terms), value))

    return Backward(dp, da, dz, dweight, dbias, dx, weight_cells, input_cells)


# ----------------------------------------------------------------------------------------
# A dense layer, the short version
# ----------------------------------------------------------------------------------------
@dataclass
class DenseExample:
    """y = W x + b for one sample, and its backward pass for a given dL/dy.

    Shapes: x (in,), weight (out, in) as in PyTorch, bias (out,), y (out,);
    dweight = outer(dy, x) (out, in), dbias = dy, dx = W^T dy (in,).
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    y: np.ndarray
    dy: np.ndarray
    dweight: np.ndarray
    dbias: np.ndarray
    dx: np.ndarray


def dense_example(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, dy: np.ndarray
) -> DenseExample:
    """Forward and backward of one dense layer on one sample, written as the plain sums."""
    x, weight, bias, dy = (np.asarray(v, dtype=DTYPE) for v in (x, weight, bias, dy))
    n_out, n_in = weight.shape
    if x.shape != (n_in,) or bias.shape != (n_out,) or dy.shape != (n_out,):
        raise ValueError(
            f"shapes do not match: W {weight.shape} needs x ({n_in},), b and dy ({n_out},)"
        )
    y = np.array([sum(weight[o, k] * x[k] for k in range(n_in)) + bias[o] for o in range(n_out)])
    dweight = np.array([[dy[o] * x[k] for k in range(n_in)] for o in range(n_out)])
    dx = np.array([sum(weight[o, k] * dy[o] for o in range(n_out)) for k in range(n_in)])
    return DenseExample(
        x, weight, bias, y.astype(DTYPE), dy, dweight.astype(DTYPE), dy.copy(), dx.astype(DTYPE)
    )


# ----------------------------------------------------------------------------------------
# The same numbers from netcore's loop references and fast layers
# ----------------------------------------------------------------------------------------
def check_against_netcore(fwd: Forward, bwd: Backward | None = None) -> dict[str, float]:
    """Recompute the walkthrough with netcore itself; return the largest |difference| per part.

    Two independent implementations are compared with the records above:

    * the loop references ``conv2d_naive``, ``maxpool2d_naive`` and their backward passes in
      `netcore.functional`;
    * the fast layers ``Conv2D`` (im2col + one matrix product), ``ReLU`` and ``MaxPool2D``.

    Returns
    -------
    dict such as ``{"conv loop": 0.0, "conv fast": 1.2e-7, ...}``; all values should be
    at float32 rounding level (below ~1e-5).
    """
    from netcore import activations, layers
    from netcore import functional as F

    x4 = fwd.x[None, None]
    w4 = fwd.weight[None, None]
    b1 = np.array([fwd.bias], dtype=DTYPE)
    kh, kw = fwd.weight.shape
    if kh != kw:
        raise ValueError("netcore's Conv2D takes square kernels; use a square kernel")

    def diff(a, b) -> float:
        return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))

    out: dict[str, float] = {}
    # Loop references.
    z_loop = F.conv2d_naive(x4, w4, b1, fwd.stride, fwd.padding)[0, 0]
    p_loop, argmax = F.maxpool2d_naive(np.maximum(z_loop, 0)[None, None], fwd.pool)
    out["conv forward, loop reference"] = diff(fwd.z, z_loop)
    out["max-pool forward, loop reference"] = diff(fwd.p, p_loop[0, 0])

    # Fast layers.
    conv = layers.Conv2D(1, 1, kh, stride=fwd.stride, padding=fwd.padding)
    conv.weight.data[...] = w4
    conv.bias.data[...] = b1
    conv.needs_input_grad = True
    relu, pool = activations.ReLU(), layers.MaxPool2D(fwd.pool)
    z_fast = conv.forward(x4)
    a_fast = relu.forward(z_fast)
    p_fast = pool.forward(a_fast)
    out["conv forward, fast Conv2D"] = diff(fwd.z, z_fast[0, 0])
    out["max-pool forward, fast MaxPool2D"] = diff(fwd.p, p_fast[0, 0])

    if bwd is not None:
        dp4 = bwd.dp[None, None]
        da_loop = F.maxpool2d_backward_naive(dp4, argmax, (1, 1) + fwd.a.shape)
        dz_loop = np.where(z_loop > 0, da_loop[0, 0], 0)
        dx_loop, dw_loop, db_loop = F.conv2d_backward_naive(
            x4, w4, dz_loop[None, None], fwd.stride, fwd.padding
        )
        out["max-pool backward, loop reference"] = diff(bwd.da, da_loop[0, 0])
        out["conv backward dW, loop reference"] = diff(bwd.dweight, dw_loop[0, 0])
        out["conv backward dx, loop reference"] = diff(bwd.dx, dx_loop[0, 0])
        out["conv backward db, loop reference"] = diff(bwd.dbias, db_loop[0])

        da_fast = pool.backward(dp4)
        dz_fast = relu.backward(da_fast)
        dx_fast = conv.backward(dz_fast)
        out["max-pool backward, fast MaxPool2D"] = diff(bwd.da, da_fast[0, 0])
        out["conv backward dW, fast Conv2D"] = diff(bwd.dweight, conv.weight.grad[0, 0])
        out["conv backward dx, fast Conv2D"] = diff(bwd.dx, dx_fast[0, 0])
        out["conv backward db, fast Conv2D"] = diff(bwd.dbias, conv.bias.grad[0])
    return out
