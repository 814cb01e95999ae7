"""Feature maps: what each layer computes for one input, as one montage per layer."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.montage import (
    WIDTH_HINT,
    figure,
    figure_height,
    layout_spec,
    montage_figure,
    rgb_montage_figure,
)
from ui.charts.style import GREYS, PALETTE
from ui.inspect import activation_tiles, is_signed, montage, scale_tiles

GAP = 1


def activation_figure(
    a: np.ndarray,
    *,
    per_channel: bool = False,
    layer_name: str = "layer",
    height: int | None = None,
    clickable: bool = False,
) -> go.Figure:
    """One layer's output for one input: a tile per channel, or one strip of units.

    Parameters
    ----------
    a : (C, H, W) or (F,)
        The layer's output for a single sample (no batch axis).
    per_channel : bool
        Scale each channel to its own largest magnitude (shows the pattern of weak channels)
        instead of one range for the whole layer (shows which channels respond most).
    layer_name : str
        Title prefix, e.g. ``"1 · ReLU"``.
    clickable : bool
        Add an invisible marker at the centre of every channel's tile (last trace), so that
        a click on a tile selects that channel (see `click_targets`).

    Returns
    -------
    go.Figure
        Signed outputs (before an activation) use a diverging scale centred on 0; outputs
        that are never negative (after ReLU, pooling of ReLU) a sequential scale from 0.
    """
    tiles, kind = activation_tiles(a)
    signed = is_signed(tiles)
    scaled, zmax = scale_tiles(tiles, per_tile=per_channel and kind == "channels", signed=signed)
    m = montage(scaled, gap=GAP)
    pixels = {}
    if kind == "channels":
        c, h, w = tiles.shape
        fields = {"channel": np.arange(c)}
        labels = [str(i) for i in range(c)]
        what = f"{c} channels of {h}×{w}"
    else:
        # One tile of units, wrapped row by row: hover gives the unit number.
        rows, cols = tiles.shape[1:]
        pixels = {"unit": np.arange(rows * cols).reshape(rows, cols)}
        fields, labels = {}, None
        what = f"{np.asarray(a).size} units"
    scaled_note = (
        "each channel scaled to its own max"
        if per_channel and kind == "channels"
        else f"shared range {'±' if signed else '0 to '}{zmax:.3g}"
    )
    title = f"{layer_name}: {what}"
    raw = montage(tiles, ncols=m.ncols, gap=GAP).z if per_channel and kind == "channels" else None
    if kind == "units" and height is None:
        # A strip is only a few cells high: give its colour bar room for readable ticks.
        height = max(figure_height(m), UNITS_MIN_HEIGHT)
    fig = montage_figure(
        m,
        signed=signed,
        zmax=zmax,
        colorbar_title="÷ own max" if raw is not None else "activation",
        tile_fields=fields,
        pixel_fields=pixels,
        show_pixel=kind == "channels",
        raw=raw,
        labels=labels,
        title=title,
        subtitle=scaled_note,
        height=height,
    )
    if clickable and kind == "channels":
        for trace in fig.data:  # Plotly fades what is not selected: keep the numbers legible
            if trace.type == "scatter":
                trace.unselected = {"textfont": {"color": trace.textfont.color}}
        fig.add_trace(click_targets(m, int(fig.layout.height)))
    return fig


UNITS_MIN_HEIGHT = 190
"""Pixel height of a Dense layer's strip of units (its colour bar needs ~100 px)."""


def click_targets(m, height: int) -> dict:
    """Invisible markers at the tile centres of a montage, one per channel, in channel
    order: Plotly heatmaps send no click events, markers do. The clicked one is drawn as a
    dark square outline (Plotly's "selected" style).

    Parameters
    ----------
    m : Montage
    height : int
        The figure's pixel height (sizes the markers to about half a tile on screen).
    """
    h, w = m.tile_shape
    rows_px, cols_px = m.z.shape[:2]
    px_per_cell = min(WIDTH_HINT / max(cols_px, 1), (height - 80) / max(rows_px, 1))
    size = float(np.clip(0.6 * min(h, w) * px_per_cell, 8, 60))
    return {
        "type": "scatter",
        "x": m.origins[:, 1] + (w - 1) / 2,
        "y": m.origins[:, 0] + (h - 1) / 2,
        "customdata": np.arange(m.n),
        "mode": "markers",
        "marker": {
            "symbol": "square-open",
            "size": size,
            "color": "#111111",
            "line": {"width": 3},
            "opacity": 0,
        },
        "selected": {"marker": {"opacity": 1}},
        "unselected": {"marker": {"opacity": 0}},
        "hovertemplate": "channel %{customdata}: click to enlarge<extra></extra>",
        "showlegend": False,
        "name": "channels",
    }


def channel_figure(a: np.ndarray, *, title: str, signed: bool | None = None) -> go.Figure:
    """One feature map enlarged, with its value under the mouse. a: (H, W)."""
    a = np.asarray(a, dtype=np.float32)
    signed = is_signed(a) if signed is None else signed
    m = montage(a[None], ncols=1)
    zmax = float(np.abs(a).max(initial=0.0)) or 1.0
    return montage_figure(
        m, signed=signed, zmax=zmax, colorbar_title="activation", title=title, height=340
    )


def input_figure(x: np.ndarray, *, source: str = "") -> go.Figure:
    """The network's input after resizing and normalisation.

    Parameters
    ----------
    x : (C, H, W)
        One sample exactly as fed to the first layer. One channel: a grey image with its
        real values on the colour bar. Three channels: each channel side by side (after
        normalisation values can be negative, which an RGB picture cannot show).
    source : str
        Where the input came from, e.g. ``"test image #12"`` (subtitle).
    """
    x = np.asarray(x, dtype=np.float32)
    c, h, w = x.shape
    signed = is_signed(x)
    zmax = float(np.abs(x).max(initial=0.0)) or 1.0
    if c == 1:
        m = montage(x, ncols=1)
        fig = montage_figure(
            m,
            signed=signed,
            zmax=zmax,
            colorscale=None if signed else GREYS,
            colorbar_title="input value",
            title="Input as the network sees it",
            subtitle=", ".join(filter(None, [source, f"{h}×{w} after resizing and scaling"])),
            height=300,
        )
        return fig
    names = ["red", "green", "blue"] if c == 3 else [f"ch {i}" for i in range(c)]
    m = montage(x, ncols=c, gap=GAP)
    return montage_figure(
        m,
        signed=signed,
        zmax=zmax,
        colorscale=None if signed else GREYS,
        colorbar_title="input value",
        tile_fields={"channel": np.arange(c)},
        labels=names,
        title="Input as the network sees it",
        subtitle=", ".join(filter(None, [source, f"{c}×{h}×{w}, one tile per channel"])),
        height=240,
    )


def picture_figure(image: np.ndarray, *, title: str, height: int = 300) -> go.Figure:
    """An image for display only. image: (H, W) grey or (H, W, 3) in 0..255."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    m = montage(image[None], ncols=1)
    return rgb_montage_figure(m, title=title, height=height)


def probabilities_figure(
    probs: np.ndarray, class_names: list[str], *, true_label: int | None = None
) -> go.Figure:
    """Predicted class probabilities as horizontal bars, the predicted class highlighted.

    Parameters
    ----------
    probs : (K,) float, summing to 1
    class_names : K names
    true_label : int, optional
        Marks the true class when it is known (a dataset sample).
    """
    probs = np.asarray(probs, dtype=np.float64)
    k = len(probs)
    pred = int(np.argmax(probs))
    names = [str(n) for n in class_names][:k]
    colors = [PALETTE[0] if i == pred else "#B8C4CE" for i in range(k)]
    labels = [
        f"{names[i]}{'  ✓ true' if true_label is not None and i == true_label else ''}"
        for i in range(k)
    ]
    title = f"Prediction: {names[pred]} ({probs[pred] * 100:.1f}%)"
    layout = layout_spec(title, height=max(220, 26 * k + 90), x_title="probability (%)")
    layout["margin"]["r"] = 50
    layout["xaxis"].update(range=[0, 112], ticksuffix="%")
    layout["yaxis"].update(autorange="reversed", type="category")
    bar = {
        "type": "bar",
        "x": probs * 100,
        "y": labels,
        "orientation": "h",
        "marker": {"color": colors},
        "text": [f"{p * 100:.1f}%" for p in probs],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertemplate": "%{y}: %{x:.2f}%<extra></extra>",
    }
    return figure({"data": [bar], "layout": layout})
