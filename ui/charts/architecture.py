"""A picture of the layer stack: one box per layer, left to right, sized by its output.

Pure Plotly (no graphviz binary needed). Box height grows with the log of the number of
values a layer outputs, so the funnel of a CNN (large maps, then small vectors) is visible.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from ui.charts.style import PALETTE, base_layout

KIND_COLOURS = {
    "input": "#999999",
    "conv": PALETTE[0],
    "pool": PALETTE[4],
    "dense": PALETTE[1],
    "norm": PALETTE[5],
    "other": "#BBBBBB",
    "error": PALETTE[3],
}


def layer_kind(layer_type: str) -> str:
    if layer_type == "Conv2D":
        return "conv"
    if layer_type in ("MaxPool2D", "AvgPool2D"):
        return "pool"
    if layer_type == "Dense":
        return "dense"
    if layer_type.startswith("BatchNorm"):
        return "norm"
    return "other"


def _shape_text(shape) -> str:
    return "×".join(str(int(s)) for s in shape) if shape else "?"


def stack_figure(input_shape, boxes: list[dict], *, height: int = 260):
    """Draw the stack.

    Parameters
    ----------
    input_shape : tuple, shape of one sample
    boxes : list of dict with ``label`` (str), ``type`` (layer class), ``shape`` (output
        shape or None when unknown), ``error`` (bool), ``params`` (int)

    Returns
    -------
    plotly Figure
    """
    items = [
        {
            "label": "input",
            "type": "input",
            "shape": tuple(input_shape),
            "error": False,
            "params": 0,
        }
    ] + list(boxes)
    gap, width = 0.35, 1.0
    shapes, notes = [], []
    sizes = [math.prod(it["shape"]) if it.get("shape") else None for it in items]
    known = [s for s in sizes if s]
    top = math.log10(max(known)) if known else 1.0
    xs, ys, hover = [], [], []
    for i, (it, size) in enumerate(zip(items, sizes, strict=True)):
        x0 = i * (width + gap)
        h = 0.25 + 0.75 * (math.log10(size) / top if size and top > 0 else 0.3)
        kind = "error" if it.get("error") else ("input" if i == 0 else layer_kind(it["type"]))
        colour = KIND_COLOURS[kind]
        shapes.append(
            dict(
                type="rect",
                x0=x0,
                x1=x0 + width,
                y0=-h / 2,
                y1=h / 2,
                line={"color": colour, "width": 2},
                fillcolor=colour,
                opacity=0.35 if i else 0.2,
            )
        )
        notes.append(
            dict(
                x=x0 + width / 2,
                y=h / 2 + 0.06,
                text=f"<b>{it['label']}</b>",
                showarrow=False,
                yanchor="bottom",
                font={"size": 11},
            )
        )
        notes.append(
            dict(
                x=x0 + width / 2,
                y=-h / 2 - 0.06,
                text=("✗ does not fit" if it.get("error") else _shape_text(it.get("shape"))),
                showarrow=False,
                yanchor="top",
                font={"size": 11, "color": KIND_COLOURS["error"] if it.get("error") else "#333"},
            )
        )
        if i:
            notes.append(
                dict(
                    x=x0 - 0.02,
                    y=0,
                    ax=x0 - gap + 0.02,
                    ay=0,
                    xref="x",
                    yref="y",
                    axref="x",
                    ayref="y",
                    showarrow=True,
                    arrowhead=2,
                    arrowsize=1,
                    arrowwidth=1.2,
                    arrowcolor="#777",
                )
            )
        xs.append(x0 + width / 2)
        ys.append(0)
        params = f"<br>{it.get('params', 0):,} parameters" if i else ""
        hover.append(f"{it['label']}<br>output {_shape_text(it.get('shape'))}{params}")
    fig = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker={"opacity": 0, "size": 30},
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(shapes=shapes, annotations=notes)
    base_layout(fig, height=height)
    n = len(items)
    fig.update_xaxes(visible=False, range=[-0.2, n * (width + gap)])
    fig.update_yaxes(visible=False, range=[-0.85, 0.85])
    fig.update_layout(
        margin={"l": 5, "r": 5, "t": 5, "b": 5}, hovermode="closest", plot_bgcolor="white"
    )
    return fig
