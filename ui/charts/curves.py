"""Learning curves: loss and accuracy per step (raw + smoothed) and per epoch (validation).

Pure functions: a netcore `History` (or None) in, Plotly figures out. Curves are smoothed
first (on every point) and decimated after, so a long run stays under ~2,000 points per
trace without changing what the curve looks like.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import LR, RAW_ALPHA, TRAIN, VAL, base_layout, decimate, smooth

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
            go.Scatter(
                x=xr,
                y=yr,
                mode="lines",
                name=f"{name} (raw)",
                opacity=RAW_ALPHA,
                line={"color": TRAIN, "width": 1},
                showlegend=False,
                hoverinfo="skip",
            )
        )
        xs, ys = decimate(x, smooth(y, smoothing), MAX_POINTS)
    else:
        xs, ys = xr, yr
    traces.append(
        go.Scatter(x=xs, y=ys, mode="lines", name=name, line={"color": TRAIN, "width": 2})
    )


def _epoch_trace(traces, x, y, *, name: str, scale: float = 1.0) -> None:
    ok = np.isfinite(y)
    if not ok.any():
        return
    traces.append(
        go.Scatter(
            x=x[ok],
            y=y[ok] * scale,
            mode="lines+markers",
            name=name,
            line={"color": VAL, "width": 2},
            marker={"size": 8, "symbol": "diamond"},
        )
    )


def loss_figure(history, *, smoothing: float = 0.6, log_y: bool = False, height: int = 360):
    """Training loss per step (raw faint, smoothed bold) and validation loss per epoch."""
    traces = []
    x, y = _xy(history, "loss")
    _step_traces(traces, x, y, name="training loss", smoothing=smoothing)
    ex, ey = _epoch_xy(history, "val_loss")
    _epoch_trace(traces, ex, ey, name="validation loss")
    fig = go.Figure(traces)
    base_layout(
        fig, "Loss (lower is better)", "step (batches seen)", "cross-entropy", height=height
    )
    if log_y:
        fig.update_yaxes(type="log")
    _legend_below(fig)
    _empty_hint(fig, x.size == 0)
    return fig


def accuracy_figure(history, *, smoothing: float = 0.6, height: int = 360):
    """Training accuracy per step and validation accuracy per epoch, in percent."""
    traces = []
    x, y = _xy(history, "accuracy")
    _step_traces(traces, x, y, name="training accuracy", smoothing=smoothing, scale=100.0)
    ex, ey = _epoch_xy(history, "val_accuracy")
    _epoch_trace(traces, ex, ey, name="validation accuracy", scale=100.0)
    fig = go.Figure(traces)
    base_layout(
        fig, "Accuracy (higher is better)", "step (batches seen)", "% correct", height=height
    )
    fig.update_yaxes(range=[0, 100.5])
    _legend_below(fig)
    _empty_hint(fig, x.size == 0)
    return fig


def lr_figure(history, *, height: int = 200):
    """The learning rate used at each step (schedules and live changes show here)."""
    fig = go.Figure()
    x, y = _xy(history, "lr")
    if x.size:
        xs, ys = decimate(x, y, MAX_POINTS)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", name="learning rate", line={"color": LR})
        )
    base_layout(fig, "Learning rate", "step", "lr", height=height)
    _empty_hint(fig, x.size == 0)
    return fig


def _legend_below(fig) -> None:
    """Legend under the x-axis title: above the plot it collides with the chart title."""
    fig.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.28, "xanchor": "left", "x": 0},
        margin={"b": 90},
    )


def _empty_hint(fig, empty: bool) -> None:
    if empty:
        fig.add_annotation(
            text="The curve appears here once training starts.",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            font={"size": 14, "color": "#666666"},
        )
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)


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
