"""Many small maps in one figure: one heatmap (or image) trace with gaps, not facets.

A grid of 64 feature maps drawn as 64 subplots takes ~0.25 s to build; the same grid as one
heatmap whose gaps are ``nan`` takes a few milliseconds and draws faster in the browser.
Used by the filter and feature-map charts.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import DIVERGING, PALETTE, SEQUENTIAL
from ui.inspect import Montage

LIGHT = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"color": "#2a3f5f"},
        "xaxis": {
            "gridcolor": "#EBF0F8",
            "linecolor": "#EBF0F8",
            "zerolinecolor": "#EBF0F8",
            "ticks": "",
            "automargin": True,
            "zerolinewidth": 2,
        },
        "yaxis": {
            "gridcolor": "#EBF0F8",
            "linecolor": "#EBF0F8",
            "zerolinecolor": "#EBF0F8",
            "ticks": "",
            "automargin": True,
            "zerolinewidth": 2,
        },
        "hoverlabel": {"align": "left"},
    }
)
"""The look of Plotly's "plotly_white" in the few settings our charts use. Naming the full
template costs ~12 ms per figure (Plotly deep-copies its defaults for every trace type);
this one costs ~0.5 ms, which matters on pages with a dozen charts."""


def figure(spec: dict) -> go.Figure:
    """A Figure from a plain ``{"data": [...], "layout": {...}}`` spec, without validation.

    Validating a spec costs ~5 ms per figure (most of a montage's build time; the LIGHT
    template alone is re-validated for every figure). The builders that use this are
    checked by unit tests on known arrays instead.
    """
    return go.Figure(spec, _validate=False)


LABEL_MIN_SCREEN_PX = 22
"""Tiles drawn smaller than this on screen get no printed number: it would hide the map."""

WIDTH_HINT = 900
"""Typical drawn width of a full-width chart in the wide layout (px)."""


def layout_spec(
    title: str | None = None,
    *,
    height: int | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    hovermode: str = "closest",
    subtitle: str | None = None,
) -> dict:
    """The project's look (as `ui.charts.style.base_layout`) as a plain layout dict.

    Building a figure from one dict validates each property once; successive
    ``update_layout`` / ``update_xaxes`` calls cost ~1 ms each, which adds up on a page of a
    dozen charts. A `subtitle` (a second, smaller title line) keeps titles short enough
    for a half-width column on a projector.
    """
    layout = {
        "template": LIGHT,
        "title": {"text": title or "", "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        "margin": {"l": 55, "r": 15, "t": 50 if title else 25, "b": 45},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        "hovermode": hovermode,
        "colorway": list(PALETTE),
        "font": {"size": 13},
        "xaxis": {},
        "yaxis": {},
    }
    if subtitle:
        layout["title"]["subtitle"] = {"text": subtitle, "font": {"size": 12}}
        layout["margin"]["t"] = 72
    if height is not None:
        layout["height"] = height
    if x_title is not None:
        layout["xaxis"]["title"] = {"text": x_title}
    if y_title is not None:
        layout["yaxis"]["title"] = {"text": y_title}
    return layout


def image_layout(title: str | None, height: int, subtitle: str | None = None) -> dict:
    """Square pixels, row 0 at the top, no ticks: a montage reads like a picture."""
    layout = layout_spec(title, height=height, subtitle=subtitle)
    layout["xaxis"] = {"visible": False, "constrain": "domain"}
    layout["yaxis"] = {
        "visible": False,
        "autorange": "reversed",
        "scaleanchor": "x",
        "constrain": "domain",
    }
    layout["margin"] = {"l": 10, "r": 10, "b": 10, "t": (72 if subtitle else 50) if title else 10}
    return layout


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


LABEL_STYLES = {
    # Dark text with a white halo: over the white middle of a diverging scale.
    "dark": {"color": "#111111", "shadow": "0px 0px 3px #ffffff"},
    # White text with a dark halo: over the dark end of a sequential scale or a photo.
    "light": {"color": "#ffffff", "shadow": "0px 0px 3px #000000"},
}


def _label_trace(
    m: Montage, labels: list[str], style: str = "dark", above: bool = False, size: int = 11
) -> dict:
    """Text at each tile's top-left corner (or just above the tile, in a padded band)."""
    r, c = m.origins[:, 0], m.origins[:, 1]
    x = c - 0.5 + 0.15 * m.tile_shape[1] ** 0.5
    y = r - 0.5 if above else r - 0.5 + 0.1 * m.tile_shape[0] ** 0.5
    return {
        "type": "scatter",
        "x": x if not above else c - 0.5,
        "y": y,
        "text": labels,
        "mode": "text",
        "textposition": "top right" if above else "bottom right",
        "textfont": {"size": size, **LABEL_STYLES[style]},
        "hoverinfo": "skip",
        "showlegend": False,
    }


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
    pixel_fields: dict[str, np.ndarray] | None = None,
    show_pixel: bool = True,
    subtitle: str | None = None,
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
    pixel_fields : dict name -> (rows_px, cols_px) ints, optional
        Shown on hover per pixel, e.g. the unit number of a Dense layer's strip.
    show_pixel : bool
        Name the pixel (row, column) on hover.
    raw : (rows_px, cols_px), optional
        Real values to show on hover when ``m.z`` was rescaled per tile.
    labels : list of n str, optional
        Printed on the tiles (skipped when tiles are tiny).
    subtitle : str, optional
        A second title line (how the colours are scaled).
    """
    tile_fields = tile_fields or {}
    pixel_fields = pixel_fields or {}
    fields = [_per_pixel(m, v) for v in tile_fields.values()]
    fields += [np.asarray(v, dtype=np.int16) for v in pixel_fields.values()]
    names = [*tile_fields, *pixel_fields]
    parts = [f"{name} %{{customdata[{i}]:.0f}}" for i, name in enumerate(names)]
    value_ref = "%{z:.4g}"
    if raw is not None:
        fields = [f.astype(np.float32) for f in fields]
        fields.append(np.asarray(raw, dtype=np.float32))
        value_ref = f"%{{customdata[{len(fields) - 1}]:.4g}}"
    where = ["pixel (%{y}, %{x})"] if show_pixel else []
    hover = "<br>".join([*parts, f"value {value_ref}", *where]) + "<extra></extra>"
    customdata = np.stack(fields, axis=-1) if fields else None
    if signed:
        scale = {"colorscale": colorscale or DIVERGING, "zmid": 0.0, "zmin": -zmax, "zmax": zmax}
    else:
        scale = {"colorscale": colorscale or SEQUENTIAL, "zmin": 0.0, "zmax": zmax}
    heatmap = {
        "type": "heatmap",
        "z": m.z,
        "hovertemplate": hover,
        "colorbar": {"title": {"text": colorbar_title, "side": "right"}, "thickness": 14},
        "hoverongaps": False,
        **scale,
    }
    if customdata is not None:
        heatmap["customdata"] = customdata
    height = height or figure_height(m)
    data = [heatmap]
    if labels is not None and show_labels(m, height):
        data.append(_label_trace(m, labels, "dark" if signed else "light"))
    return figure({"data": data, "layout": image_layout(title, height, subtitle)})


def rgb_montage_figure(
    m: Montage,
    *,
    tile_fields: dict[str, np.ndarray] | None = None,
    labels: list[str] | None = None,
    title: str | None = None,
    height: int | None = None,
    labels_above: bool = False,
    subtitle: str | None = None,
) -> go.Figure:
    """An RGB `Montage` (``m.z`` (rows, cols, 3) in 0..255, nan gaps) as one image trace.

    ``labels_above``: print the labels in the band above each tile (``montage(top_pad=)``)
    instead of over the image.
    """
    z = np.where(np.isnan(m.z), 255.0, m.z).astype(np.uint8)
    tile_fields = tile_fields or {}
    image = {"type": "image", "z": z}
    parts = []
    if tile_fields:
        image["customdata"] = np.stack([_per_pixel(m, v) for v in tile_fields.values()], axis=-1)
        parts = [f"{name} %{{customdata[{i}]:.0f}}" for i, name in enumerate(tile_fields)]
    image["hovertemplate"] = "<br>".join([*parts, "RGB %{z}"]) + "<extra></extra>"
    height = height or figure_height(m)
    data = [image]
    if labels is not None and (labels_above or show_labels(m, height)):
        style = "dark" if labels_above else "light"
        data.append(_label_trace(m, labels, style, labels_above, 13 if labels_above else 11))
    return figure({"data": data, "layout": image_layout(title, height, subtitle)})
