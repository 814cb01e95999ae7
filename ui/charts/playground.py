"""Pictures of the MLP playground: the decision boundary, the neuron tiles, the loss curves.

Pure functions (NumPy, Pillow, Plotly; no Streamlit).

The boundary and the neuron tiles are redrawn several times a second while training runs, so
they are rendered here as images rather than Plotly figures: measured in headless Chromium
on two busy cores, a Plotly heatmap with 500 SVG points cost the browser ~140 ms per update
and the tile montage ~90 ms, while swapping an image costs a few ms. The points never move, so
their layer is drawn once (antialiased, at twice the size, then reduced) and laid over each
new background. Bytes matter too (every frame travels to the browser as base64): the boundary
is a JPEG (37 kB, 1 ms to encode, against 118 kB and 11 ms as PNG, with no visible
difference), and the tiles are sent at the resolution they were computed at (the browser
scales them up smoothly). The loss curve stays a Plotly chart (hover, zoom) and updates less
often.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from ui.charts.style import DIVERGING, PALETTE, TRAIN, VAL, decimate

BOUNDARY_PX = 480
"""Side of the boundary picture in pixels."""
TILE_PX = 30
"""Side of one neuron tile on screen, in pixels (the image itself is smaller; see `tiles_rgb`)."""
TILE_GAP = 1
"""Pixels between two tiles in the montage image."""
TILE_COLUMNS = 8
"""Neuron tiles per row of a layer's montage; a layer with more neurons wraps onto more rows."""
GAP_RGB = (215, 215, 215)
TINT = 0.6
"""How saturated the most confident background gets (0 = white, 1 = the class colour)."""


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def class_colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3|4) uint8 array as PNG (fast setting: the image lives a second)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an (H, W, 3) uint8 array as JPEG, colour at full resolution (no chroma
    subsampling: the thin rings of the points keep their colour)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def data_uri(image: bytes) -> str:
    """A ``data:`` URL (PNG or JPEG, told by the bytes): ``st.image`` shows it as is. Raw bytes
    would be stored as a media file that the next frame deletes, sometimes before the browser
    has fetched it (a broken image for a moment)."""
    mime = "image/png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(image).decode("ascii")


# ----------------------------------------------------------------------------------------
# Decision boundary
# ----------------------------------------------------------------------------------------
def boundary_z(probs: np.ndarray) -> np.ndarray:
    """Encode the predicted class and its confidence in one number per grid cell.

    probs : (R, R, K) -> z : (R, R) float32 in [0, K): ``z = class + confidence``, with
    confidence rescaled from [1/K, 1] to [0, 1). ``floor(z)`` is the predicted class.
    """
    k = probs.shape[-1]
    winner = np.argmax(probs, axis=-1)
    top = np.max(probs, axis=-1)
    confidence = np.clip((top - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 0.999)
    return (winner + confidence).astype(np.float32)


def boundary_rgb(probs: np.ndarray, size: int = BOUNDARY_PX) -> np.ndarray:
    """The plane coloured by the prediction: the winning class's colour, stronger where the
    network is surer, white where two classes tie (the decision boundary).

    probs : (R, R, K), row = y going UP (row 0 is the bottom of the plane)
    Returns (size, size, 3) uint8 with row 0 at the TOP (+y), as images are stored.
    """
    z = boundary_z(probs)
    winner = np.floor(z).astype(np.int64)
    amount = (z - winner) * TINT
    colours = np.stack([_rgb(class_colour(k)) for k in range(probs.shape[-1])])
    rgb = 255.0 - (255.0 - colours[winner]) * amount[..., None]
    small = Image.fromarray(np.ascontiguousarray(rgb[::-1]).astype(np.uint8))
    # Bilinear upscaling of the colours: the field is smooth, and so is the picture.
    return np.asarray(small.resize((size, size), Image.BILINEAR))


def points_layer(
    points: dict[str, tuple[np.ndarray, np.ndarray]],
    plane: float,
    size: int = BOUNDARY_PX,
    radius: float = 4.5,
) -> np.ndarray:
    """The data points as an (size, size, 4) RGBA layer; drawn once per data set.

    Training points have a white ring, test points a black one (as in TensorFlow
    Playground). Drawn at twice the size and reduced, for smooth edges.
    """
    big = 2 * size
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    r = 2 * radius
    for split, (xy, labels) in points.items():
        ring = (0, 0, 0, 255) if split == "test" else (255, 255, 255, 255)
        px = (np.asarray(xy[:, 0]) + plane) / (2 * plane) * big
        py = (plane - np.asarray(xy[:, 1])) / (2 * plane) * big
        for x, y, k in zip(px, py, labels, strict=True):
            fill = tuple(int(c) for c in _rgb(class_colour(int(k)))) + (255,)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=ring, width=3)
    return np.asarray(layer.resize((size, size), Image.LANCZOS))


def boundary_picture(
    probs: np.ndarray, points: np.ndarray | None, size: int = BOUNDARY_PX
) -> np.ndarray:
    """The background of `boundary_rgb`, faint axes through 0, and the `points_layer` on top:
    (size, size, 3) uint8, ready for `jpeg_bytes`."""
    rgb = boundary_rgb(probs, size).copy()
    mid = size // 2  # the axes x = 0 and y = 0, slightly darker
    rgb[mid, :] = (rgb[mid, :] * 0.8).astype(np.uint8)
    rgb[:, mid] = (rgb[:, mid] * 0.8).astype(np.uint8)
    img = Image.fromarray(rgb).convert("RGBA")
    if points is not None:
        img = Image.alpha_composite(img, Image.fromarray(points))
    return np.asarray(img.convert("RGB"))


# ----------------------------------------------------------------------------------------
# Neuron tiles
# ----------------------------------------------------------------------------------------
def _diverging_lut(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours of `DIVERGING` from -1 (index 0) to +1 (index n-1)."""
    pos = np.array([p for p, _ in DIVERGING])
    cols = np.stack([_rgb(c) for _, c in DIVERGING])
    t = np.linspace(0, 1, n)
    return np.stack([np.interp(t, pos, cols[:, ch]) for ch in range(3)], axis=1).astype(np.uint8)


_LUT = _diverging_lut()


def scale_tiles(tiles: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    """Map neuron outputs to [-1, 1]: by the activation's fixed range (Tanh, Sigmoid), or
    each tile by its own largest |value| when the activation is unbounded (ReLU, linear)."""
    if value_range is None:
        peak = np.abs(tiles).reshape(len(tiles), -1).max(axis=1)
        return tiles / np.where(peak > 0, peak, 1.0)[:, None, None]
    return tiles / max(abs(value_range[0]), abs(value_range[1]))


def tiles_rgb(
    tiles: np.ndarray, value_range: tuple[float, float] | None, columns: int = TILE_COLUMNS
) -> np.ndarray:
    """One layer's neurons as one montage image (one picture, not one chart per neuron).

    Each tile keeps the grid's resolution (r pixels a side, no resampling here); show the
    image `montage_width` pixels wide and the browser scales it up smoothly.

    Parameters
    ----------
    tiles : (n_neurons, r, r) outputs on a grid, row = y going UP
    value_range : the activation's fixed range, or None (see `scale_tiles`)

    Returns
    -------
    (rows * (r + gap) - gap, cols * (r + gap) - gap, 3) uint8; zero-centred colours (blue
    negative, white zero, red positive), grey between tiles.
    """
    tiles = np.asarray(tiles, np.float32)
    n, r = len(tiles), tiles.shape[-1]
    cols = max(1, min(columns, n))
    rows = int(np.ceil(n / cols))
    step = r + TILE_GAP
    out = np.empty((rows * step - TILE_GAP, cols * step - TILE_GAP, 3), dtype=np.uint8)
    out[...] = GAP_RGB
    scaled = np.clip(scale_tiles(tiles, value_range), -1, 1)
    index = np.rint((scaled + 1) * 0.5 * (len(_LUT) - 1)).astype(np.int64)
    for k in range(n):
        i, j = divmod(k, cols)
        out[i * step : i * step + r, j * step : j * step + r] = _LUT[index[k][::-1]]  # +y up
    return out


def montage_width(n_neurons: int, columns: int = TILE_COLUMNS) -> int:
    """On-screen width of a layer's montage: `TILE_PX` per tile and a thin gap."""
    cols = max(1, min(columns, n_neurons))
    return cols * (TILE_PX + 2) - 2


# ----------------------------------------------------------------------------------------
# Loss curves
# ----------------------------------------------------------------------------------------
def loss_figure(history: dict[str, np.ndarray], *, height: int = 230) -> go.Figure:
    """Train and test loss against epochs (long runs are decimated to ~2,000 points)."""
    fig = go.Figure()
    for key, name, colour in (("train_loss", "train", TRAIN), ("test_loss", "test", VAL)):
        x, y = decimate(history["epoch"], history[key])
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines", name=f"{name} loss", line={"color": colour, "width": 2}
            )
        )
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        font={"size": 13},
    )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss", rangemode="tozero")
    return fig
