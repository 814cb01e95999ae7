"""Charts of the MLP playground: the decision boundary, the neuron tiles, the loss curves.

Pure functions (NumPy + Plotly, no Streamlit). They are redrawn several times a second, so
they send compact arrays: float32 grids (Plotly ships NumPy arrays as typed binary), one
heatmap for the whole neuron montage, and no per-cell hover text.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import DIVERGING, PALETTE, TRAIN, VAL, decimate

_TEMPLATE: dict | None = None


def fast_figure(data: list[dict], **layout) -> go.Figure:
    """A figure built without Plotly's per-property validation (~2 ms instead of ~30 ms).

    Live charts are rebuilt several times a second; validation is what makes `go.Figure`
    slow. The traces here are written as plain dicts with known-good keys, and the look of
    `ui.charts.style.base_layout` (white template, project colours, font) is applied as a
    ready-made layout dict.
    """
    global _TEMPLATE
    if _TEMPLATE is None:
        import plotly.io as pio

        _TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
    base = {"template": _TEMPLATE, "colorway": list(PALETTE), "font": {"size": 13}}
    return go.Figure(data=data, layout={**base, **layout}, _validate=False)


TILE_COLUMNS = 8
"""Neuron tiles per row of the montage; a layer with more neurons wraps onto more rows."""


def _tint(hex_colour: str, amount: float) -> str:
    """Mix a colour with white: amount 0 -> white, 1 -> the colour itself."""
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(255 - (255 - c) * amount) for c in (r, g, b)]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def class_colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def boundary_colorscale(n_classes: int) -> list:
    """Band k of [k/K, (k+1)/K] runs from white (a toss-up) to a tint of class k's colour."""
    scale = []
    for k in range(n_classes):
        lo, hi = k / n_classes, (k + 1) / n_classes
        scale.append([lo, _tint(class_colour(k), 0.0)])
        scale.append([hi, _tint(class_colour(k), 0.55)])
    return scale


def boundary_z(probs: np.ndarray) -> np.ndarray:
    """Encode the predicted class and its confidence in one number per grid cell.

    probs : (R, R, K) -> z : (R, R) float32 in [0, K]: ``z = class + confidence``, with
    confidence rescaled from [1/K, 1] to [0, 1). With `boundary_colorscale`, the colour says
    which class wins and how clearly; the boundary between two classes is where it fades to
    white.
    """
    k = probs.shape[-1]
    winner = np.argmax(probs, axis=-1)
    top = np.max(probs, axis=-1)
    confidence = np.clip((top - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 0.999)
    return (winner + confidence).astype(np.float32)


def boundary_figure(
    grid: np.ndarray,
    probs: np.ndarray,
    points: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    height: int = 520,
    plane: float = 6.0,
) -> go.Figure:
    """The plane coloured by the network's prediction, with the data points on top.

    Parameters
    ----------
    grid : (R,) coordinates of the grid's columns and rows
    probs : (R, R, K) class probabilities, row = y, column = x
    points : ``{"train": (xy (N, 2), labels (N,)), "test": (...)}``; test points get a black
        ring so the two sets are told apart.
    """
    n_classes = probs.shape[-1]
    data = [
        {
            "type": "heatmap",
            "x": grid,
            "y": grid,
            "z": boundary_z(probs),
            "zmin": 0,
            "zmax": n_classes,
            "colorscale": boundary_colorscale(n_classes),
            "showscale": False,
            "hoverinfo": "skip",
            "name": "prediction",
        }
    ]
    for split, (xy, labels) in points.items():
        test = split == "test"
        for k in range(n_classes):
            sel = labels == k
            if not np.any(sel):
                continue
            data.append(
                {
                    "type": "scatter",
                    "x": xy[sel, 0],
                    "y": xy[sel, 1],
                    "mode": "markers",
                    "name": f"class {k} ({split})",
                    "legendgroup": split,
                    "marker": {
                        "color": class_colour(k),
                        "size": 6,
                        "line": {
                            "color": "black" if test else "white",
                            "width": 1.0,
                        },
                    },
                    "hovertemplate": f"{split}, class {k}<br>x=%{{x:.2f}}, y=%{{y:.2f}}"
                    "<extra></extra>",
                }
            )
    axis = {"range": [-plane, plane], "showgrid": False, "zeroline": False}
    return fast_figure(
        data,
        height=height,
        hovermode="closest",
        margin={"l": 40, "r": 10, "t": 10, "b": 35},
        legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0, "xanchor": "left"},
        xaxis={**axis, "constrain": "domain"},
        yaxis={**axis, "scaleanchor": "x", "scaleratio": 1},
        uirevision="boundary",
    )


TILE_LEVELS = 252
"""Neuron values are sent as bytes: -1..1 -> 0..252 (zero is 126); 255 marks the gaps."""
GAP = 255


def tiles_colorscale() -> list:
    """`DIVERGING` over the byte values 0..252, then grey for the gaps (255)."""
    top = TILE_LEVELS / 255
    scale = [[pos * top, colour] for pos, colour in DIVERGING]
    return [*scale, [(TILE_LEVELS + 1) / 255, "#d0d0d0"], [1.0, "#d0d0d0"]]


def neuron_tiles(
    tiles: list[np.ndarray], ranges: list[tuple[float, float] | None], columns: int = TILE_COLUMNS
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Lay every hidden neuron's map out in one byte array, one block of rows per layer.

    Parameters
    ----------
    tiles : per hidden layer, (n_neurons, r, r) outputs on a grid (row = y, going up)
    ranges : per layer, the activation's fixed range (lo, hi), or None: then each tile is
        divided by its own largest |value| (ReLU outputs have no fixed scale).
    columns : tiles per row

    Returns
    -------
    z : (rows_px, cols_px) uint8; value ``v`` in [-1, 1] is stored as
        ``round((v + 1) / 2 * TILE_LEVELS)``, gaps are `GAP`; row 0 is the TOP row
    blocks : per layer, (first pixel row, number of tile rows, n_neurons)
    """
    if not tiles:
        return np.full((1, 1), GAP, dtype=np.uint8), []
    r = tiles[0].shape[-1]
    cols = min(columns, max(t.shape[0] for t in tiles))
    gap, layer_gap = 1, 4
    heights = [int(np.ceil(t.shape[0] / cols)) for t in tiles]
    total_h = sum(h * (r + gap) for h in heights) + layer_gap * (len(tiles) - 1)
    z = np.full((total_h, cols * (r + gap) - gap), GAP, dtype=np.uint8)
    blocks, top = [], 0
    for t, rows, rng in zip(tiles, heights, ranges, strict=True):
        if rng is None:
            peak = np.abs(t).reshape(len(t), -1).max(axis=1)
            scaled = t / np.where(peak > 0, peak, 1.0)[:, None, None]
        else:
            scaled = t / max(abs(rng[0]), abs(rng[1]))
        q = np.rint((np.clip(scaled, -1, 1) + 1) * (TILE_LEVELS / 2)).astype(np.uint8)
        for n, tile in enumerate(q):
            rr, cc = top + (n // cols) * (r + gap), (n % cols) * (r + gap)
            z[rr : rr + r, cc : cc + r] = tile[::-1]  # flip: the top of a tile is +y
        blocks.append((top, rows, len(t)))
        top += rows * (r + gap) + layer_gap
    return z, blocks


def tiles_figure(
    tiles: list[np.ndarray],
    ranges: list[tuple[float, float] | None],
    activations: list[str],
    *,
    columns: int = TILE_COLUMNS,
    tile_px: int = 30,
) -> go.Figure:
    """One heatmap montage: what each hidden neuron outputs over the whole plane.

    Colours are zero-centred (blue negative, white zero, red positive); a Tanh or Sigmoid
    layer uses its fixed range, ReLU-like layers scale each tile by its own maximum.
    """
    z, blocks = neuron_tiles(tiles, ranges, columns)
    r = tiles[0].shape[-1] if tiles else 1
    tickvals = [top + r / 2 for top, _rows, _n in blocks]
    ticktext = [
        f"layer {i + 1}<br>{n} {act}"
        for i, ((_top, _rows, n), act) in enumerate(zip(blocks, activations, strict=True))
    ]
    cols = (z.shape[1] + 1) // (r + 1)
    height = max(120, int(z.shape[0] / max(r, 1) * tile_px) + 40)
    heatmap = {
        "type": "heatmap",
        "z": z,
        "zmin": 0,
        "zmax": 255,
        "colorscale": tiles_colorscale(),
        "showscale": False,
        "hoverinfo": "skip",
    }
    axis = {"showgrid": False, "zeroline": False}
    return fast_figure(
        [heatmap],
        height=height,
        hovermode=False,
        margin={"l": 62, "r": 5, "t": 25, "b": 5},
        xaxis={
            **axis,
            "side": "top",
            "tickvals": [c * (r + 1) + r / 2 for c in range(cols)],
            "ticktext": [str(c + 1) for c in range(cols)],
            "constrain": "domain",
        },
        yaxis={
            **axis,
            "autorange": "reversed",
            "tickvals": tickvals,
            "ticktext": ticktext,
            "scaleanchor": "x",
            "scaleratio": 1,
        },
    )


def loss_figure(history: dict[str, np.ndarray], *, height: int = 220) -> go.Figure:
    """Train and test loss against epochs (long runs are decimated to ~2,000 points)."""
    data = []
    for key, name, colour in (("train_loss", "train", TRAIN), ("test_loss", "test", VAL)):
        x, y = decimate(history["epoch"], history[key])
        data.append(
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "mode": "lines",
                "name": f"{name} loss",
                "line": {"color": colour, "width": 2},
            }
        )
    return fast_figure(
        data,
        height=height,
        margin={"l": 55, "r": 10, "t": 30, "b": 40},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": "loss"}, "rangemode": "tozero"},
    )
