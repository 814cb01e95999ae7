"""Evaluation charts: confusion matrix, precision/recall, misclassified gallery, run comparison."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.montage import figure, figure_height, layout_spec, rgb_montage_figure
from ui.charts.style import PALETTE, RAW_ALPHA, color, decimate, smooth
from ui.inspect import montage

CONFUSION_SCALE = [[0.0, "#FFFFFF"], [0.15, "#DCE9F5"], [1.0, "#08306B"]]
"""White (none) to dark blue (many): one hue, readable whatever the colour vision."""


def confusion_figure(cm: np.ndarray, class_names: list[str], *, normalized: bool) -> go.Figure:
    """Confusion matrix: rows the true class, columns the predicted class.

    Parameters
    ----------
    cm : (K, K) int
        Counts (``cm[i, j]``: true ``i`` predicted as ``j``).
    class_names : K names
    normalized : bool
        Show each row as percentages of its class (recall on the diagonal) instead of counts.
    """
    cm = np.asarray(cm)
    k = cm.shape[0]
    names = [str(n) for n in class_names][:k]
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(totals > 0, 100.0 * cm / np.where(totals > 0, totals, 1), np.nan)
    z = pct if normalized else cm.astype(np.float64)
    text = "%{z:.0f}%" if normalized else "%{z:d}"
    zmax = 100.0 if normalized else float(max(cm.max(initial=0), 1))
    heatmap = {
        "type": "heatmap",
        "z": z,
        "x": names,
        "y": names,
        "customdata": np.stack([cm, np.nan_to_num(pct)], axis=-1),
        "colorscale": CONFUSION_SCALE,
        "zmin": 0,
        "zmax": zmax,
        "textfont": {"size": 11 if k <= 12 else 9},
        "hovertemplate": (
            "true %{y}, predicted %{x}<br>%{customdata[0]:d} images"
            " (%{customdata[1]:.1f}% of true %{y})<extra></extra>"
        ),
        "colorbar": {"title": {"text": "% of true class" if normalized else "images"}},
        "xgap": 1,
        "ygap": 1,
    }
    if k <= 20:  # beyond that the numbers would not fit the cells
        heatmap["texttemplate"] = text
    what = "% of each true class (rows sum to 100)" if normalized else "counts of test images"
    layout = layout_spec(
        "Confusion matrix",
        subtitle=what,
        height=max(360, 34 * k + 140),
        x_title="predicted class",
        y_title="true class",
    )
    layout["xaxis"].update(type="category", side="bottom", showgrid=False)
    # Square cells, centred: the matrix keeps its shape on any screen width.
    layout["yaxis"].update(
        type="category", autorange="reversed", showgrid=False, scaleanchor="x", constrain="domain"
    )
    layout["xaxis"]["constrain"] = "domain"
    return figure({"data": [heatmap], "layout": layout})


def precision_recall_figure(pr: dict[str, np.ndarray], class_names: list[str]) -> go.Figure:
    """Per-class precision and recall as grouped bars (percent).

    Parameters
    ----------
    pr : dict with (K,) arrays ``precision``, ``recall`` (nan where undefined) and
        ``support`` (see `netcore.metrics.precision_recall`).
    """
    k = len(pr["precision"])
    names = [str(n) for n in class_names][:k]
    bars = []
    for i, label in enumerate(("precision", "recall")):
        v = np.asarray(pr[label], dtype=np.float64) * 100
        bars.append(
            {
                "type": "bar",
                "x": names,
                # Undefined (a class never predicted has no precision): no bar, an "n/a" note.
                "y": [None if np.isnan(a) else float(a) for a in v],
                "name": label,
                "marker": {"color": PALETTE[i]},
                "customdata": np.stack([v, pr["support"]], axis=-1),
                "hovertemplate": (
                    f"class %{{x}}<br>{label} %{{customdata[0]:.1f}}%"
                    "<br>%{customdata[1]:d} test images<extra></extra>"
                ),
            }
        )
    layout = layout_spec("Precision and recall per class", height=340, x_title="class", y_title="%")
    layout.update(barmode="group", bargap=0.25)
    layout["annotations"] = [
        {
            "x": names[c],
            "y": 0,
            "text": "n/a",
            "showarrow": False,
            "yanchor": "bottom",
            "xshift": -12 if i == 0 else 12,
            "font": {"size": 10},
            "hovertext": f"{label} undefined: no test image is "
            + ("predicted as" if i == 0 else "of")
            + f" class {names[c]}",
        }
        for i, label in enumerate(("precision", "recall"))
        for c in np.flatnonzero(np.isnan(np.asarray(pr[label], dtype=np.float64)))
    ]
    layout["xaxis"]["type"] = "category"
    layout["yaxis"].update(range=[0, 105], ticksuffix="%")
    return figure({"data": bars, "layout": layout})


def to_display(images: np.ndarray) -> np.ndarray:
    """Images for display as (M, H, W, 3) in 0..255.

    Parameters
    ----------
    images : (M, H, W), (M, 1, H, W), (M, 3, H, W) or (M, H, W, 3)
        uint8 0..255 or floats in any range (stretched to 0..255 over the whole set, so
        relative brightness between images is kept).
    """
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    x = x.astype(np.float32)
    if images.dtype != np.uint8:
        lo, hi = float(np.nanmin(x, initial=0.0)), float(np.nanmax(x, initial=0.0))
        x = (x - lo) / (hi - lo or 1.0) * 255.0
    if x.ndim == 3:
        x = np.repeat(x[..., None], 3, axis=-1)
    return x


def gallery_figure(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    confidence: np.ndarray,
    class_names: list[str],
    *,
    ncols: int = 8,
) -> go.Figure:
    """Misclassified images, in the given order, each labelled "true → predicted  p%".

    Parameters
    ----------
    images : (M, ...) see `to_display`
    true, pred : (M,) int
    confidence : (M,) float
        Probability the network gave to its (wrong) prediction.
    """
    m = len(images)
    names = [str(n) for n in class_names]
    tiles = to_display(images)
    h = tiles.shape[1]
    if max((len(n) for n in names), default=0) > 4:
        ncols = min(ncols, 6)  # long class names need wider tiles for their caption
    mont = montage(tiles, ncols=min(ncols, max(m, 1)), gap=max(2, h // 10), top_pad=h // 3)
    labels = [
        f"{names[t]}→{names[p]} {c * 100:.0f}%"
        for t, p, c in zip(true, pred, confidence, strict=True)
    ]
    return rgb_montage_figure(
        mont,
        tile_fields={"rank": np.arange(1, m + 1), "true": true, "predicted": pred},
        labels=labels,
        labels_above=True,
        title=f"The {m} most confident mistakes",
        subtitle="above each image: true class → predicted class, confidence",
        height=figure_height(mont, lo=200, hi=1000),
    )


def runs_figure(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    metric: str,
    x_title: str = "step",
    log_y: bool = False,
    smoothing: float = 0.0,
    percent: bool = False,
) -> go.Figure:
    """One metric of several runs overlaid.

    Parameters
    ----------
    curves : run name -> (x (n,), y (n,))
    metric : axis title, e.g. "training loss"
    log_y : bool
        Log axis (losses: early and late progress both visible).
    smoothing : float in [0, 1)
        Exponential moving average weight; the raw curve stays as a faint line beneath.
    percent : bool
        y holds fractions shown as percentages.
    """
    traces = []
    for i, (name, (x, y)) in enumerate(curves.items()):
        x, y = decimate(np.asarray(x), np.asarray(y, dtype=np.float64))
        if percent:
            y = y * 100
        traces += line_traces(x, y, name, color(i), smoothing, "%" if percent else "")
    layout = layout_spec(
        f"{metric[:1].upper()}{metric[1:]} of each run",
        height=340,
        x_title=x_title,
        y_title=metric + (" (%)" if percent else ""),
        hovermode="x unified",
    )
    if log_y:
        layout["yaxis"].update(type="log", tickformat=LOG_TICKS, dtick="D2")
    legend_below(layout, len(curves))
    return figure({"data": traces, "layout": layout})


LOG_TICKS = ".2~g"
"""Log-axis tick labels as plain numbers (0.002, 0.5, 3) rather than Plotly's mix of
exponents and bare digits."""


def legend_below(layout: dict, n: int) -> None:
    """Put a legend of ``n`` entries under the plot, growing the chart to fit it: a legend
    above would run into the title once it wraps in a half-width column."""
    rows = max(1, -(-n // 2))
    layout["legend"] = {
        "orientation": "h",
        "yanchor": "top",
        "y": -0.3,
        "xanchor": "left",
        "x": 0.0,
    }
    layout["margin"]["b"] = 60 + 22 * rows
    layout["height"] = layout.get("height", 330) + 22 * rows


def line_traces(x, y, name: str, colour: str, smoothing: float, suffix: str = "") -> list[dict]:
    """A curve (smoothed when asked) over its faint raw version, as trace dicts."""
    traces = []
    if smoothing > 0:
        traces.append(
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "mode": "lines",
                "line": {"color": colour, "width": 1},
                "opacity": RAW_ALPHA,
                "showlegend": False,
                "hoverinfo": "skip",
                "legendgroup": name,
            }
        )
    traces.append(
        {
            "type": "scatter",
            "x": x,
            "y": smooth(y, smoothing),
            "mode": "lines",
            "name": name,
            "line": {"color": colour, "width": 2},
            "legendgroup": name,
            "hovertemplate": f"%{{y:.4g}}{suffix}",
        }
    )
    return traces
