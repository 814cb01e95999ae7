"""Charts of the teaching pages: number grids for the convolution walkthrough, gradient-check
errors, and the healthy-vs-broken training curves.

Pure functions (NumPy + Plotly, no Streamlit).

A number grid is a heatmap with the value written in every cell (small grids only, so the
numbers stay readable when projected), an optional highlighted window (the kernel's current
position) and optional marked cells (a pool window's winner).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from ui.charts.style import DIVERGING, PALETTE, base_layout, layout_dict

HIGHLIGHT = "#D55E00"
"""Outline of the current window (vermillion: visible on both the blue and the red end)."""
SECONDARY = "#009E73"
"""Outline of related cells (the winner of a pool window, the cells a gradient reaches)."""
GREYS_LIGHT = [[0.0, "#FFFFFF"], [1.0, "#4D4D4D"]]
"""For inputs in [0, 1]: white background, dark strokes; black numbers stay readable."""


def fmt(v: float, digits: int = 2) -> str:
    """Short, stable number text: ``0.5 -> "0.5"``, ``-0.25 -> "-0.25"``, ``0 -> "0"``."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    s = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def number_grid(
    values: np.ndarray,
    *,
    title: str = "",
    name: str = "",
    window: tuple[int, int, int, int] | None = None,
    marks: list[tuple[int, int]] | None = None,
    filled: np.ndarray | None = None,
    signed: bool | None = None,
    digits: int = 2,
    cell_px: int = 38,
    zmax: float | None = None,
    show_text: bool = True,
    row_offset: int = 0,
    col_offset: int = 0,
    padding: int = 0,
) -> go.Figure:
    """A small matrix drawn as coloured cells with its numbers written in.

    Built as a plain figure dict without Plotly's per-property validation: the walkthrough
    redraws three grids at every step, and validation made each grid cost ~60 ms of server
    time (the dict is checked once by the tests).

    Parameters
    ----------
    values : (H, W)
    title : drawn above the grid; name : kept in ``layout.meta.title`` (tests, exports)
    window : (row, col, height, width) outlined in `HIGHLIGHT` (e.g. the kernel's position)
    marks : cells outlined in `SECONDARY` (e.g. a pool winner)
    filled : (H, W) bool; cells not yet computed are drawn empty (a grid filling up)
    signed : zero-centred blue-white-red scale (default: when any value is negative);
        otherwise white to dark grey
    zmax : fix the colour range (default: the largest |value|)
    row_offset, col_offset : first row/column label (e.g. -1 for a padded border)
    padding : width of a zero-padding border, shaded grey so it is not mistaken for pixels
    """
    v = np.asarray(values, dtype=np.float64)
    h, w = v.shape
    shown = v if filled is None else np.where(filled, v, np.nan)
    if signed is None:
        signed = bool(np.nanmin(v) < 0) if v.size else False
    peak = zmax if zmax is not None else float(np.nanmax(np.abs(v))) if v.size else 1.0
    peak = peak if peak > 0 else 1.0
    colour = (
        {"colorscale": DIVERGING, "zmin": -peak, "zmax": peak, "zmid": 0}
        if signed
        else {"colorscale": GREYS_LIGHT, "zmin": 0, "zmax": peak}
    )
    text = [
        ["" if not np.isfinite(shown[r, c]) else fmt(shown[r, c], digits) for c in range(w)]
        for r in range(h)
    ]
    heat = {
        "type": "heatmap",
        "z": shown,
        "showscale": False,
        "xgap": 1,
        "ygap": 1,
        "hovertemplate": "row %{y}, column %{x}: %{z:.4f}<extra></extra>",
        "x": np.arange(w) + col_offset,
        "y": np.arange(h) + row_offset,
        **colour,
    }
    if show_text:
        heat.update(
            text=text,
            texttemplate="%{text}",
            textfont={"size": 12 if max(h, w) <= 10 else 10},
        )
    shapes = [_band(rect, row_offset, col_offset) for rect in _padding_bands(h, w, padding)]
    if window is not None:
        r, c, wh, ww = window
        shapes.append(_box(r + row_offset, c + col_offset, wh, ww, HIGHLIGHT, 4))
    for r, c in marks or []:
        shapes.append(_box(r + row_offset, c + col_offset, 1, 1, SECONDARY, 4))
    top = 62 if title else 28  # room for a title above the column numbers
    axis = {"showgrid": False, "zeroline": False, "dtick": 1, "fixedrange": True}
    layout = layout_dict(title)
    layout.update(
        shapes=shapes,
        height=int(cell_px * h + top + 8),
        width=int(max(cell_px * w, 64) + 45),  # a one-column vector still shows its numbers
        margin={"l": 35, "r": 10, "t": top, "b": 8},
        hovermode="closest",
        plot_bgcolor="#F2F2F2",
        meta={"title": name or title},
        # Fixed ranges: exactly the cells, no empty border row, no zooming by accident.
        xaxis={**axis, "side": "top", "range": [col_offset - 0.5, col_offset + w - 0.5]},
        yaxis={**axis, "range": [row_offset + h - 0.5, row_offset - 0.5]},
    )
    return go.Figure({"data": [heat], "layout": layout}, _validate=False)


def _padding_bands(h: int, w: int, p: int) -> list[tuple[int, int, int, int]]:
    """The (row, col, height, width) strips of a `p`-wide border of an (h, w) grid."""
    if p <= 0:
        return []
    return [(0, 0, p, w), (h - p, 0, p, w), (p, 0, h - 2 * p, p), (p, w - p, h - 2 * p, p)]


def _band(rect: tuple[int, int, int, int], row_offset: int, col_offset: int) -> dict:
    r, c, h, w = rect
    return {
        "type": "rect",
        "x0": c + col_offset - 0.5,
        "x1": c + col_offset + w - 0.5,
        "y0": r + row_offset - 0.5,
        "y1": r + row_offset + h - 0.5,
        "line": {"width": 0},
        "fillcolor": "rgba(120, 120, 120, 0.28)",
        "layer": "above",
    }


def _box(r: int, c: int, h: int, w: int, colour: str, width: float) -> dict:
    return {
        "type": "rect",
        "x0": c - 0.5,
        "x1": c + w - 0.5,
        "y0": r - 0.5,
        "y1": r + h - 0.5,
        "line": {"color": colour, "width": width},
        "fillcolor": "rgba(0,0,0,0)",
    }


# ----------------------------------------------------------------------------------------
# Gradient check
# ----------------------------------------------------------------------------------------
def gradcheck_figure(labels: list[str], errors: list[float], tolerance: float) -> go.Figure:
    """Relative error of each checked gradient on a log axis, with the pass line.

    Values below ~1e-7 mean analytic and numerical gradients agree to float64 precision; a
    value near 1 means they disagree completely (e.g. opposite signs).
    """
    err = np.maximum(np.asarray(errors, dtype=np.float64), 1e-16)
    ok = err < tolerance
    fig = go.Figure(
        go.Bar(
            x=err,
            y=labels,
            orientation="h",
            marker={"color": [PALETTE[2] if good else PALETTE[3] for good in ok]},
            # No numbers on the bars (the table beside has them, and labels ran over the
            # pass line); the hover shows each value.
            hovertemplate="%{y}: %{x:.2e}<extra></extra>",
        )
    )
    base_layout(fig, x_title="relative error (log scale)")
    fig.add_vline(x=tolerance, line={"color": "black", "dash": "dash", "width": 1.5})
    fig.add_annotation(
        x=np.log10(tolerance),
        y=1.0,
        yref="paper",
        yanchor="bottom",
        text=f"pass < {tolerance:.0e}",
        showarrow=False,
        font={"size": 12},
    )
    fig.update_xaxes(type="log", range=[-13, 0.3], exponentformat="power", dtick=3)
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_layout(
        height=max(220, 22 * len(labels) + 90),
        hovermode="closest",
        showlegend=False,
        margin={"l": 10, "r": 20, "t": 40, "b": 45},
    )
    return fig


def bug_training_figure(curves: dict[str, np.ndarray], bug: str) -> go.Figure:
    """The loss of the healthy and the broken network, step by step, on the same batches."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=curves["step"],
            y=curves["healthy"],
            name="correct backward",
            mode="lines",
            line={"color": PALETTE[0], "width": 2.5},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=curves["step"],
            y=curves["broken"],
            name=f"broken: {bug}",
            mode="lines",
            line={"color": PALETTE[3], "width": 2.5},
        )
    )
    base_layout(fig, x_title="training step (same batches for both)", y_title="training loss")
    fig.update_layout(height=320)
    fig.update_yaxes(rangemode="tozero")
    return fig


# ----------------------------------------------------------------------------------------
# The sums, written out with the actual numbers (LaTeX for st.latex)
# ----------------------------------------------------------------------------------------
def tex_num(v: float, digits: int = 2) -> str:
    """A number for a product in LaTeX: negatives in parentheses, ``-`` as a real minus."""
    s = fmt(float(v), digits)
    return f"({s})" if s.startswith("-") else s


def _sum_lines(terms: list[str], per_line: int, max_terms: int = 30) -> list[str]:
    """Group terms into lines of `per_line`; beyond `max_terms`, say how many are left out."""
    extra = len(terms) - max_terms
    terms = terms[:max_terms] + ([rf"\dots\ (\text{{{extra} more}})"] if extra > 0 else [])
    return [" + ".join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]


def _aligned(lhs: str, lines: list[str], result: str) -> str:
    if not lines:
        return rf"{lhs} = 0"
    if len(lines) == 1:
        return rf"{lhs} = {lines[0]} = \mathbf{{{result}}}"
    body = r" \\ &\quad + ".join(lines)
    return rf"\begin{{aligned}} {lhs} &= {body} \\ &= \mathbf{{{result}}} \end{{aligned}}"


def conv_cell_tex(cell, weight: np.ndarray, digits: int = 2) -> str:
    """``z[i,j] = x·w + x·w + ... + b = value``, one line per kernel row."""
    kh, kw = weight.shape
    rows = []
    for u in range(kh):
        rows.append(
            " + ".join(
                rf"{tex_num(cell.window[u, v], digits)}\cdot{tex_num(weight[u, v], digits)}"
                for v in range(kw)
            )
        )
    if cell.bias != 0:
        rows[-1] += rf" + {tex_num(cell.bias, digits)}"
    return _aligned(rf"z_{{{cell.i},{cell.j}}}", rows, fmt(cell.value, digits + 1))


def pool_cell_tex(cell, digits: int = 2) -> str:
    values = ", ".join(fmt(v, digits) for v in cell.window.ravel())
    return (
        rf"p_{{{cell.i},{cell.j}}} = \max({values}) = \mathbf{{{fmt(cell.value, digits)}}}"
        rf"\quad\text{{(winner: row {cell.wr}, column {cell.wc})}}"
    )


def weight_grad_tex(cell, digits: int = 2) -> str:
    """dL/dW[u,v] as the sum of dL/dz[i,j] * x[...] over the output cells, zeros left out."""
    nz = np.flatnonzero(cell.dz.ravel())
    terms = [
        rf"{tex_num(cell.dz.ravel()[k], digits)}\cdot{tex_num(cell.xs.ravel()[k], digits)}"
        for k in nz
    ]
    lhs = rf"\frac{{\partial L}}{{\partial W_{{{cell.u},{cell.v}}}}}"
    return _aligned(lhs, _sum_lines(terms, 4), fmt(cell.value, digits + 1))


def input_grad_tex(cell, digits: int = 2) -> str:
    """dL/dx[r,c] as the sum of dL/dz[i,j] * W[u,v] over the windows that covered it (every
    term, zeros included: at most one per kernel weight)."""
    lhs = rf"\frac{{\partial L}}{{\partial x_{{{cell.r},{cell.c}}}}}"
    if not cell.terms:
        return rf"{lhs} = 0 \quad\text{{(no window position covered this pixel)}}"
    terms = [rf"{tex_num(t.dz, digits)}\cdot{tex_num(t.w, digits)}" for t in cell.terms]
    return _aligned(lhs, _sum_lines(terms, 3), fmt(cell.value, digits + 1))
