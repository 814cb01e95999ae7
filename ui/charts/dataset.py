"""Dataset charts for the Data page: a labelled grid of sample images and the class counts.

Pure functions: arrays in, Plotly figures out. The grid is ONE image trace (a montage with
white gaps), not one subplot per image, so 100 samples draw in milliseconds.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import PALETTE, base_layout


def sample_montage(
    pixels: np.ndarray, per_row: int, gap: int = 2, blank: np.ndarray | None = None
) -> np.ndarray:
    """Tile uint8 images ``(N, C, H, W)`` on rows of `per_row`, gaps white.

    `blank` (bool, (N,)) marks slots left white (a class with fewer images).

    Returns
    -------
    uint8 (rows*(H+gap)-gap, per_row*(W+gap)-gap, 3): an RGB image (grey is repeated).
    """
    n, c, h, w = pixels.shape
    rows = -(-n // per_row)
    out = np.full((rows * (h + gap) - gap, per_row * (w + gap) - gap, 3), 255, dtype=np.uint8)
    rgb = np.repeat(pixels, 3, axis=1) if c == 1 else pixels[:, :3]
    for i in range(n):
        if blank is not None and blank[i]:
            continue
        r, col = divmod(i, per_row)
        y, x = r * (h + gap), col * (w + gap)
        out[y : y + h, x : x + w] = np.moveaxis(rgb[i], 0, -1)
    return out


def sample_grid_figure(pixels: np.ndarray, labels: np.ndarray, class_names, per_class: int):
    """One row per class (up to `per_class` images), the class name at the left of its row.

    Parameters
    ----------
    pixels : uint8 (N, C, H, W)
    labels : int (N,)
    class_names : sequence of str, index = label
    per_class : int, images per row
    """
    labels = np.asarray(labels, dtype=np.int64)
    _, c, h, w = pixels.shape
    present = sorted({int(v) for v in labels})
    slots = np.zeros((len(present) * per_class, c, h, w), dtype=np.uint8)
    blank = np.ones(len(slots), dtype=bool)
    for r, k in enumerate(present):
        idx = np.flatnonzero(labels == k)[:per_class]
        slots[r * per_class : r * per_class + len(idx)] = pixels[idx]
        blank[r * per_class : r * per_class + len(idx)] = False
    gap = max(1, h // 14)
    img = sample_montage(slots, per_class, gap, blank)
    fig = go.Figure(go.Image(z=img, hoverinfo="skip"))
    names = [str(class_names[k]) if k < len(class_names) else str(k) for k in present]
    fig.update_yaxes(
        tickvals=[r * (h + gap) + h / 2 for r in range(len(present))],
        ticktext=names,
        showgrid=False,
        ticks="",
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    base_layout(fig)
    fig.update_layout(
        height=int(min(900, max(200, 46 * len(present) + 20))),
        margin={"l": 90, "r": 10, "t": 10, "b": 10},
        hovermode=False,
    )
    return fig


def class_counts_figure(y_train: np.ndarray, y_test: np.ndarray, class_names):
    """Grouped bars: images per class in the training and test splits."""
    k = len(class_names)
    tr = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=k)[:k]
    te = np.bincount(np.asarray(y_test, dtype=np.int64), minlength=k)[:k]
    names = [str(c) for c in class_names]
    fig = go.Figure(
        [
            go.Bar(x=names, y=tr, name="training", marker_color=PALETTE[0]),
            go.Bar(x=names, y=te, name="test", marker_color=PALETTE[1]),
        ]
    )
    base_layout(fig, "Images per class", None, "images", height=300)
    fig.update_layout(barmode="group", hovermode="x")
    fig.update_xaxes(type="category")
    return fig, {"class": names, "train": tr, "test": te}
