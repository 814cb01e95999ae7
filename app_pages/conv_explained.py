"""Convolution, pooling and dense layers, explained: every multiply and add, forward and back."""

from __future__ import annotations

import numpy as np
import streamlit as st

from netcore import explain
from ui import state
from ui.charts import explainer as ch
from ui.math_panels import view_math

PRESETS = {
    "vertical edge": "-1 0 1\n-1 0 1\n-1 0 1",
    "horizontal edge": "-1 -1 -1\n0 0 0\n1 1 1",
    "blur": "1/9 1/9 1/9\n1/9 1/9 1/9\n1/9 1/9 1/9",
    "sharpen": "0 -1 0\n-1 5 -1\n0 -1 0",
    "identity": "0 0 0\n0 1 0\n0 0 0",
}
STAGES = {
    "conv": "① Convolution",
    "relu": "② ReLU",
    "pool": "③ Max-pool",
    "pool_back": "④ Back through max-pool",
    "relu_back": "⑤ Back through ReLU",
    "dw": "⑥ Gradient of each kernel weight",
    "dx": "⑦ Gradient of each input pixel",
    "dense": "⑧ A dense layer",
}
PLAY_INTERVAL = 0.8  # seconds per step while playing
CUSTOM_DEFAULT = """0 0 0 0 0 0 0 0
0 1 1 1 1 1 1 0
0 0 0 0 0 1 0 0
0 0 0 0 1 0 0 0
0 0 0 1 0 0 0 0
0 0 1 0 0 0 0 0
0 0 1 0 0 0 0 0
0 0 0 0 0 0 0 0"""

ss = st.session_state
ss.setdefault("ce.stage", "conv")
ss.setdefault("ce.step", 0)
ss.setdefault("ce.playing", False)
ss.setdefault("ce.kernel_text", PRESETS["vertical edge"])
ss.setdefault("ce.custom", CUSTOM_DEFAULT)

st.title("Convolution explained")
st.caption(
    "One convolution layer on a real input, every number shown: the kernel slides over the "
    "image, ReLU cuts the negatives, max-pool keeps the strongest answer. Then the backward "
    "pass: how the gradient finds its way back to each weight and each pixel."
)


def _load_preset() -> None:
    preset = ss["ce.preset"]
    if preset in PRESETS:
        ss["ce.kernel_text"] = PRESETS[preset]


def _restart() -> None:
    ss["ce.step"] = 0
    ss["ce.playing"] = False


def _kernel_typed() -> None:
    """Editing the weights makes the kernel 'typed in' (the preset name would be wrong)."""
    if PRESETS.get(ss["ce.preset"]) != ss["ce.kernel_text"]:
        ss["ce.preset"] = "typed in"
    _restart()


# -- settings --------------------------------------------------------------------------------
with st.container(border=True):
    c_in, c_k, c_opts = st.columns([1.25, 1.1, 1.0], gap="medium")
    with c_in:
        source = st.segmented_control(
            "Input",
            ["MNIST digit", "Type a grid"],
            key="ce.source",
            default="MNIST digit",
            required=True,
            on_change=_restart,
        )
        if source == "MNIST digit":
            a, b = st.columns(2)
            index = a.number_input("Test image #", 0, 999, 0, key="ce.index", on_change=_restart)
            size = b.select_slider(
                "Size (pixels)", [6, 8, 10, 12], 10, key="ce.size", on_change=_restart
            )
        else:
            st.text_area(
                "Input grid (one row per line, at most 14x14)",
                key="ce.custom",
                height=150,
                on_change=_restart,
            )
    with c_k:
        st.selectbox("Kernel", [*PRESETS, "typed in"], key="ce.preset", on_change=_load_preset)
        st.text_area(
            "Kernel weights (square, 1x1 to 5x5; 1/9 is fine)",
            key="ce.kernel_text",
            height=100,
            on_change=_kernel_typed,
        )
    with c_opts:
        a, b = st.columns(2)
        stride = a.number_input("Stride", 1, 3, 1, key="ce.stride", on_change=_restart)
        padding = b.number_input("Padding", 0, 2, 0, key="ce.padding", on_change=_restart)
        bias = st.number_input("Bias b", -5.0, 5.0, 0.0, 0.1, key="ce.bias", on_change=_restart)
        grad_mode = st.selectbox(
            "Gradient arriving at the pool output",
            ["ones", "random"],
            key="ce.dp",
            help="What the rest of a network would send back: with all ones, every pool "
            "output counts equally in the loss.",
            format_func={
                "ones": "all ones (L = sum of p)",
                "random": "random (seed 0)",
            }.get,
            on_change=_restart,
        )

# -- build the walkthrough -------------------------------------------------------------------
try:
    kernel = explain.parse_grid(ss["ce.kernel_text"], name="kernel", max_side=5)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"the kernel is {kernel.shape[0]}x{kernel.shape[1]}; make it square")
    if source == "MNIST digit":
        ds = state.load_dataset("mnist_5k")
        image = explain.digit_crop(ds.raw_test[int(index)], int(size))
        label = f"MNIST test image #{int(index)} (a {ds.class_names[ds.y_test[int(index)]]})"
    else:
        image = explain.parse_grid(ss["ce.custom"], name="input grid", max_side=14)
        label = f"your {image.shape[0]}x{image.shape[1]} grid"
    fwd = explain.forward(image, kernel, bias, stride=int(stride), padding=int(padding))
except (ValueError, OSError) as err:
    st.error(f"{err}", icon=":material/error:")
    st.stop()

if grad_mode == "ones":
    dp = np.ones_like(fwd.p)
else:
    dp = np.round(np.random.default_rng(0).normal(size=fwd.p.shape), 1).astype(np.float32)
bwd = explain.backward(fwd, dp)
diffs = explain.check_against_netcore(fwd, bwd)
worst = max(diffs.values())

with st.expander(
    "These numbers are netcore's own: the loop reference and the fast layers agree "
    f"with every cell below (largest difference {worst:.1e})",
    icon=":material/check_circle:" if worst < 1e-4 else ":material/error:",
):
    st.markdown(
        "Every value on this page is recomputed two more ways: by the plain loops in "
        "`netcore/functional.py` (`conv2d_naive`, `maxpool2d_naive` and their backward "
        "passes) and by the fast layers the networks train with (`Conv2D` via im2col and "
        "one matrix product, `ReLU`, `MaxPool2D`). Differences are float32 rounding."
    )
    st.dataframe(
        {"computation": list(diffs), "largest |difference|": [f"{v:.1e}" for v in diffs.values()]},
        hide_index=True,
    )

# -- stage and step --------------------------------------------------------------------------
n_steps = {
    "conv": fwd.z.size,
    "relu": 1,
    "pool": fwd.p.size,
    "pool_back": fwd.p.size,
    "relu_back": 1,
    "dw": fwd.weight.size,
    "dx": fwd.x.size,
    "dense": 1,
}
stage = st.segmented_control(
    "Stage",
    list(STAGES),
    key="ce.stage",
    format_func=STAGES.get,
    required=True,
    on_change=_restart,
    label_visibility="collapsed",
)
st.caption(
    f"Input: {label}. Rows and columns are numbered from 0, as in NumPy"
    + (f"; the grey border is the zero padding (rows -{padding}.." if padding else "")
    + (f"{fwd.x.shape[0] - 1 + padding})." if padding else ".")
)


x_title = "input x (zero-padded)" if fwd.padding else "input x"


def grid(values, title: str = "", **kw):
    """Draw a number grid at its natural size, its title above it."""
    if title:
        st.markdown(f"**{title}**")
    fig = ch.number_grid(values, name=title, **kw)  # the name is for tests and exports
    st.plotly_chart(fig, width="content", config={"displayModeBar": False})


def show_conv(k: int) -> None:
    cell = fwd.conv_cells[k]
    kh, kw = fwd.weight.shape
    filled = (np.arange(fwd.z.size) <= k).reshape(fwd.z.shape)
    a, b, c = st.columns([fwd.x_padded.shape[1] + 1, kw + 2, fwd.z.shape[1] + 1])
    with a:
        grid(
            fwd.x_padded,
            title=x_title,
            window=(cell.r0, cell.c0, kh, kw),
            row_offset=-fwd.padding,
            col_offset=-fwd.padding,
            padding=fwd.padding,
            digits=2,
        )
    with b:
        grid(fwd.weight, title="kernel W", signed=True, digits=2)
    with c:
        grid(fwd.z, title="output z", filled=filled, window=(cell.i, cell.j, 1, 1), signed=True)
    st.markdown(
        f"**Output cell ({cell.i}, {cell.j})**: lay the kernel over the outlined window, "
        "multiply each pair of numbers, add everything up, add the bias."
    )
    st.latex(ch.conv_cell_tex(cell, fwd.weight))


def show_relu() -> None:
    a, b = st.columns(2)
    negative = [(int(r), int(c)) for r, c in zip(*np.nonzero(fwd.z <= 0), strict=True)]
    with a:
        grid(fwd.z, title="z (before ReLU)", signed=True, marks=negative)
    with b:
        grid(fwd.a, title="a = ReLU(z) = max(0, z)", signed=True, zmax=float(np.abs(fwd.z).max()))
    st.latex(r"a_{i,j} = \max(0,\ z_{i,j})")
    st.markdown(
        f"The {len(negative)} outlined cells were zero or negative: ReLU sets them to 0. "
        "Positive answers pass unchanged: 'found the pattern here, this strongly'."
    )


def show_pool(k: int) -> None:
    cell = fwd.pool_cells[k]
    filled = (np.arange(fwd.p.size) <= k).reshape(fwd.p.shape)
    pool = fwd.pool
    a, b = st.columns([fwd.a.shape[1] + 1, fwd.p.shape[1] + 3])
    with a:
        grid(
            fwd.a,
            title="a (after ReLU)",
            window=(cell.r0, cell.c0, pool, pool),
            marks=[(cell.wr, cell.wc)],
            signed=True,
        )
    with b:
        grid(
            fwd.p,
            title="p = max-pool(a)",
            filled=filled,
            window=(cell.i, cell.j, 1, 1),
            signed=True,
            zmax=float(np.abs(fwd.a).max()) or 1.0,
        )
    st.latex(ch.pool_cell_tex(cell))
    st.markdown(
        f"Each {pool}x{pool} window keeps only its largest value (green outline). The map "
        "gets smaller and remembers *whether* the pattern was found, not exactly where."
    )


def show_pool_back(k: int) -> None:
    cell = fwd.pool_cells[k]
    order = np.arange(fwd.p.size).reshape(fwd.p.shape)
    sent = np.zeros_like(bwd.da)
    for c in fwd.pool_cells[: k + 1]:
        sent[c.wr, c.wc] += bwd.dp[c.i, c.j]
    reached = np.zeros(fwd.a.shape, bool)
    for c in fwd.pool_cells[: k + 1]:
        reached[c.r0 : c.r0 + fwd.pool, c.c0 : c.c0 + fwd.pool] = True
    a, b, c = st.columns([fwd.p.shape[1] + 3, fwd.a.shape[1] + 1, fwd.a.shape[1] + 1])
    with a:
        grid(
            bwd.dp,
            title="dL/dp (arrives)",
            window=(cell.i, cell.j, 1, 1),
            signed=True,
            filled=order >= 0,
        )
    with b:
        grid(
            fwd.a,
            title="a (forward values)",
            window=(cell.r0, cell.c0, fwd.pool, fwd.pool),
            marks=[(cell.wr, cell.wc)],
            signed=True,
        )
    with c:
        grid(sent, title="dL/da", filled=reached, marks=[(cell.wr, cell.wc)], signed=True)
    g = ch.fmt(float(bwd.dp[cell.i, cell.j]))
    st.latex(
        rf"\frac{{\partial L}}{{\partial a_{{{cell.wr},{cell.wc}}}}} = "
        rf"\frac{{\partial L}}{{\partial p_{{{cell.i},{cell.j}}}}} = \mathbf{{{g}}}"
        r"\qquad \text{the other cells of the window get } 0"
    )
    st.markdown(
        "Only the winner decided the output: nudging any other cell of the window would not "
        "change the max at all, so their gradient is 0."
    )
    if np.count_nonzero(cell.window == cell.value) > 1:
        st.caption(
            f"This window is a tie ({np.count_nonzero(cell.window == cell.value)} cells equal "
            f"{ch.fmt(cell.value)}): the first one in reading order gets the whole gradient, "
            "as in netcore's MaxPool2D. Sending it to every tied cell would multiply it."
            + (
                " And since its z was ≤ 0, ReLU will block it in the next stage."
                if cell.value <= 0
                else ""
            )
        )


def show_relu_back() -> None:
    a, b, c = st.columns(3)
    with a:
        grid(bwd.da, title="dL/da (from the pool)", signed=True)
    with b:
        grid(
            fwd.z,
            title="z (forward, before ReLU)",
            signed=True,
            marks=[(int(r), int(c)) for r, c in zip(*np.nonzero(fwd.z <= 0), strict=True)],
        )
    with c:
        grid(bwd.dz, title="dL/dz", signed=True)
    st.latex(
        r"\frac{\partial L}{\partial z_{i,j}} = \frac{\partial L}{\partial a_{i,j}} \cdot "
        r"\begin{cases} 1 & z_{i,j} > 0 \\ 0 & z_{i,j} \le 0 \end{cases}"
    )
    st.markdown(
        "Where ReLU cut the value off (outlined), a small change of z changes nothing: the "
        "gradient stops there. Elsewhere it passes unchanged."
    )


def show_dw(k: int) -> None:
    cell = bwd.weight_cells[k]
    s = fwd.stride
    ho, wo = fwd.z.shape
    filled = (np.arange(fwd.weight.size) <= k).reshape(fwd.weight.shape)
    a, b, c = st.columns([fwd.x_padded.shape[1] + 1, wo + 2, fwd.weight.shape[1] + 3])
    used = [(cell.u + i * s, cell.v + j * s) for i in range(ho) for j in range(wo)]
    with a:
        if s == 1:
            grid(
                fwd.x_padded,
                title=x_title,
                window=(cell.u, cell.v, ho, wo),
                row_offset=-fwd.padding,
                col_offset=-fwd.padding,
                padding=fwd.padding,
            )
        else:
            grid(
                fwd.x_padded,
                title=x_title,
                marks=used,
                row_offset=-fwd.padding,
                col_offset=-fwd.padding,
                padding=fwd.padding,
            )
    with b:
        grid(bwd.dz, title="dL/dz", signed=True)
    with c:
        grid(
            bwd.dweight,
            title="dL/dW",
            filled=filled,
            window=(cell.u, cell.v, 1, 1),
            signed=True,
            digits=2,
        )
    st.markdown(
        f"**Weight ({cell.u}, {cell.v})** touched one input pixel in every output cell: the "
        "outlined block, shifted by the weight's position. Its gradient adds up "
        "*(gradient of each output cell) × (the pixel it multiplied there)*; terms where "
        "dL/dz is 0 are left out."
    )
    st.latex(ch.weight_grad_tex(cell))


def show_dx(k: int) -> None:
    cell = bwd.input_cells[k]
    filled = (np.arange(fwd.x.size) <= k).reshape(fwd.x.shape)
    a, b, c = st.columns([fwd.z.shape[1] + 1, fwd.weight.shape[1] + 2, fwd.x.shape[1] + 1])
    with a:
        grid(bwd.dz, title="dL/dz", signed=True, marks=[(t.i, t.j) for t in cell.terms])
    with b:
        grid(fwd.weight, title="kernel W", signed=True, marks=[(t.u, t.v) for t in cell.terms])
    with c:
        grid(bwd.dx, title="dL/dx", filled=filled, window=(cell.r, cell.c, 1, 1), signed=True)
    st.markdown(
        f"**Pixel ({cell.r}, {cell.c})** was seen by {len(cell.terms)} window position(s) "
        "(outlined in dL/dz), each time through a different kernel weight (outlined in W). "
        "Its gradient collects *(gradient of that output) × (the weight that multiplied "
        "it)*; this is a convolution with the flipped kernel."
    )
    st.latex(ch.input_grad_tex(cell))


def show_dense() -> None:
    rng = np.random.default_rng(1)
    x = np.array([0.5, -1.0, 2.0], np.float32)
    w = np.round(rng.normal(size=(2, 3)), 1).astype(np.float32)
    b_ = np.array([0.1, -0.2], np.float32)
    dy = np.array([1.0, -0.5], np.float32)
    ex = explain.dense_example(x, w, b_, dy)
    a, b, c, d = st.columns([4, 2, 2, 4])
    with a:
        grid(ex.weight, title="W (2 outputs × 3 inputs)", signed=True)
    with b:
        grid(ex.x[:, None], title="x", signed=True)
    with c:
        grid(ex.y[:, None], title="y = Wx + b", signed=True)
    with d:
        grid(ex.dweight, title="dL/dW = dy xᵀ", signed=True)
    rows = [
        " + ".join(rf"{ch.tex_num(w[o, i])}\cdot{ch.tex_num(x[i])}" for i in range(3))
        + rf" + {ch.tex_num(b_[o])} = \mathbf{{{ch.fmt(ex.y[o], 3)}}}"
        for o in range(2)
    ]
    st.latex(rf"y_0 = {rows[0]} \qquad y_1 = {rows[1]}")
    st.markdown(
        f"Backward, with dL/dy = ({ch.fmt(dy[0])}, {ch.fmt(dy[1])}): each weight W[o, i] "
        "multiplied x[i] into y[o], so its gradient is dy[o] · x[i] (an outer product); "
        "each input gets back the weights it went through, weighted by the output gradients."
    )
    st.latex(
        r"\frac{\partial L}{\partial W} = \frac{\partial L}{\partial y}\,x^{\top},\qquad"
        r"\frac{\partial L}{\partial b} = \frac{\partial L}{\partial y},\qquad"
        r"\frac{\partial L}{\partial x} = W^{\top}\frac{\partial L}{\partial y} = ("
        + ", ".join(ch.fmt(v, 3) for v in ex.dx)
        + ")"
    )
    st.caption(
        "A convolution is a dense layer with most weights forced to 0 and the rest shared: "
        "every output sees only a small window, and all windows use the same kernel."
    )


def _move(delta: int, total: int) -> None:
    ss["ce.step"] = int(min(max(ss["ce.step"] + delta, 0), total - 1))
    ss["ce.playing"] = False


def _set_playing(playing: bool, total: int) -> None:
    """Sets the state the button showed (not a toggle: a callback run twice must not undo
    the click)."""
    ss["ce.playing"] = playing
    if playing and ss["ce.step"] >= total - 1:
        ss["ce.step"] = 0


@st.fragment(run_every=PLAY_INTERVAL if ss["ce.playing"] else None)
def stepper() -> None:
    total = n_steps[stage]
    if ss["ce.playing"]:
        ss["ce.step"] = ss["ce.step"] + 1
        if ss["ce.step"] >= total - 1:
            ss["ce.step"] = total - 1
            ss["ce.playing"] = False
            st.rerun()  # a full run: the page stops ticking
    ss["ce.step"] = int(min(max(ss["ce.step"], 0), total - 1))
    if total > 1:
        nav = st.container(horizontal=True, vertical_alignment="center")
        nav.button(
            "Back",
            key="ce.back",
            icon=":material/chevron_left:",
            disabled=ss["ce.step"] == 0,
            on_click=_move,
            args=(-1, total),
        )
        nav.button(
            "Next",
            key="ce.next",
            icon=":material/chevron_right:",
            disabled=ss["ce.step"] >= total - 1,
            on_click=_move,
            args=(1, total),
        )
        playing = ss["ce.playing"]
        if nav.button(
            "Pause" if playing else "Play",
            key="ce.play",
            type="primary",
            icon=":material/pause:" if playing else ":material/play_arrow:",
            on_click=_set_playing,
            args=(not playing, total),
        ):
            st.rerun()  # a full run: the fragment starts or stops ticking
        nav.button(
            "Show all",
            key="ce.all",
            icon=":material/last_page:",
            on_click=_move,
            args=(total, total),
        )
        nav.markdown(f"**step {ss['ce.step'] + 1} of {total}**")
    k = ss["ce.step"]
    {
        "conv": lambda: show_conv(k),
        "relu": show_relu,
        "pool": lambda: show_pool(k),
        "pool_back": lambda: show_pool_back(k),
        "relu_back": show_relu_back,
        "dw": lambda: show_dw(k),
        "dx": lambda: show_dx(k),
        "dense": show_dense,
    }[stage]()


stepper()

with st.expander("A 10-minute lesson with this page", icon=":material/school:"):
    st.markdown(
        "**How a CNN sees (5 min)**\n"
        "1. Stage ①, kernel *vertical edge*, press **Play**: each output number is nine "
        "multiplications and one sum, written out below the grids.\n"
        "2. Press **Show all**: the output is large (red) where brightness rises from left "
        "to right under the kernel, negative (blue) where it falls: one side of each "
        "vertical stroke each.\n"
        "3. Pick *horizontal edge*: other strokes light up. Same image, another question.\n"
        "4. Stage ②: ReLU keeps only the positive evidence. Stage ③: max-pool keeps the "
        "strongest answer of each 2×2 window: half the size, still saying *this kind of "
        "edge is around here*.\n"
        "5. A trained network learns its kernels itself: show them on the **Filters** page.\n"
        "\n"
        "**Why backprop works (5 min)**\n"
        "1. Stage ④: only the winner of a pool window influenced the output, so only it "
        "receives gradient.\n"
        "2. Stage ⑤: where ReLU cut a value off, the gradient stops.\n"
        "3. Stage ⑥: a weight's gradient adds up *output gradient × the pixel it "
        "multiplied*, over every place the kernel visited: the chain rule, one product at "
        "a time.\n"
        "4. Stage ⑦: each pixel collects *output gradient × the weight that touched it*.\n"
        "5. Finish on the **Gradient check** page: these formulas agree with finite "
        "differences to 9 digits, and one flipped sign is caught at once and spoils "
        "training."
    )

view_math(
    "conv_explained",
    input=fwd.x.shape,
    kernel=fwd.weight.shape,
    z=fwd.z.shape,
    p=fwd.p.shape,
)
