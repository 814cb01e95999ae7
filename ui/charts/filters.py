"""Conv filters as an image grid: what pattern each kernel responds to."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.montage import montage_figure, rgb_montage_figure
from ui.inspect import filter_tiles, filters_rgb, montage, scale_tiles

GAP = 1
MIN_LABELLED_KERNEL = 5
"""Smaller kernels get no printed number: on a 3×3 tile it would hide a ninth of the
weights (hover names the filter instead)."""


def range_note(per_filter: bool, zmax: float) -> str:
    """The sentence that says how colours map to weights (the chart's subtitle)."""
    if per_filter:
        return "each filter scaled to its own largest |w|"
    return f"one shared range ±{zmax:.3g} for all filters"


def filters_figure(
    weight: np.ndarray,
    *,
    mode: str = "average",
    channel: int = 0,
    per_filter: bool = False,
    rgb: bool = False,
    layer_name: str = "conv",
    title: str | None = None,
    height: int | None = None,
    subtitle: str | None = None,
) -> go.Figure:
    """Every kernel of one Conv2D layer as a grid of small images.

    Parameters
    ----------
    weight : (out_c, in_c, kH, kW)
    mode : {"average", "channel", "all"}
        How multi-channel kernels become one 2-D tile (see `ui.inspect.filter_tiles`);
        ignored when ``rgb``.
    channel : int
        Input channel shown in ``mode="channel"``.
    per_filter : bool
        Scale each filter to its own largest magnitude (else one range for the layer).
    rgb : bool
        Draw 3-channel kernels in colour (first layer of a colour network): mid grey is 0.
    layer_name : str
        Names the layer in the title, e.g. ``"layer 0 · Conv2D"``.
    title, height : optional
        Replace the generated title (a short one for a small chart) and height.
    subtitle : optional
        The second title line under a replaced title (else none).

    Returns
    -------
    go.Figure
        Signed kernels use a diverging scale with ``zmid=0`` and ``zmin=-zmax``: white is
        exactly zero, blue negative, red positive.
    """
    title_override, subtitle_override = title, subtitle
    weight = np.asarray(weight, dtype=np.float32)
    out_c, in_c, kh, kw = weight.shape
    shape = f"{out_c} filters {kh}×{kw}"
    if rgb:
        m = montage(filters_rgb(weight, per_filter), ncols=None, gap=GAP)
        peak = float(np.abs(weight).max(initial=0.0)) or 1.0
        title = f"{layer_name}: {shape} in colour"
        subtitle = f"mid grey = 0 · {range_note(per_filter, peak)}"
        return rgb_montage_figure(
            m,
            tile_fields={"filter": np.arange(out_c)},
            labels=[str(i) for i in range(out_c)] if min(kh, kw) >= MIN_LABELLED_KERNEL else None,
            title=title_override or title,
            subtitle=subtitle_override if title_override else subtitle,
            height=height,
        )

    tiles = filter_tiles(weight, mode, channel)
    scaled, zmax = scale_tiles(tiles, per_tile=per_filter, signed=True)
    if mode == "all":
        m = montage(scaled, ncols=in_c, gap=GAP)
        fields = {
            "filter": np.repeat(np.arange(out_c), in_c),
            "input channel": np.tile(np.arange(in_c), out_c),
        }
        labels = None
        what = f"rows = {out_c} filters, columns = {in_c} input channels"
    else:
        m = montage(scaled, gap=GAP)
        fields = {"filter": np.arange(out_c)}
        labels = [str(i) for i in range(out_c)] if min(kh, kw) >= MIN_LABELLED_KERNEL else None
        what = shape + (
            f", input channel {channel}"
            if mode == "channel"
            else (f", mean over {in_c} input channels" if in_c > 1 else "")
        )
    raw = montage(tiles, ncols=m.ncols, gap=GAP).z if per_filter else None
    colorbar = "w / max|w| (per filter)" if per_filter else "weight"
    title = title_override or f"{layer_name}: {what}"
    subtitle = (
        subtitle_override if title_override else f"white = 0 · {range_note(per_filter, zmax)}"
    )
    return montage_figure(
        m,
        signed=True,
        zmax=zmax,
        colorbar_title=colorbar,
        tile_fields=fields,
        raw=raw,
        labels=labels,
        title=title,
        subtitle=subtitle,
        height=height,
    )
