"""Weights and gradients over training: histograms, distributions over time, norms, dead ReLUs.

These are the charts that show vanishing or exploding gradients: a gradient norm that falls
by orders of magnitude from the last layer to the first, an update-to-weight ratio far from
~1e-3, or ReLU units that stop firing for good.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.evaluate import LOG_TICKS, legend_below, line_traces
from ui.charts.montage import figure, layout_spec
from ui.charts.style import PALETTE, SEQUENTIAL, color, decimate

HEALTHY_RATIO = 1e-3
"""Rule of thumb: each step changes a weight matrix by about a thousandth of its size."""


def _centres(edges: np.ndarray) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.float64)
    return (edges[:-1] + edges[1:]) / 2


def _fractions(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def histogram_figure(
    edges: np.ndarray,
    now: np.ndarray,
    start: np.ndarray | None = None,
    *,
    what: str = "weight",
    name: str = "",
    now_label: str = "now",
    start_label: str = "start of training",
) -> go.Figure:
    """Histogram of one parameter's values (or gradients) now, over the one at the start.

    Parameters
    ----------
    edges : (B + 1,) bin edges shared by both histograms.
    now, start : (B,) counts; ``start`` optional (a loaded model has no start).
    what : "weight" or "gradient" (axis title).
    name : the parameter, e.g. ``"0.weight"``.

    Returns
    -------
    go.Figure with bars as the fraction of values per bin (%), so parameters of any size
    compare; a dashed line marks 0.
    """
    x = _centres(edges)
    width = float(np.diff(edges).mean()) if len(edges) > 1 else 1.0
    bars = []
    series = [(start, start_label, "#A0A0A0", 0.55), (now, now_label, PALETTE[0], 0.75)]
    for counts, label, colour, opacity in series:
        if counts is None:
            continue
        bars.append(
            {
                "type": "bar",
                "x": x,
                "y": _fractions(counts) * 100,
                "width": width,
                "name": label,
                "marker": {"color": colour},
                "opacity": opacity,
                "hovertemplate": f"{label}<br>%{{x:.3g}}: %{{y:.2f}}%<extra></extra>",
            }
        )
    layout = layout_spec(
        f"{what.capitalize()}s of {name}", height=300, x_title=what, y_title="share of values (%)"
    )
    layout.update(barmode="overlay", bargap=0)
    layout["shapes"] = [_zero_line()]
    return figure({"data": bars, "layout": layout})


def _zero_line() -> dict:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": 0,
        "x1": 0,
        "y0": 0,
        "y1": 1,
        "line": {"dash": "dot", "color": "#555555", "width": 1},
    }


def distribution_figure(
    steps: np.ndarray, edges: np.ndarray, counts: np.ndarray, *, what: str, name: str
) -> go.Figure:
    """Histograms stacked over training steps (TensorBoard's "distributions" as a heatmap).

    Parameters
    ----------
    steps : (T,) training steps of the records
    edges : (B + 1,) shared bin edges
    counts : (T, B) counts per record

    Each column is one step's histogram as a share of values per bin; the colour range stops
    at the 99th percentile so that a spike at 0 (zero-initialised biases) does not wash out
    the rest.
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0) * 100
    finite = share[share > 0]
    zmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    heatmap = {
        "type": "heatmap",
        "x": np.asarray(steps),
        "y": _centres(edges),
        "z": share.T,
        "colorscale": SEQUENTIAL,
        "zmin": 0,
        "zmax": zmax or 1.0,
        "colorbar": {"title": {"text": "% of values", "side": "right"}, "thickness": 14},
        "hovertemplate": f"step %{{x}}<br>{what} %{{y:.3g}}<br>%{{z:.2f}}% of values"
        "<extra></extra>",
    }
    layout = layout_spec(
        f"{what.capitalize()}s of {name} over training", height=300, x_title="step", y_title=what
    )
    return figure({"data": [heatmap], "layout": layout})


def curves_figure(
    steps: np.ndarray,
    series: dict[str, np.ndarray],
    *,
    title: str,
    y_title: str,
    log_y: bool = True,
    smoothing: float = 0.0,
    reference: float | None = None,
    reference_label: str = "",
    percent: bool = False,
    subtitle: str | None = None,
) -> go.Figure:
    """One line per layer (gradient norms, update ratios, dead-ReLU fractions).

    Parameters
    ----------
    steps : (T,)
    series : label -> (T,) values
    log_y : bool
        Norms span orders of magnitude between layers: a log axis shows them all.
    smoothing : float in [0, 1)
        Moving-average weight; the raw line stays faint underneath.
    reference : float, optional
        A dashed horizontal guide, e.g. 1e-3 for the update ratio.
    percent : bool
        Values are fractions shown as %.
    subtitle : str, optional
        A second, smaller title line.
    """
    steps = np.asarray(steps)
    traces = []
    for i, (label, y) in enumerate(series.items()):
        y = np.asarray(y, dtype=np.float64) * (100 if percent else 1)
        if log_y:
            # A zero (a step with no update) cannot sit on a log axis: leave a gap.
            y = np.where(y > 0, y, np.nan)
        x, y = decimate(steps, y)
        traces += line_traces(x, y, label, color(i), smoothing, "%" if percent else "")
    layout = layout_spec(
        title,
        height=330,
        x_title="step",
        y_title=y_title,
        hovermode="x unified",
        subtitle=subtitle,
    )
    if reference is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "yref": "y",
                "x0": 0,
                "x1": 1,
                "y0": reference,
                "y1": reference,
                "line": {"dash": "dash", "color": "#555555", "width": 1},
            }
        ]
        layout["annotations"] = [
            {
                "xref": "paper",
                "yref": "y",
                "x": 0,
                "y": reference,
                "text": reference_label,
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"size": 11, "color": "#555555"},
            }
        ]
        if log_y:  # annotations on a log axis are placed by the exponent
            layout["annotations"][0]["y"] = float(np.log10(reference))
    if log_y:
        layout["yaxis"].update(type="log", tickformat=LOG_TICKS, dtick="D2")
    if percent:
        layout["yaxis"].update(range=[0, 100], ticksuffix="%")
    legend_below(layout, len(series))
    return figure({"data": traces, "layout": layout})


def layer_bars_figure(
    labels: list[str], values: np.ndarray, *, title: str, y_title: str, log_y: bool = True
) -> go.Figure:
    """One bar per layer, input side on the left (e.g. gradient norm of each layer now):
    a vanishing gradient shows as bars that shrink towards the input."""
    values = np.asarray(values, dtype=np.float64)
    bar = {
        "type": "bar",
        "x": labels,
        "y": np.where(values > 0, values, np.nan) if log_y else values,
        "marker": {"color": PALETTE[0]},
        "hovertemplate": "%{x}: %{y:.3g}<extra></extra>",
    }
    layout = layout_spec(
        title, height=300, x_title="parameter (input side → output side)", y_title=y_title
    )
    layout["xaxis"]["type"] = "category"
    if log_y:
        layout["yaxis"].update(type="log", tickformat=LOG_TICKS, dtick="D2")
    return figure({"data": [bar], "layout": layout})
