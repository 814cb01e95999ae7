"""Shared chart style: colour-blind-safe colours, one layout, and curve helpers.

Pure functions (NumPy + Plotly, no Streamlit), used by every chart builder in ui/charts/.

* `PALETTE` -- the Okabe-Ito palette, distinguishable with every common colour-vision
  deficiency. `TRAIN`, `VAL`, `LR` name the colours of the learning curves.
* `DIVERGING` -- a blue-white-red scale for signed values (weights, gradients); always use
  it with `signed_range` so that white means exactly zero.
* `base_layout` / `layout_dict` -- title, axis titles, white template, compact margins.
* `decimate` -- keep a long curve under ~2,000 points without losing its spikes.
* `smooth` -- exponential moving average, the same as TensorBoard's smoothing slider.
"""

from __future__ import annotations

import math

import numpy as np

PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe & Ito (2008) colours, ordered so that the first few contrast most."""

TRAIN = PALETTE[0]
VAL = PALETTE[1]
LR = PALETTE[2]
RAW_ALPHA = 0.25
"""Opacity of the raw (unsmoothed) curve drawn under its smoothed version."""

DIVERGING = [
    [0.0, "#2166AC"],
    [0.25, "#92C5DE"],
    [0.5, "#F7F7F7"],
    [0.75, "#F4A582"],
    [1.0, "#B2182B"],
]
"""Blue (negative) - white (zero) - red (positive); readable with red-green deficiencies."""

SEQUENTIAL = "Viridis"
"""For non-negative values (activations after ReLU, counts)."""

GREYS = [[0.0, "#000000"], [1.0, "#FFFFFF"]]
"""For images: black = 0, white = max."""


def color(i: int) -> str:
    """The i-th palette colour (wraps around)."""
    return PALETTE[i % len(PALETTE)]


def signed_range(values) -> dict:
    """Heatmap keyword arguments that centre `DIVERGING` on zero.

    Returns ``dict(colorscale=DIVERGING, zmid=0, zmin=-m, zmax=m)`` with ``m`` the largest
    absolute finite value (1 if there is none), so equal colours mean equal magnitudes on
    both sides of zero.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    m = float(np.max(np.abs(finite))) if finite.size else 1.0
    if m == 0.0:
        m = 1.0
    return {"colorscale": DIVERGING, "zmid": 0.0, "zmin": -m, "zmax": m}


LIGHT_TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {
            "gridcolor": "#EBEBEB",
            "zerolinecolor": "#D0D0D0",
            "linecolor": "#BBBBBB",
            "ticks": "outside",
            "tickcolor": "#BBBBBB",
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#EBEBEB",
            "zerolinecolor": "#D0D0D0",
            "linecolor": "#BBBBBB",
            "ticks": "outside",
            "tickcolor": "#BBBBBB",
            "automargin": True,
        },
    }
}
"""A light white template. Plotly's full "plotly_white" holds defaults for every trace type
and costs ~50 ms per figure to copy and validate; a live chart redraws every second."""


def layout_dict(
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    *,
    height: int | None = None,
) -> dict:
    """The project's look as a plain Plotly layout dict (what `base_layout` applies).

    White background, compact margins, horizontal legend above the plot, hover on the x
    value, the Okabe-Ito colours. A chart that redraws every second builds its figure from
    this dict directly (see `ui.charts.curves`), without Plotly's per-property validation.
    """
    layout = {
        "template": LIGHT_TEMPLATE,
        "title": {"text": title or "", "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        "margin": {"l": 55, "r": 15, "t": 50 if title else 25, "b": 45},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        "hovermode": "x unified",
        "colorway": list(PALETTE),
        "font": {"size": 13},
    }
    if height is not None:
        layout["height"] = height
    if x_title is not None:
        layout["xaxis"] = {"title": {"text": x_title}}
    if y_title is not None:
        layout["yaxis"] = {"title": {"text": y_title}}
    return layout


def base_layout(
    fig,
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    *,
    height: int | None = None,
):
    """Apply the project's look (`layout_dict`) to a Plotly figure and return it."""
    fig.update_layout(layout_dict(title, x_title, y_title, height=height))
    return fig


def decimate(x, y, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a curve to at most `max_points` points, keeping each bucket's min and max.

    Plain striding hides spikes (a loss blow-up between two kept points disappears);
    keeping the extremes of every bucket preserves the curve's envelope.

    Parameters
    ----------
    x, y : array-like, shape (n,)
    max_points : int

    Returns
    -------
    x, y : np.ndarray, shape (m,), m <= max(max_points, 2), in the original order.
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    if n <= max_points or max_points < 4:
        return x, y
    size = -(-n // (max_points // 2))  # points per bucket
    n_buckets = -(-n // size)
    nan = np.isnan(y)
    # NaN (a diverged step) counts as the largest value so that it stays visible, and is
    # ignored for the minimum. Padding never wins either.
    lo = np.full(n_buckets * size, np.inf)
    lo[:n] = np.where(nan, np.inf, y)
    hi = np.full(n_buckets * size, -np.inf)
    hi[:n] = np.where(nan, np.inf, y)
    offsets = np.arange(n_buckets) * size
    i_lo = offsets + lo.reshape(n_buckets, size).argmin(axis=1)
    i_hi = offsets + hi.reshape(n_buckets, size).argmax(axis=1)
    idx = np.unique(np.concatenate([i_lo, i_hi]))
    idx = idx[idx < n]
    return x[idx], y[idx]


def smooth(y, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing).

    ``s_t = w * s_{t-1} + (1 - w) * y_t``, divided by ``1 - w**t`` so the first points are
    not pulled towards zero. Non-finite values are passed through and do not enter the
    average.

    Parameters
    ----------
    y : array-like, shape (n,)
    weight : float in [0, 1); 0 returns `y` unchanged.

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    y = np.asarray(y, dtype=np.float64)
    if weight <= 0 or y.size == 0:
        return y.copy()
    weight = min(float(weight), 0.999)
    out = np.empty_like(y)
    last, count = 0.0, 0
    for i, v in enumerate(y.tolist()):
        if not math.isfinite(v):
            out[i] = v
            continue
        last = last * weight + (1.0 - weight) * v
        count += 1
        out[i] = last / (1.0 - weight**count)
    return out
