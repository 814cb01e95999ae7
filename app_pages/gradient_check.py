"""Gradient check: does every layer's backward pass agree with finite differences?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from netcore.gradcheck import TOLERANCE
from ui import state
from ui.charts import explainer as charts
from ui.gradient_check import (
    breakable,
    check_network,
    check_whole,
    default_network,
    train_with_and_without_bug,
)
from ui.math_panels import view_math

st.title("Gradient check")
st.caption(
    "Backpropagation is calculus written by hand, and a wrong sign still lets a network "
    "train, just badly. The check: nudge one number by ±h, watch the loss, and compare the "
    "slope with what the backward pass computed."
)

# -- which network ---------------------------------------------------------------------------
try:
    current = state.current_model()
except Exception:  # the app state could not be read (e.g. a run file went missing)
    current = None
if current is not None:
    model, info = current
    input_shape = tuple(info["input_shape"])
    n_classes = len(info.get("class_names") or []) or 10
    model_key = ("run", info.get("run_id") or info.get("label"), info.get("step"))
    st.info(f"Checking **{info.get('label', 'your network')}** (input {input_shape}).")
else:
    try:
        dataset = state.current_dataset()
        input_shape, n_classes = dataset.input_shape, dataset.n_classes
        ds_name = dataset.info.title
    except Exception:  # no dataset could be loaded: check the default shape anyway
        dataset = None
        input_shape, n_classes, ds_name = (1, 28, 28), 10, "28x28 images"
    model = default_network(input_shape, n_classes)
    model_key = ("default", input_shape, n_classes)
    st.info(
        f"No network in this session yet, so this checks a small default CNN for {ds_name} "
        "(Conv 4@3x3 → ReLU → MaxPool → Flatten → Dense 32 → ReLU → Dense). Train one on "
        "the Train page to check yours.",
        icon=":material/info:",
    )


def _label(option: tuple[int, str]) -> str:
    i, name = option
    what = "dL/dx (its input gradient)" if name == "input" else f"dL/d{name}"
    return f"layer {i} {type(model.layers[i]).__name__}: {what}"


def _result_style(value: str) -> str:
    """Green for pass, red for FAIL: readable on a projector from the back of the room."""
    if value == "pass":
        return "background-color: #d9f2e6; color: #00603d; font-weight: 600"
    return "background-color: #fbd5c5; color: #8a2b00; font-weight: 700"


# -- the teaching switch ---------------------------------------------------------------------
c1, c2 = st.columns([1, 2.2], vertical_alignment="bottom")
broken_on = c1.toggle(
    "Break a backward pass",
    key="gc.break",
    help="Wrap one layer so that one of its gradients comes out with the wrong sign.",
)
options = [o for o in breakable(model) if o[1] != "input" or o[0] > 0] + [(0, "input")]
default_target = next((o for o in options if o[1] == "weight"), options[0])
if st.session_state.get("gc.target") not in options:
    st.session_state["gc.target"] = default_target
target = c2.selectbox(
    "Which gradient to break (its sign gets flipped)",
    options,
    key="gc.target",
    format_func=_label,
    disabled=not broken_on,
)
broken = target if broken_on else None

# -- run the check (cached per network and bug) -----------------------------------------------
# Each layer's check depends only on that layer, so switching the bug on re-checks just the
# broken layer (under a second) and reuses the others.
cache = st.session_state.setdefault("gc.results", {})
if len(cache) > 8:
    cache.clear()
if (model_key, None) not in cache:
    with st.spinner("Checking every layer with finite differences (float64) ..."):
        cache[(model_key, None)] = (
            check_network(model, input_shape),
            check_whole(model, input_shape, n_classes),
        )
if (model_key, broken) not in cache:
    with st.spinner("Checking the broken layer and the whole network again ..."):
        redone = check_network(model, input_shape, broken=broken, only=(broken[0],))[0]
        layers = [redone if r.index == broken[0] else r for r in cache[(model_key, None)][0]]
        cache[(model_key, broken)] = (
            layers,
            check_whole(model, input_shape, n_classes, broken=broken),
        )
layers, whole = cache[(model_key, broken)]

rows = []
for r in layers:
    for grad, err in r.errors.items():
        n, total = r.checked[grad]
        rows.append(
            {
                "Layer": f"{r.index} {r.kind}",
                "Gradient": ("dL/dx" if grad == "input" else f"dL/d{grad}")
                + (" (broken)" if r.broken == grad else ""),
                "Relative error": err,
                "Result": "pass" if err < TOLERANCE else "FAIL",
                "Checked": f"{n:,} of {total:,}",
                "Input shape": "(" + ", ".join(map(str, r.in_shape)) + ")",
            }
        )
table = pd.DataFrame(rows)
failed = table[table["Result"] != "pass"]
worst = table["Relative error"].max()
if failed.empty:
    st.success(
        f"All {len(table)} gradients agree with finite differences: the largest relative "
        f"error is {worst:.1e}, far below the pass line of {TOLERANCE:.0e}.",
        icon=":material/check_circle:",
    )
else:
    names = ", ".join(f"{a} {b}" for a, b in zip(failed["Layer"], failed["Gradient"], strict=True))
    st.error(
        f"{len(failed)} of {len(table)} gradients disagree with finite differences: {names} "
        f"(relative error {failed['Relative error'].max():.2f}). A relative error near 1 means "
        "the two gradients point in opposite directions: a sign bug.",
        icon=":material/error:",
    )

left, right = st.columns([1.45, 1], gap="medium")
with left:
    st.markdown("**Each layer on its own**")
    st.dataframe(
        table.style.map(_result_style, subset=["Result"]),
        hide_index=True,
        width="stretch",
        column_config={
            "Gradient": st.column_config.TextColumn(width="medium"),
            "Relative error": st.column_config.NumberColumn(format="%.1e"),
        },
        height=min(38 + 35 * len(table), 560),
    )
    sampled = [r for r in layers if r.sampled]
    st.caption(
        "Float64, two random inputs per layer (kept away from ReLU's corner and from max-pool "
        "ties, where the slope is undefined), loss L = Σ g·y with a fixed random g."
        + (
            f" {len(sampled)} big layer(s) had a random sample of coordinates checked to "
            "keep the check within a few seconds; the rows say how many."
            if sampled
            else ""
        )
    )
with right:
    fig = charts.gradcheck_figure(
        [f"{a}: {b}" for a, b in zip(table["Layer"], table["Gradient"], strict=True)],
        list(table["Relative error"]),
        TOLERANCE,
    )
    st.plotly_chart(fig, key="gc.chart", config={"displaylogo": False})

with st.expander("The whole network with its loss", icon=":material/account_tree:"):
    whole_df = pd.DataFrame(
        {
            "Parameter": list(whole),
            "Relative error": list(whole.values()),
            "Result": ["pass" if e < TOLERANCE else "FAIL" for e in whole.values()],
        }
    )
    st.dataframe(
        whole_df.style.map(_result_style, subset=["Result"]),
        hide_index=True,
        column_config={"Relative error": st.column_config.NumberColumn(format="%.1e")},
    )
    st.caption(
        "Cross-entropy on two random inputs, 20 random coordinates per parameter. A broken "
        "input gradient in layer k also spoils every parameter below k: backprop carries "
        "the wrong number down."
    )

# -- what the bug does to training -----------------------------------------------------------
st.subheader("What the bug does to training", divider="gray")
if broken is None:
    st.markdown(
        "Switch on **Break a backward pass** above: the check flags the broken gradient at "
        "once. Then train two copies of the network, one with the bug, and compare."
    )
else:
    st.markdown(
        f"Two copies of this architecture start from the same random weights and see the same "
        f"batches; in the second, **{_label(broken)}** has its sign flipped."
    )
    run_key = ("gc.curves", model_key, broken)
    if st.button("Train both for 60 steps", key="gc.train", icon=":material/play_arrow:"):
        try:
            data = state.load_dataset(current[1]["dataset"]) if current else dataset
            x, y = data.X_train[:2000], data.y_train[:2000]
        except Exception:  # reported just below
            x = y = None
        if x is None or tuple(x.shape[1:]) != tuple(input_shape):
            st.warning("The training data for this network could not be loaded.")
        else:
            with st.spinner("Training the healthy and the broken network ..."):
                st.session_state[run_key] = train_with_and_without_bug(
                    model, input_shape, x, y, broken
                )
    curves = st.session_state.get(run_key)
    if curves is not None:
        st.plotly_chart(charts.bug_training_figure(curves, _label(broken)), key="gc.curves")
        healthy, bad = curves["healthy"][-10:].mean(), curves["broken"][-10:].mean()
        if broken == (0, "input"):
            st.caption(
                "Identical curves: the first layer's input gradient is never used in "
                "training (nothing below it learns), so this bug does no harm here, yet the "
                "check still caught it."
            )
        else:
            st.caption(
                f"Loss over the last 10 steps: {healthy:.3f} with the correct backward pass, "
                f"{bad:.3f} with the bug. Gradient descent on a wrong gradient climbs uphill "
                "on that weight, or wanders."
            )
        if len(curves["step"]) < 60:
            st.caption(
                f"Stopped after {len(curves['step'])} steps to keep the wait short on this "
                "machine; the difference shows already."
            )

with st.expander("Using this page in class", icon=":material/school:"):
    st.markdown(
        "1. Show the green table: every layer's backward pass agrees with finite differences "
        "to about 1e-9. Open *The math* below: the check is just the definition of a "
        "derivative, with ±h.\n"
        "2. Switch on **Break a backward pass** and pick *layer 0 Conv2D: dL/dweight*: one row "
        "turns red with a relative error of exactly 1, the signature of a flipped sign.\n"
        "3. Press **Train both**: the broken network's loss stalls or climbs while the "
        "correct one falls. Bugs in backprop rarely crash; they make learning quietly worse.\n"
        "4. Break a middle layer's *dL/dx* and open *The whole network with its loss*: every "
        "layer below it fails too, because backprop hands the wrong number down the chain.\n"
        "5. Break *layer 0's dL/dx*: the check catches it, yet training is unaffected, "
        "since nothing below the first layer learns. A check sees what training cannot."
    )

view_math("gradient_check", tolerance=f"{TOLERANCE:.0e}", checked=f"{len(table)} gradients")
