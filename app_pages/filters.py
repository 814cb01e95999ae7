"""Filters: every conv layer's kernels as images, replayable over training."""

import numpy as np
import streamlit as st

from ui import inside
from ui.charts.filters import filters_figure
from ui.inspect import dense_as_images, is_conv, layer_label
from ui.math_panels import view_math
from ui.show import show_chart

st.title("Filters")
with st.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "A convolution layer slides small grids of weights, its **filters** (or kernels), "
        "over its input. Each tile below is one filter, drawn with its weights as colours: "
        "**red is positive, blue negative, white exactly zero**. A filter responds most "
        "where the input looks like its red part and unlike its blue part, so a filter "
        "with a red stripe next to a blue one detects an edge.\n\n"
        "* **Shared range**: one colour scale for the whole layer, so strong and weak "
        "filters can be compared. **Each its own range**: every filter uses the full "
        "colour scale, so the pattern of a weak filter shows too.\n"
        "* Every conv layer is drawn, input side first. Filters of deeper layers have one "
        "slice per input channel: show their average or all of them (rows = filters, "
        "columns = input channels); pick a single layer to see one slice.\n"
        "* In a colour network the first layer's filters are drawn in colour: mid grey "
        "is zero, and the colour shows which of red, green, blue the filter likes.\n"
        "* Slide **Moment in training** to replay how the filters formed: they start as "
        "noise and grow into edge and blob detectors."
    )

got = inside.model_or_explain(
    "filters", "Here you will see the filters of each convolution layer, and how they form."
)
if got is None:
    st.stop()
model, info = got


def weight_of(i: int, moment_state: dict | None, m=None) -> np.ndarray:
    if moment_state is not None and f"{i}.weight" in moment_state:
        return np.asarray(moment_state[f"{i}.weight"])
    return (m or model)[i].named_parameters()[0][1].data


convs = inside.layer_options(model, is_conv)
dense_images = None
if not convs:
    first_dense = next(
        (i for i, layer in enumerate(model) if type(layer).__name__ == "Dense"), None
    )
    if first_dense is not None:
        w = model[first_dense].named_parameters()[0][1].data
        dense_images = dense_as_images(w, tuple(info.get("input_shape", ())))
    if dense_images is None:
        st.info(
            "This network has no convolution layers, and its first Dense layer does not "
            "take an image, so there are no filters to draw. The **Weights & gradients** "
            "page shows its weights.",
            icon=":material/info:",
        )
        st.stop()
    convs = [first_dense]
    st.caption(
        "This network has no convolution layers. For a network of Dense layers on images, "
        "each unit of the first layer has one weight per pixel: drawn as an image, that is "
        "the unit's template, its *filter*."
    )

ALL = -1


def layer_name(i: int) -> str:
    return f"all {len(convs)} conv layers" if i == ALL else layer_label(i, model[i])


c1, c2, c3 = st.columns([2, 2, 2])
with c1:
    choice = st.selectbox(
        "Layer",
        [ALL, *convs] if len(convs) > 1 else convs,
        format_func=layer_name,
        key="filters.layer",
    )
with c2:
    range_choice = st.radio(
        "Colour range",
        ["shared range", "each filter its own range"],
        horizontal=True,
        key="filters.range",
        help="Shared: compare strengths across filters. Own: see every filter's pattern.",
    )
per_filter = range_choice != "shared range"
shown = convs if choice == ALL else [choice]


def in_channels(i: int) -> int:
    w = weight_of(i, None)
    # A Dense "filter" is an image of the network's input.
    return int(info["input_shape"][0]) if w.ndim == 2 else int(w.shape[1])


rgb_layer = convs[0] if in_channels(convs[0]) == 3 and is_conv(model[convs[0]]) else None
deep = [i for i in shown if in_channels(i) > 1 and i != rgb_layer]
rgb = False
mode, channel = "average", 0
with c3:
    if rgb_layer in shown:
        rgb = st.toggle(
            "First layer in colour",
            value=True,
            key="filters.rgb",
            help="Off: the first layer's filters like the others, one grey-scale tile per "
            "input channel (red, green, blue) or their average.",
        )
    if deep or (rgb_layer in shown and not rgb):
        labels = {"average": "average", "channel": "one input channel", "all": "each channel"}
        options = list(labels) if len(shown) == 1 else ["average", "all"]
        if st.session_state.get("filters.mode") not in options:
            st.session_state.pop("filters.mode", None)  # "one channel" of a single layer
        mode = st.radio(
            "Input channels",
            options,
            format_func=labels.get,
            horizontal=True,
            key="filters.mode",
            help="A filter of a deeper layer has one slice per input channel: show their "
            "average, one of them, or all (rows = filters, columns = input channels).",
        )
if mode == "channel":
    channel = st.slider("Input channel", 0, in_channels(shown[0]) - 1, 0, key="filters.channel")


with st.container(horizontal=True, vertical_alignment="center"):
    follow = inside.follow_toggle(info, "filters.follow")
    has_snapshots = inside.current_run_for(info) is not None
    play = has_snapshots and st.toggle(
        "Replay training",
        key="filters.play",
        help="Step through the saved snapshots, about one a second, to watch the filters form.",
    )
REPLAY_S = 0.9
MAX_KERNELS = 512  # tiles in "each channel" mode, per layer


def kernels_table(w: np.ndarray) -> dict:
    """CSV columns: one row per (filter, input channel) kernel, one column per weight."""
    out_c, in_c, _, kw = w.shape
    kernels = w.reshape(out_c * in_c, -1)
    data = {
        "filter": np.repeat(np.arange(out_c), in_c),
        "input_channel": np.tile(np.arange(in_c), out_c),
    }
    for j in range(kernels.shape[1]):
        data[f"w{j // kw}_{j % kw}"] = kernels[:, j]
    return data


@st.fragment(run_every=REPLAY_S if play else inside.live_every(info, follow))
def filters_view():
    timer = inside.Timer()
    live_model, live_info = inside.refresh(model, info)
    moment, step = inside.moment_picker(live_info, "filters", advance=play)
    inside.source_caption(live_info, step)
    for i in shown:
        w = weight_of(i, moment, live_model)
        if w.ndim == 2:
            w = dense_as_images(w, tuple(info["input_shape"]))
        if mode == "all" and w.shape[0] * w.shape[1] > MAX_KERNELS:
            # 64 filters x 64 channels would be 4,096 tiles of a few pixels: show what fits.
            keep = max(1, MAX_KERNELS // w.shape[1])
            st.caption(
                f"{layer_label(i, model[i])}: the first {keep} of {w.shape[0]} filters, each "
                f"with its {w.shape[1]} input channels (more would be too small to see). The "
                "average shows them all."
            )
            w = w[:keep]
        fig = filters_figure(
            w,
            mode=mode,
            channel=int(channel),
            per_filter=per_filter,
            rgb=rgb and i == rgb_layer,
            layer_name=layer_label(i, model[i]),
        )
        show_chart(
            fig,
            key=f"filters.grid{i}",
            data=kernels_table(w),
            filename=f"filters-layer{i}",
        )
    st.session_state["filters.ms"] = timer.ms()


filters_view()
view_math("filters", weight=tuple(model[shown[0]].named_parameters()[0][1].shape))
