"""NumPy helpers for the "look inside" views: montages, filter images, histograms over time.

No Streamlit and no Plotly here: these take arrays and return arrays, so they are tested on
small known inputs. The chart builders in ``ui/charts/`` turn the results into figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


# -- montage: many small maps as one image with gaps -------------------------------------
@dataclass
class Montage:
    """Tiles laid out on a grid inside one array, separated by ``gap`` pixels of ``nan``.

    Attributes
    ----------
    z : (rows_px, cols_px) or (rows_px, cols_px, 3) float32
        The montage; gaps and unused cells are ``nan`` (drawn transparent by Plotly).
    origins : (n, 2) int
        Top-left pixel (row, column) of each tile in ``z``.
    tile_shape : (h, w)
    nrows, ncols : int
        Grid size in tiles.
    """

    z: np.ndarray
    origins: np.ndarray
    tile_shape: tuple[int, int]
    nrows: int
    ncols: int

    @property
    def n(self) -> int:
        return len(self.origins)

    def tile_index(self) -> np.ndarray:
        """(rows_px, cols_px) int: which tile each pixel belongs to (-1 in the gaps)."""
        index = np.full(self.z.shape[:2], -1, dtype=np.int16)
        h, w = self.tile_shape
        for k, (r, c) in enumerate(self.origins):
            index[r : r + h, c : c + w] = k
        return index


def grid_columns(n: int, tile_w: int = 8, max_cols: int = 16) -> int:
    """How many tiles a row holds: a wide page favours one row of up to 8 small maps,
    then rows of 8 (up to 32 maps) or 16 (more)."""
    if n <= 8:
        return max(n, 1)
    cols = 8 if n <= 32 else 16
    if tile_w >= 48:  # big maps: fewer per row so each stays legible
        cols = min(cols, 8)
    return min(cols, max_cols)


def montage(tiles: np.ndarray, ncols: int | None = None, gap: int = 1, top_pad: int = 0) -> Montage:
    """Lay ``n`` equally sized tiles out on a grid, row by row.

    Parameters
    ----------
    tiles : (n, h, w) or (n, h, w, 3)
        Grey (or signed) maps, or RGB images.
    ncols : int, optional
        Tiles per row (default: `grid_columns`).
    gap : int
        Pixels of ``nan`` between neighbouring tiles.
    top_pad : int
        Extra rows of ``nan`` above every tile: room for a caption that must not hide
        the image (the mistakes gallery).

    Returns
    -------
    Montage
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim not in (3, 4):
        raise ValueError(f"tiles must be (n, h, w) or (n, h, w, 3), got shape {tiles.shape}")
    n, h, w = tiles.shape[:3]
    ncols = ncols or grid_columns(n, w)
    ncols = max(1, min(ncols, max(n, 1)))
    nrows = max(1, math.ceil(n / ncols))
    row_h = top_pad + h + gap
    shape = (nrows * row_h - gap, ncols * (w + gap) - gap, *tiles.shape[3:])
    z = np.full(shape, np.nan, dtype=np.float32)
    k = np.arange(n)
    origins = np.stack([(k // ncols) * row_h + top_pad, (k % ncols) * (w + gap)], axis=1)
    for tile, (r, c) in zip(tiles, origins, strict=True):
        z[r : r + h, c : c + w] = tile
    return Montage(z, origins, (h, w), nrows, ncols)


def scale_tiles(tiles: np.ndarray, per_tile: bool, signed: bool) -> tuple[np.ndarray, float]:
    """Prepare tiles for one colour scale.

    Parameters
    ----------
    tiles : (n, h, w)
    per_tile : bool
        True: divide each tile by its own largest magnitude (every tile uses the full colour
        range; compare patterns, not strengths). False: keep the values (one shared range;
        compare strengths across tiles).
    signed : bool
        Signed data get a range symmetric about 0.

    Returns
    -------
    scaled : (n, h, w) float32
    zmax : float
        Upper end of the colour range (lower end is ``-zmax`` when signed, else 0);
        never 0, so an all-zero input still gives a valid scale.
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    # nanmax: the unused cells of a wrapped vector tile are nan.
    if per_tile:
        peak = np.nanmax(np.abs(tiles).reshape(len(tiles), -1), axis=1, initial=0.0)
        peak = np.where(peak > 0, peak, 1.0).astype(np.float32)
        return tiles / peak[:, None, None], 1.0
    peak = float(np.nanmax(np.abs(tiles) if signed else tiles, initial=0.0))
    return tiles, peak if peak > 0 else 1.0


# -- filters ------------------------------------------------------------------------------
FILTER_MODES = ("average", "channel", "all")


def filter_tiles(weight: np.ndarray, mode: str = "average", channel: int = 0) -> np.ndarray:
    """The kernels of a Conv2D layer as 2-D tiles.

    Parameters
    ----------
    weight : (out_c, in_c, kH, kW)
    mode : {"average", "channel", "all"}
        "average": each filter averaged over its input channels -> (out_c, kH, kW).
        "channel": each filter's slice for input channel ``channel`` -> (out_c, kH, kW).
        "all": every (filter, input channel) kernel, filter-major -> (out_c * in_c, kH, kW);
        laid out with ``in_c`` columns, a row is one filter.
    """
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 4:
        raise ValueError(f"a Conv2D weight is (out_c, in_c, kH, kW), got shape {weight.shape}")
    out_c, in_c, kh, kw = weight.shape
    if mode == "average":
        return weight.mean(axis=1)
    if mode == "channel":
        if not 0 <= channel < in_c:
            raise ValueError(f"input channel {channel} does not exist (0..{in_c - 1})")
        return weight[:, channel]
    if mode == "all":
        return weight.reshape(out_c * in_c, kh, kw)
    raise ValueError(f"unknown filter mode {mode!r}; use one of {FILTER_MODES}")


def filters_rgb(weight: np.ndarray, per_filter: bool) -> np.ndarray:
    """First-layer filters of a colour network as RGB images, grey meaning 0.

    Parameters
    ----------
    weight : (out_c, 3, kH, kW)
    per_filter : bool
        Scale each filter by its own largest magnitude, or all by the layer's.

    Returns
    -------
    (out_c, kH, kW, 3) float32 in [0, 255]: 127.5 + 127.5 * w / max|w|, so a positive
    red weight is reddish, a negative one cyan-ish, and 0 is mid grey.
    """
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"RGB filters need shape (out_c, 3, kH, kW), got {weight.shape}")
    if per_filter:
        peak = np.abs(weight).reshape(len(weight), -1).max(axis=1)
        peak = np.where(peak > 0, peak, 1.0)[:, None, None, None]
    else:
        peak = float(np.abs(weight).max(initial=0.0)) or 1.0
    rgb = 127.5 + 127.5 * (weight / peak)
    return np.clip(rgb, 0, 255).transpose(0, 2, 3, 1).astype(np.float32)


# -- activations --------------------------------------------------------------------------
def activation_tiles(a: np.ndarray) -> tuple[np.ndarray, str]:
    """One sample's layer output as tiles.

    Parameters
    ----------
    a : (C, H, W) or (F,)
        A conv-style output (one tile per channel) or a flat vector (one tile of units,
        wrapped into a near-square rectangle so long vectors stay visible).

    Returns
    -------
    tiles : (C, H, W) or (1, rows, cols) float32 (unused cells of a vector tile are nan)
    kind : "channels" or "units"
    """
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 3:
        return a, "channels"
    flat = a.ravel()
    # Wide rows (up to 40 units): a short strip reads as "a vector", not as an image.
    cols = min(flat.size, 40)
    rows = math.ceil(flat.size / cols)
    tile = np.full(rows * cols, np.nan, dtype=np.float32)
    tile[: flat.size] = flat
    return tile.reshape(1, rows, cols), "units"


def is_signed(a: np.ndarray) -> bool:
    """True if the array holds negative values (a diverging colour scale is needed)."""
    return bool(np.nanmin(a, initial=0.0) < 0)


# -- histograms ---------------------------------------------------------------------------
def shared_edges(*arrays: np.ndarray, bins: int = 60) -> np.ndarray:
    """Bin edges covering every given array, symmetric about 0 (so 0 sits on an edge and
    "now" and "start" histograms are comparable bin for bin)."""
    peak = max((float(np.abs(a).max(initial=0.0)) for a in arrays if a is not None), default=0)
    peak = peak or 1.0
    return np.linspace(-peak, peak, bins + 1, dtype=np.float64)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins ``edges`` (values outside go to the end bins)."""
    v = np.clip(np.asarray(values, dtype=np.float64).ravel(), edges[0], edges[-1])
    return np.histogram(v, bins=edges)[0]


def fractions_over_time(counts: np.ndarray) -> np.ndarray:
    """(T, B) histogram counts per step -> fraction of values per bin per step, so every
    step's column of the distributions heatmap sums to 1 whatever the parameter size."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 0.0)


# -- layers -------------------------------------------------------------------------------
def is_conv(layer) -> bool:
    return type(layer).__name__ == "Conv2D"


def layer_label(i: int, layer) -> str:
    """``"3 · Conv2D 16×5×5"``: index (as in parameter names ``3.weight``), type, size."""
    name = type(layer).__name__
    cfg = layer.config() if hasattr(layer, "config") else {}
    if name == "Conv2D":
        k = cfg.get("kernel_size", "?")
        k = f"{k[0]}×{k[1]}" if isinstance(k, list | tuple) else f"{k}×{k}"
        return f"{i} · Conv2D {cfg.get('out_channels', '?')}×{k}"
    if name == "Dense":
        return f"{i} · Dense {cfg.get('in_features', '?')}→{cfg.get('out_features', '?')}"
    return f"{i} · {name}"


SKIP_IN_MAPS = ("Flatten", "Dropout")
"""Layers whose output repeats the previous one (a reshape; identity at test time)."""


def shown_layers(model) -> list[int]:
    """Layers whose output the feature-map view draws."""
    return [i for i, layer in enumerate(model) if type(layer).__name__ not in SKIP_IN_MAPS]


def source_conv(model, i: int) -> int | None:
    """The Conv2D whose channel ``c`` becomes channel ``c`` of layer ``i``'s output.

    Element-wise layers (activations, pooling, batch norm) keep the channel index, so the
    answer is the nearest Conv2D at or before ``i``, provided nothing in between changes
    the channels (a Flatten or Dense ends the chain). None when there is none.
    """
    for j in range(i, -1, -1):
        name = type(model[j]).__name__
        if name == "Conv2D":
            return j
        if name in ("Flatten", "Dense"):
            return None
    return None


def dense_as_images(weight: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray | None:
    """First Dense layer of an MLP on images: each unit's weights as an image (its "filter").

    weight : (out, C*H*W) -> (out, C, H, W), or None when the sizes do not match an image.
    """
    if len(input_shape) != 3 or weight.ndim != 2:
        return None
    if weight.shape[1] != int(np.prod(input_shape)):
        return None
    return np.asarray(weight, dtype=np.float32).reshape(weight.shape[0], *input_shape)


# -- gradients of a model without a training history --------------------------------------
def batch_gradients(model, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """dLoss/dParameter on one batch, for a model that has no recorded statistics.

    Parameters
    ----------
    model : Sequential
        Not modified: a copy does the forward and backward pass.
    x : (N, ...) inputs, y : (N,) int labels

    Returns
    -------
    dict parameter name -> gradient (same shape as the parameter), mean cross-entropy loss.
    """
    from netcore.losses import CrossEntropyLoss

    m = model.copy().eval()  # eval: no dropout noise, batch norm uses its running statistics
    loss = CrossEntropyLoss()
    loss.forward(m.forward(x), y)
    m.backward(loss.backward())
    return {name: p.grad.copy() for name, p in m.named_parameters()}


def dead_relu_fractions(model, x: np.ndarray) -> dict[int, float]:
    """Fraction of dead units of every ReLU layer on one batch, for a model without
    recorded statistics: a unit is dead when it outputs 0 for every sample of ``x``.

    Parameters
    ----------
    model : Sequential
        Not modified: a copy runs the forward pass (eval mode).
    x : (N, ...) inputs

    Returns
    -------
    dict ReLU layer index -> fraction in [0, 1] (units = channels x positions, as in
    training statistics).
    """
    m = model.copy().eval()
    m.forward(x, capture=True)
    out = {}
    for i, layer in enumerate(m):
        if type(layer).__name__ == "ReLU":
            alive = (m.activations[i] > 0).any(axis=0)
            out[i] = float(1.0 - alive.mean()) if alive.size else 0.0
    return out


def stats_series(stats: dict, key: str, names: list[str]) -> dict[str, np.ndarray]:
    """One statistic (e.g. ``"grad_norm"``) of the given parameters from training stats."""
    params = stats.get("params", {})
    return {n: np.asarray(params[n][key], dtype=np.float64) for n in names if n in params}


def stats_histograms(stats: dict, name: str, which: str):
    """(edges (B+1,), counts (T, B)) of ``which`` = "weight_hist" or "grad_hist", or None."""
    h = stats.get("params", {}).get(name, {}).get(which)
    if not h or not h.get("counts"):
        return None
    return np.asarray(h["edges"], dtype=np.float64), np.asarray(h["counts"], dtype=np.float64)
