"""Many small maps in one figure: one heatmap (or image) trace with gaps, not facets.

A grid of 64 feature maps drawn as 64 subplots takes ~0.25 s to build; the same grid as one
heatmap whose gaps are ``nan`` takes a few milliseconds and draws faster in the browser.
Used by the filter and feature-map charts.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import DIVERGING, SEQUENTIAL, base_layout
from ui.inspect import Montage

LABEL_MIN_SCREEN_PX = 22
"""Tiles drawn smaller than this on screen get no printed number: it would hide the map."""

WIDTH_HINT = 900
"""Typical drawn width of a full-width chart in the wide layout (px)."""


def figure_height(m: Montage, width_hint: int = WIDTH_HINT, lo: int = 140, hi: int = 640) -> int:
    """Pixel height that shows square pixels across a ``width_hint``-wide chart."""
    rows_px, cols_px = m.z.shape[:2]
    return int(np.clip(width_hint * rows_px / max(cols_px, 1) + 40, lo, hi))


def show_labels(m: Montage, height: int, width_hint: int = WIDTH_HINT) -> bool:
    """True if tiles will be drawn big enough on screen to carry a printed number."""
    rows_px, cols_px = m.z.shape[:2]
    px_per_cell = min(width_hint / max(cols_px, 1), (height - 40) / max(rows_px, 1))
    return m.n <= 128 and min(m.tile_shape) * px_per_cell >= LABEL_MIN_SCREEN_PX


def _per_pixel(m: Montage, values: np.ndarray) -> np.ndarray:
    """Spread one integer per tile over that tile's pixels (-1 in the gaps).

    int16 keeps the hover data at half the size of the float32 values it describes.
    """
    index = m.tile_index()
    values = np.asarray(values, dtype=np.int16)
    return np.where(index >= 0, values[np.maximum(index, 0)], -1).astype(np.int16)


def _label_trace(m: Montage, labels: list[str]) -> go.Scatter:
    """Small numbers at each tile's top-left corner, with a white halo to stay readable."""
    r, c = m.origins[:, 0], m.origins[:, 1]
    return go.Scatter(
        x=c - 0.5 + 0.15 * m.tile_shape[1] ** 0.5,
        y=r - 0.5 + 0.1 * m.tile_shape[0] ** 0.5,
        text=labels,
        mode="text",
        textposition="bottom right",
        textfont={"size": 10, "color": "#111111", "shadow": "0px 0px 3px #ffffff"},
        hoverinfo="skip",
        showlegend=False,
    )


def _image_axes(fig: go.Figure) -> None:
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")


def montage_figure(
    m: Montage,
    *,
    signed: bool,
    zmax: float,
    colorbar_title: str,
    tile_fields: dict[str, np.ndarray] | None = None,
    raw: np.ndarray | None = None,
    labels: list[str] | None = None,
    title: str | None = None,
    height: int | None = None,
    colorscale=None,
) -> go.Figure:
    """One heatmap of a `Montage`, with hover naming the tile and giving its value.

    Parameters
    ----------
    m : Montage
        Grey tiles (``m.z`` 2-D).
    signed : bool
        True: diverging scale centred on 0, range ``[-zmax, zmax]``. False: sequential
        scale, range ``[0, zmax]``.
    zmax : float
        Top of the colour range (> 0).
    colorbar_title : str
        Says what the colour means, with units or "scaled per tile".
    tile_fields : dict name -> (n,) values, optional
        Shown on hover for every pixel of a tile, e.g. ``{"channel": np.arange(n)}``.
    raw : (rows_px, cols_px), optional
        Real values to show on hover when ``m.z`` was rescaled per tile.
    labels : list of n str, optional
        Printed on the tiles (skipped when tiles are tiny).
    """
    tile_fields = tile_fields or {}
    fields = [_per_pixel(m, v) for v in tile_fields.values()]
    parts = [f"{name} %{{customdata[{i}]:.0f}}" for i, name in enumerate(tile_fields)]
    value_ref = "%{z:.4g}"
    if raw is not None:
        fields = [f.astype(np.float32) for f in fields]
        fields.append(np.asarray(raw, dtype=np.float32))
        value_ref = f"%{{customdata[{len(fields) - 1}]:.4g}}"
    hover = "<br>".join([*parts, f"value {value_ref}", "pixel (%{y}, %{x})"]) + "<extra></extra>"
    customdata = np.stack(fields, axis=-1) if fields else None
    if signed:
        scale = {"colorscale": colorscale or DIVERGING, "zmid": 0.0, "zmin": -zmax, "zmax": zmax}
    else:
        scale = {"colorscale": colorscale or SEQUENTIAL, "zmin": 0.0, "zmax": zmax}
    fig = go.Figure(
        go.Heatmap(
            z=m.z,
            customdata=customdata,
            hovertemplate=hover,
            colorbar={"title": {"text": colorbar_title, "side": "right"}, "thickness": 14},
            hoverongaps=False,
            **scale,
        )
    )
    height = height or figure_height(m)
    if labels is not None and show_labels(m, height):
        fig.add_trace(_label_trace(m, labels))
    base_layout(fig, title, height=height)
    fig.update_layout(hovermode="closest", margin={"l": 10, "r": 10, "b": 10})
    _image_axes(fig)
    return fig


def rgb_montage_figure(
    m: Montage,
    *,
    tile_fields: dict[str, np.ndarray] | None = None,
    labels: list[str] | None = None,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """An RGB `Montage` (``m.z`` (rows, cols, 3) in 0..255, nan gaps) as one image trace."""
    z = np.where(np.isnan(m.z), 255.0, m.z).astype(np.uint8)
    tile_fields = tile_fields or {}
    customdata = None
    parts = []
    if tile_fields:
        customdata = np.stack([_per_pixel(m, v) for v in tile_fields.values()], axis=-1)
        parts = [f"{name} %{{customdata[{i}]:.0f}}" for i, name in enumerate(tile_fields)]
    hover = "<br>".join([*parts, "RGB %{z}"]) + "<extra></extra>"
    fig = go.Figure(go.Image(z=z, customdata=customdata, hovertemplate=hover))
    height = height or figure_height(m)
    if labels is not None and show_labels(m, height):
        fig.add_trace(_label_trace(m, labels))
    base_layout(fig, title, height=height)
    fig.update_layout(hovermode="closest", margin={"l": 10, "r": 10, "b": 10})
    _image_axes(fig)
    return fig
