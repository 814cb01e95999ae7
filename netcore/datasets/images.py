"""Turn one user image (already decoded to pixels) into a network input.

The app decodes PNG/JPEG bytes (with Pillow, outside the engine) into a uint8 array and passes
it here. Everything else happens in NumPy so that it can be read and tested:

1. `to_unit`: any of ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)``, ``(H, W, 4)`` -> float
   ``(H, W, C)`` in ``[0, 1]`` (transparent pixels are put on a background that contrasts
   with the ink);
2. `match_channels`: grey <-> RGB to the model's channel count;
3. for dark-background sets (MNIST style) an optional inversion of light-background photos,
   and `center_digit`, which mimics how MNIST itself was made;
4. `pad_to_aspect` + `resize`: to the model's ``H x W`` without distortion;
5. the dataset's `Normalization`, identical to training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netcore.datasets.core import DatasetError, DatasetInfo
from netcore.datasets.transforms import Normalization

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 grey from RGB


def to_unit(pixels: np.ndarray, name: str = "image") -> np.ndarray:
    """Pixels ``(H, W)`` or ``(H, W, 1|2|3|4)`` (uint8, or float in [0, 1]) -> float32
    ``(H, W, 1|3)`` in ``[0, 1]``."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or min(a.shape[:2]) < 1:
        raise DatasetError(f"{name} has shape {a.shape}; expected (H, W) or (H, W, 1/3/4).")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        x = np.clip(a.astype(np.float32), 0.0, 1.0)
    else:
        raise DatasetError(f"{name} has pixel type {a.dtype}; expected uint8 (0-255).")
    if x.shape[2] in (2, 4):  # grey+alpha or RGBA: composite over a contrasting background
        colour, alpha = x[:, :, :-1], x[:, :, -1:]
        ink = colour[alpha[:, :, 0] > 0.5]
        background = 0.0 if ink.size and ink.mean() > 0.5 else 1.0
        x = colour * alpha + background * (1.0 - alpha)
    return x


def match_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, C)`` -> ``(H, W, channels)``: RGB to grey by luma, grey to RGB by copying."""
    c = x.shape[2]
    if c == channels:
        return x
    if channels == 1:
        return (x @ LUMA)[:, :, None].astype(np.float32)
    if c == 1 and channels == 3:
        return np.repeat(x, 3, axis=2)
    raise ValueError(f"cannot turn {c} channels into {channels}")


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` matrix: each output pixel averages the input pixels it covers.

    Used when shrinking: every input pixel contributes in proportion to the overlap of its
    interval ``[i, i+1)`` with the output pixel's interval (scaled to input units), so thin
    strokes fade instead of vanishing (plain sampling would skip them).
    """
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    i = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, i + 1) - np.maximum(lo, i), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _bilinear_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` matrix of linear interpolation between pixel centres (enlarging)."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    centres = np.clip(centres, 0.0, n_in - 1)
    left = np.floor(centres).astype(int)
    right = np.minimum(left + 1, n_in - 1)
    frac = centres - left
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), left] += 1.0 - frac
    w[np.arange(n_out), right] += frac
    return w


def _resize_weights(n_in: int, n_out: int) -> np.ndarray:
    return _area_weights(n_in, n_out) if n_out <= n_in else _bilinear_weights(n_in, n_out)


def resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``x: (H, W, C)`` to ``(height, width, C)``: area average down, bilinear up.

    Resizing is linear and separable, so it is two small matrix products:
    ``out[:, :, c] = Wh @ x[:, :, c] @ Ww.T`` with ``Wh (height, H)`` and ``Ww (width, W)``.
    """
    h, w, _ = x.shape
    wh = _resize_weights(h, height).astype(np.float32)
    ww = _resize_weights(w, width).astype(np.float32)
    return np.einsum("ah,hwc,bw->abc", wh, x.astype(np.float32), ww, optimize=True)


def pad_to_aspect(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad ``x: (H, W, C)`` with its border colour to the aspect ratio ``height : width``.

    Nothing is cut off and nothing is stretched; the padding matches the background.
    """
    h, w, c = x.shape
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]).reshape(-1, c)
    fill = np.median(border, axis=0)
    if h * width > w * height:  # too tall: widen
        new_h, new_w = h, int(round(h * width / height))
    else:
        new_h, new_w = int(round(w * height / width)), w
    out = np.empty((new_h, new_w, c), dtype=np.float32)
    out[...] = fill
    top, left = (new_h - h) // 2, (new_w - w) // 2
    out[top : top + h, left : left + w] = x
    return out


def has_light_background(x: np.ndarray) -> bool:
    """True when the border of ``x: (H, W, C)`` in ``[0, 1]`` is mostly light (paper, screen)."""
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    return float(np.median(border.mean(axis=-1))) > 0.5


def center_digit(x: np.ndarray, size: int = 28, box: int = 20) -> np.ndarray:
    """Frame a light-on-dark digit the way MNIST did.

    MNIST digits were scaled to fit a ``20 x 20`` box (keeping their aspect ratio) and placed
    in a ``28 x 28`` image with their centre of mass at the centre. A drawing framed the same
    way is recognised much better than one squeezed whole into 28 x 28.

    Parameters
    ----------
    x : np.ndarray, float (H, W, 1), ink light on a dark background, values in [0, 1]
    size, box : int

    Returns
    -------
    np.ndarray, float32 (size, size, 1); all zeros for an empty drawing.
    """
    ink = x[:, :, 0]
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    out = np.zeros((size, size, 1), dtype=np.float32)
    if rows.size == 0:
        return out
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape[:2]
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = resize(crop, nh, nw)
    # Centre of mass of the scaled digit, then place it so that point lands at the centre.
    mass = digit[:, :, 0]
    total = mass.sum()
    cy = (mass.sum(axis=1) @ np.arange(nh)) / total if total > 0 else (nh - 1) / 2
    cx = (mass.sum(axis=0) @ np.arange(nw)) / total if total > 0 else (nw - 1) / 2
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - nh))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - nw))
    out[top : top + nh, left : left + nw] = digit
    return out


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for the network, and what it looks like to the network.

    Attributes
    ----------
    x : np.ndarray, float32 (1, C, H, W)
        Normalised input: pass it to ``model.forward``.
    pixels : np.ndarray, uint8 (H, W) or (H, W, 3)
        The same image before normalisation, for display ("what the network sees").
    inverted : bool
        Whether colours were inverted to match the training images.
    """

    x: np.ndarray
    pixels: np.ndarray
    inverted: bool


def prepare_image(
    pixels: np.ndarray,
    info: DatasetInfo,
    normalization: Normalization,
    *,
    invert: bool | str = "auto",
    center: bool | None = None,
    name: str = "image",
) -> PreparedImage:
    """Turn decoded pixels into a network input shaped and normalised like `info`'s images.

    Parameters
    ----------
    pixels : np.ndarray, uint8 (H, W) or (H, W, 1|2|3|4)
    info : DatasetInfo
        Gives the input shape ``(C, H, W)`` and whether the set is light-on-dark.
    normalization : Normalization
        The one the model was trained with (``dataset.normalization``).
    invert : bool or "auto"
        Invert colours. ``"auto"`` inverts a light-background image only for dark-background
        sets (a digit written on paper becomes white-on-black like MNIST).
    center : bool, optional
        Frame the drawing like MNIST (`center_digit`); default: for digit sets.
    name : str
        Used in error messages.
    """
    c, h, w = info.input_shape
    x = match_channels(to_unit(pixels, name), c)
    if invert == "auto":
        invert = info.dark_background and has_light_background(x)
    if invert:
        x = 1.0 - x
    if center is None:
        center = info.kind == "digits"
    if center and c == 1:
        x = center_digit(x, size=h, box=round(h * 20 / 28))
        if w != h:
            x = resize(x, h, w)
    else:
        x = resize(pad_to_aspect(x, h, w), h, w)
    x = np.clip(x, 0.0, 1.0)
    chw = np.ascontiguousarray(np.moveaxis(x, -1, 0))[None]  # (1, C, H, W)
    shown = np.round(x * 255).astype(np.uint8)
    return PreparedImage(
        x=normalization.from_unit(chw),
        pixels=shown[:, :, 0] if c == 1 else shown,
        inverted=bool(invert),
    )
