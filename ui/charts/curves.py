"""Learning curves: loss and accuracy per step (raw + smoothed) and per epoch (validation).

Pure functions: a netcore `History` (or None) in, Plotly figures out. Curves are smoothed
first (on every point) and decimated after, so a long run stays under ~2,000 points per
trace without changing what the curve looks like. Figures are built from plain dicts without
Plotly's validation: they are redrawn every second while a run trains.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import LR, RAW_ALPHA, TRAIN, VAL, decimate, layout_dict, smooth

MAX_POINTS = 2000


def _xy(history, key: str) -> tuple[np.ndarray, np.ndarray]:
    if history is None or len(history) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return history.array("step").astype(np.int64), history.array(key)


def _epoch_xy(history, key: str) -> tuple[np.ndarray, np.ndarray]:
    if history is None or not history.epochs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return history.epoch_array("step").astype(np.int64), history.epoch_array(key)


def _step_traces(traces, x, y, *, name: str, smoothing: float, scale: float = 1.0) -> None:
    """A faint raw curve and its smoothed version on top (same colour)."""
    if x.size == 0:
        return
    y = y * scale
    xr, yr = decimate(x, y, MAX_POINTS)
    if smoothing > 0:
        traces.append(
            {
                "type": "scatter",
                "x": xr,
                "y": yr,
                "mode": "lines",
                "name": f"{name} (raw)",
                "opacity": RAW_ALPHA,
                "line": {"color": TRAIN, "width": 1},
                "showlegend": False,
                "hoverinfo": "skip",
            }
        )
        xs, ys = decimate(x, smooth(y, smoothing), MAX_POINTS)
    else:
        xs, ys = xr, yr
    traces.append(
        {
            "type": "scatter",
            "x": xs,
            "y": ys,
            "mode": "lines",
            "name": name,
            "line": {"color": TRAIN, "width": 2},
        }
    )


def _epoch_trace(traces, x, y, *, name: str, scale: float = 1.0) -> None:
    ok = np.isfinite(y)
    if not ok.any():
        return
    traces.append(
        {
            "type": "scatter",
            "x": x[ok],
            "y": y[ok] * scale,
            "mode": "lines+markers",
            "name": name,
            "line": {"color": VAL, "width": 2},
            "marker": {"size": 8, "symbol": "diamond"},
        }
    )


def _figure(traces: list, layout: dict) -> go.Figure:
    """A Figure from plain dicts, without Plotly's property validation.

    The live charts are rebuilt every second while a run trains; validating them cost
    30-90 ms each on the server (the training thread's time). The dicts are fixed by this
    module and checked once by the tests (`go.Figure(fig.to_dict())` validates).
    """
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def _curve_layout(title: str, y_title: str, height: int, empty: bool) -> dict:
    layout = layout_dict(title, "step (batches seen)", y_title, height=height)
    # Legend under the x-axis title: above the plot it collides with the chart title.
    layout["legend"] = {"orientation": "h", "yanchor": "top", "y": -0.28, "xanchor": "left", "x": 0}
    layout["margin"] = {**layout["margin"], "b": 90}
    if empty:
        _empty_hint(layout)
    return layout


def _empty_hint(layout: dict) -> None:
    layout["annotations"] = [
        {
            "text": "The curve appears here once training starts.",
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
            "font": {"size": 14, "color": "#666666"},
        }
    ]
    layout["xaxis"]["showticklabels"] = False
    layout["yaxis"]["showticklabels"] = False


def loss_figure(history, *, smoothing: float = 0.6, log_y: bool = False, height: int = 360):
    """Training loss per step (raw faint, smoothed bold) and validation loss per epoch."""
    traces = []
    x, y = _xy(history, "loss")
    _step_traces(traces, x, y, name="training loss", smoothing=smoothing)
    ex, ey = _epoch_xy(history, "val_loss")
    _epoch_trace(traces, ex, ey, name="validation loss")
    layout = _curve_layout("Loss (lower is better)", "cross-entropy", height, x.size == 0)
    if log_y:
        layout["yaxis"]["type"] = "log"
    return _figure(traces, layout)


def accuracy_figure(history, *, smoothing: float = 0.6, height: int = 360):
    """Training accuracy per step and validation accuracy per epoch, in percent."""
    traces = []
    x, y = _xy(history, "accuracy")
    _step_traces(traces, x, y, name="training accuracy", smoothing=smoothing, scale=100.0)
    ex, ey = _epoch_xy(history, "val_accuracy")
    _epoch_trace(traces, ex, ey, name="validation accuracy", scale=100.0)
    layout = _curve_layout("Accuracy (higher is better)", "% correct", height, x.size == 0)
    layout["yaxis"]["range"] = [0, 100.5]
    return _figure(traces, layout)


def lr_figure(history, *, height: int = 200):
    """The learning rate used at each step (schedules and live changes show here)."""
    traces = []
    x, y = _xy(history, "lr")
    if x.size:
        xs, ys = decimate(x, y, MAX_POINTS)
        traces.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "name": "learning rate",
                "line": {"color": LR},
            }
        )
    layout = layout_dict("Learning rate", "step", "lr", height=height)
    if x.size == 0:
        _empty_hint(layout)
    return _figure(traces, layout)


def step_table(history) -> dict:
    """Per-step columns for a CSV download."""
    if history is None or len(history) == 0:
        return {"step": [], "epoch": [], "loss": [], "accuracy": [], "lr": []}
    return {k: history.array(k) for k in ("step", "epoch", "loss", "accuracy", "lr")}


def epoch_table(history) -> dict:
    """Per-epoch columns for a CSV download."""
    keys = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
    if history is None or not history.epochs:
        return {k: [] for k in keys}
    return {k: history.epoch_array(k) for k in keys}
