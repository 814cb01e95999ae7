"""Build: a layer-stack editor with live shapes, parameter counts, FLOPs and a diagram.

The rows live in ``st.session_state["build.rows"]`` (the source of truth: widget values are
copied into them on every run, so leaving the page loses nothing). Whenever the stack builds,
it becomes the draft architecture the Train page uses; an impossible stack is reported at
the failing row and the last valid one is kept.
"""

import numpy as np
import pandas as pd
import streamlit as st

import netcore  # noqa: F401  (registers every layer type)
from app_pages._common import pretty_error, run_banner, shape_text
from netcore.spec import build_model
from ui import math_panels, state
from ui.charts.architecture import stack_figure
from ui.config import Limits
from ui.stack import (
    ACTIVATIONS,
    ADDABLE,
    OPTIONS,
    WITH_ACTIVATION,
    default_row,
    explain_error,
    rows_from_spec,
    spec_from_rows,
)

ROWS = "build.rows"
VERSION = "build.version"
PRESET_LABELS = {
    "mlp": "MLP (2 hidden layers)",
    "lenet5": "LeNet-5 (2 conv blocks)",
    "vgg-small": "Small VGG-like CNN (4 convs)",
}


# -- row operations (button callbacks: they run before the page script) -----------------------
def _rows() -> list:
    return st.session_state[ROWS]


def move(uid: str, delta: int) -> None:
    rows = _rows()
    i = next(k for k, r in enumerate(rows) if r.uid == uid)
    j = i + delta
    if 0 <= j < len(rows):
        rows[i], rows[j] = rows[j], rows[i]


def remove(uid: str) -> None:
    st.session_state[ROWS] = [r for r in _rows() if r.uid != uid]


def add(layer_type: str, position: int) -> None:
    rows = _rows()
    rows.insert(max(0, min(position, len(rows))), default_row(layer_type))


def load_preset() -> None:
    from netcore.spec import preset_spec

    name = st.session_state["build.preset"]
    ds = state.current_dataset()
    try:
        spec = preset_spec(name, tuple(ds.input_shape), ds.n_classes)
    except ValueError as e:
        st.session_state["build.flash"] = pretty_error(e)
        return
    st.session_state[ROWS] = rows_from_spec(spec)


# -- page ---------------------------------------------------------------------------------
st.title("Build")
run_banner()
ds = state.current_dataset()
cfg = state.draft_config()
input_shape = tuple(int(s) for s in ds.input_shape)
n_classes = int(ds.n_classes)

if ROWS not in st.session_state or st.session_state.get(VERSION) != state.draft_version():
    st.session_state[ROWS] = rows_from_spec(cfg.arch)
    st.session_state[VERSION] = state.draft_version()
rows = _rows()

st.caption(
    f"Input: **{ds.info.title}**, one sample is {shape_text(input_shape)} "
    f"(channels × height × width); the network must end with {n_classes} outputs, one score "
    "per class."
)

with st.container(horizontal=True, vertical_alignment="bottom"):
    preset = st.selectbox(
        "Start from a preset",
        list(PRESET_LABELS),
        index=1,  # LeNet-5, the network every new session starts with
        format_func=PRESET_LABELS.get,
        key="build.preset",
        width=320,
    )
    st.button(
        "Load preset",
        on_click=load_preset,
        key="build.load_preset",
        icon=":material/restart_alt:",
    )
flash = st.session_state.pop("build.flash", None)
if flash:
    st.warning(flash)


# Widget values -> rows (before validating, so the check sees what is on screen).
def _key(row, name: str) -> str:
    return f"build.{row.uid}.{name}"


for row in rows:
    for opt in OPTIONS.get(row.type, ()):
        k = _key(row, opt.name)
        if k not in st.session_state:
            v = row.opts.get(opt.name, opt.default)
            v = opt.default if v is None else v
            st.session_state[k] = int(v) if opt.is_int else float(v)
        row.opts[opt.name] = st.session_state[k]
    if row.type in WITH_ACTIVATION:
        k = _key(row, "act")
        if k not in st.session_state:
            st.session_state[k] = row.act or "none"
        row.act = st.session_state[k]

spec, owner = spec_from_rows(rows)

# Validate: build the network for this dataset's input shape.
error_row, error_text, model, summary = None, None, None, None
if not rows:
    error_text = "The stack is empty: add a layer or load a preset."
else:
    try:
        model = build_model(spec, input_shape, rng=np.random.default_rng(0))
        summary = model.summary(input_shape)
    except ValueError as e:
        error_row, error_text = explain_error(str(e), spec, owner)
        error_text = error_text[:1].upper() + error_text[1:]
if summary is not None:
    out = tuple(summary.output_shape)
    limits = Limits.from_env()
    if out != (n_classes,):
        error_row = len(rows) - 1
        error_text = (
            f"The network ends with shape {shape_text(out)}, but {ds.info.title} has "
            f"{n_classes} classes: make the last layer a Dense with {n_classes} units "
            "(and no activation: the loss applies softmax itself)."
        )
    elif summary.total_params > limits.max_params:
        error_text = (
            f"This network has {summary.total_params:,} parameters; this server trains at "
            f"most {limits.max_params:,}. Use fewer filters or units."
        )
    elif spec[-1]["type"] in ACTIVATIONS:
        error_row = len(rows) - 1
        error_text = (
            f"The last layer is a {spec[-1]['type']}: the loss needs raw scores (logits). "
            "Remove the activation of the output layer."
        )
valid = error_text is None
if valid:
    if spec != list(cfg.arch):
        cfg = cfg.replace(arch=spec)
        state.set_draft_config(cfg, replace_editor=False)
        st.session_state[VERSION] = state.draft_version()
    st.session_state["build.last_valid"] = (spec, summary)

# Per-row output shapes (up to the failure).
row_shapes: dict[int, tuple] = {}
if summary is not None:
    for i, r in enumerate(summary.rows):
        row_shapes[owner[i]] = tuple(r["output_shape"])
    row_params = {}
    for i, r in enumerate(summary.rows):
        row_params[owner[i]] = row_params.get(owner[i], 0) + r["params"]
else:
    row_params = {}
    # Walk layer by layer to show the shapes before the failing row.
    try:
        limit = next((k for k, o in enumerate(owner) if o == error_row), len(spec))
        if limit:
            partial = build_model(spec[:limit], input_shape, rng=np.random.default_rng(0))
            for i, (shape, layer) in enumerate(
                zip(partial.output_shapes(input_shape), partial, strict=True)
            ):
                row_shapes[owner[i]] = tuple(shape)
                row_params[owner[i]] = row_params.get(owner[i], 0) + sum(
                    p.size for p in layer.parameters()
                )
    except ValueError:
        pass

boxes = []
for i, row in enumerate(rows):
    boxes.append(
        {
            "label": row.label(),
            "type": row.type,
            "shape": row_shapes.get(i),
            "error": i == error_row,
            "params": row_params.get(i, 0),
        }
    )
st.plotly_chart(
    stack_figure(input_shape, boxes),
    width="stretch",
    key="build.diagram",
    config={"displaylogo": False},
)


# -- the editor -----------------------------------------------------------------------------
left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown("#### Layers")
    if not valid:
        st.error(error_text, icon=":material/error:")
        if "build.last_valid" in st.session_state:
            st.caption(
                "Training keeps using the last network that worked (shown on the right) until "
                "this one is fixed."
            )
    for i, row in enumerate(rows):
        failed = i == error_row
        with st.container(border=True, key=f"build.row.{row.uid}"):
            head, b1, b2, b3 = st.columns([6, 1, 1, 1], vertical_alignment="center")
            shape = row_shapes.get(i)
            where = f"→ {shape_text(shape)}" if shape else ("→ ✗" if failed else "→ ?")
            params = row_params.get(i, 0)
            head.markdown(
                f"**{i + 1}. {row.type}** &nbsp; `{where}`"
                + (f" &nbsp; {params:,} params" if params else "")
            )
            b1.button(
                "",
                icon=":material/arrow_upward:",
                key=f"build.{row.uid}.up",
                on_click=move,
                args=(row.uid, -1),
                disabled=i == 0,
                help="Move up",
            )
            b2.button(
                "",
                icon=":material/arrow_downward:",
                key=f"build.{row.uid}.down",
                on_click=move,
                args=(row.uid, 1),
                disabled=i == len(rows) - 1,
                help="Move down",
            )
            b3.button(
                "",
                icon=":material/delete:",
                key=f"build.{row.uid}.remove",
                on_click=remove,
                args=(row.uid,),
                help="Remove this layer",
            )
            opts = OPTIONS.get(row.type, ())
            n_cols = len(opts) + (1 if row.type in WITH_ACTIVATION else 0)
            if n_cols:
                cols = st.columns(max(n_cols, 3))
                for col, opt in zip(cols, opts, strict=False):
                    if opt.is_int:
                        col.number_input(
                            opt.label,
                            int(opt.lo),
                            int(opt.hi),
                            step=int(opt.step),
                            key=_key(row, opt.name),
                            help=opt.help,
                        )
                    else:
                        col.number_input(
                            opt.label,
                            float(opt.lo),
                            float(opt.hi),
                            step=float(opt.step),
                            key=_key(row, opt.name),
                            help=opt.help,
                            format="%.2f",
                        )
                if row.type in WITH_ACTIVATION:
                    cols[len(opts)].selectbox(
                        "Activation",
                        ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "none"],
                        key=_key(row, "act"),
                        help="Applied to this layer's output. The last layer needs none.",
                    )
            if failed and error_text:
                st.error(error_text, icon=":material/error:")

    with st.container(horizontal=True, vertical_alignment="bottom"):
        new_type = st.selectbox(
            "Add a layer", ADDABLE, index=ADDABLE.index("Dense"), key="build.add_type", width=200
        )
        default_pos = max(1, len(rows))  # before the output layer
        pos = st.number_input(
            "at position",
            1,
            len(rows) + 1,
            value=default_pos,
            key=f"build.add_pos.{len(rows)}",
            width=130,
        )
        st.button(
            "Add",
            icon=":material/add:",
            key="build.add",
            on_click=add,
            args=(new_type, int(pos) - 1),
        )

with right:
    shown_spec, shown_summary = (
        (spec, summary) if valid else st.session_state.get("build.last_valid", (None, None))
    )
    st.markdown("#### The network" + ("" if valid else " (last valid)"))
    if shown_summary is not None:
        m1, m2, m3 = st.columns(3)
        n_params = shown_summary.total_params
        m1.metric(
            "Parameters",
            f"{n_params:,}"
            if n_params < 10_000
            else f"{n_params / 1e3:.1f} k"
            if n_params < 1_000_000
            else f"{n_params / 1e6:.2f} M",
            help=f"{n_params:,} weights and biases to learn.",
        )
        m2.metric("FLOPs / image", f"{shown_summary.total_flops / 1e6:.2f} M")
        m3.metric("Layers", len(shown_summary.rows))
        table = pd.DataFrame(
            {
                "#": [r["index"] for r in shown_summary.rows],
                "layer": [r["type"] for r in shown_summary.rows],
                "details": [r["description"] for r in shown_summary.rows],
                "output": [shape_text(r["output_shape"]) for r in shown_summary.rows],
                "params": [f"{r['params']:,}" for r in shown_summary.rows],
                "FLOPs": [f"{r['flops']:,}" for r in shown_summary.rows],
            }
        ).set_index("#")
        st.table(table)
        st.caption(
            "FLOPs: floating-point operations for one image, forward pass (a multiply-add "
            "counts 2). Training costs about three times that per image."
        )
    else:
        st.info("No valid network yet.")

st.markdown("#### The math behind these layers")
st.caption("Open a layer to see its forward and backward formulas with the shapes used here.")
if model is not None:
    in_shape = input_shape
    seen_acts = set()
    for layer, out_shape in zip(model, model.output_shapes(input_shape), strict=True):
        kind = type(layer).__name__
        if kind in ACTIVATIONS:
            if kind in seen_acts:
                in_shape = out_shape
                continue
            seen_acts.add(kind)
        math_panels.layer_math(
            kind,
            in_shape=tuple(in_shape),
            out_shape=tuple(out_shape),
            param_shapes={n: tuple(p.shape) for n, p in layer.named_parameters()},
        )
        in_shape = out_shape
    math_panels.layer_math("CrossEntropyLoss")  # the loss every network here trains with
else:
    for row in rows:
        math_panels.layer_math(row.type)
