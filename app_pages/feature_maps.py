"""Feature maps: what every layer computes for one input you choose, draw or upload."""

import numpy as np
import streamlit as st

from ui import inside, state
from ui.charts.feature_maps import (
    activation_figure,
    channel_figure,
    input_figure,
    picture_figure,
    probabilities_figure,
)
from ui.charts.filters import filters_figure
from ui.inspect import layer_label, shown_layers, source_conv
from ui.math_panels import view_math
from ui.show import show_chart

st.title("Feature maps")
with st.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "Pick an input and watch it travel through the network. Every layer turns its input "
        "into new numbers; for a convolution layer those numbers form one **feature map** "
        "per filter (a *channel*): bright where the filter found its pattern.\n\n"
        "* **Input as the network sees it**: after resizing to the training size and "
        "normalising, exactly what enters the first layer.\n"
        "* Each montage is one layer, a tile per channel, the channel number in the corner. "
        "Before ReLU, values can be negative (blue) or positive (red), white is zero; after "
        "ReLU they are never negative (dark = 0, yellow = strong).\n"
        "* Pooling halves the size and keeps the strongest responses; Dense layers have no "
        "picture, so their units are drawn as a strip of cells.\n"
        "* **Click a tile** (or use *Enlarge a channel*) to see that map big, next to the "
        "filter that made it.\n"
        "* The bars give the network's confidence in each class (softmax of the last layer)."
    )

got = inside.model_or_explain(
    "feature_maps",
    "Here you will feed the network an image, or a digit you draw, and see what every "
    "layer makes of it.",
)
if got is None:
    st.stop()
model, info = got

input_shape = tuple(info.get("input_shape") or ())
dataset = None
try:
    dataset = state.load_dataset(info["dataset"]) if info.get("dataset") else None
except Exception as e:  # a set that is not downloaded here: drawing and uploads still work
    st.warning(f"The dataset {info.get('dataset')!r} could not be loaded ({e}).")
if dataset is not None and tuple(dataset.input_shape) != input_shape:
    dataset = None
if len(input_shape) != 3:
    st.info(
        "Feature maps need a network that takes images (channels, height, width); this "
        f"one takes inputs of shape {input_shape}.",
        icon=":material/info:",
    )
    st.stop()
class_names = list(info.get("class_names") or (dataset.class_names if dataset else []))


# -- choose the input -------------------------------------------------------------------
def test_image():
    """A test image by class and number: (x (1, C, H, W), true label, title)."""
    y = dataset.y_test
    c1, c2 = st.columns([1, 2])
    with c1:
        choices = ["any class", *range(len(class_names))]
        cls = st.selectbox(
            "Class",
            choices,
            format_func=lambda c: c if isinstance(c, str) else class_names[c],
            key="fm.class",
        )
    pool = np.arange(len(y)) if isinstance(cls, str) else np.flatnonzero(y == cls)
    with c2:
        k = st.slider(
            "Image number", 0, max(len(pool) - 1, 1), 0, key="fm.index", disabled=len(pool) < 2
        )
    idx = int(pool[min(k, len(pool) - 1)])
    return dataset.X_test[idx : idx + 1], int(y[idx]), f"test image #{idx}"


def drawn_image():
    """A digit drawn with the mouse, prepared like the training images."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=18,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=224,
        width=224,
        drawing_mode="freedraw",
        return_image_data=True,
        key="fm.canvas",
    )
    st.caption(
        "Draw with the mouse, large and centred, like the training digits. The bin icon "
        "in the box's toolbar clears it."
    )
    rgba = getattr(result, "image_data", None)
    if rgba is None or rgba[..., :3].max() == 0:
        return None
    rgba = np.asarray(rgba, dtype=np.float32)
    rgb = rgba[..., :3] * (rgba[..., 3:4] / 255.0)  # strokes over the black background
    return prepare(rgb.astype(np.uint8), "your drawing")


def uploaded_image():
    file = st.file_uploader(
        "An image (PNG, JPEG, ...)",
        type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
        key="fm.upload",
    )
    if file is None:
        return None
    if dataset is None:
        st.error(
            "Preparing an image needs the training set's normalisation, and the "
            "dataset is not available here."
        )
        return None
    from netcore.datasets import DatasetError
    from ui.images import prepare_upload

    try:
        prepared = prepare_upload(file.getvalue(), file.name, dataset.info, dataset.normalization)
    except (DatasetError, ValueError) as e:
        st.error(f"This image cannot be used: {e}")
        return None
    return prepared.x.astype(np.float32), None, file.name


def prepare(pixels: np.ndarray, name: str):
    if dataset is None:
        st.error(
            "Preparing an image needs the training set's normalisation, and the "
            "dataset is not available here."
        )
        return None
    from netcore.datasets import prepare_image

    try:
        prepared = prepare_image(pixels, dataset.info, dataset.normalization, name=name)
    except ValueError as e:
        st.error(f"This image cannot be used: {e}")
        return None
    return prepared.x.astype(np.float32), None, name


sources = ["Test image", "Draw", "Upload"] if dataset is not None else ["Upload"]
source = st.segmented_control("Input", sources, default=sources[0], key="fm.source")
picked = None
if source == "Test image":
    picked = test_image()
elif source == "Draw":
    picked = drawn_image()
elif source == "Upload":
    picked = uploaded_image()
if picked is None:
    st.info("Choose an input above to see the feature maps.", icon=":material/image:")
    st.stop()
x, true_label, input_title = picked

c1, c2 = st.columns(2)
with c1:
    range_choice = st.radio(
        "Colour range",
        ["shared per layer", "each channel its own"],
        horizontal=True,
        key="fm.range",
        help="Shared: see which channels respond most. Own: see the pattern of weak ones.",
    )
with c2:
    follow = inside.follow_toggle(info, "fm.follow")
per_channel = range_choice != "shared per layer"
layers = shown_layers(model)
channel_layers = [i for i in layers if source_conv(model, i) is not None]


@st.fragment(run_every=inside.live_every(info, follow))
def maps_view():
    timer = inside.Timer()
    live_model, live_info = inside.refresh(model, info)
    moment, step = inside.moment_picker(live_info, "fm")
    m = live_model if moment is None else inside.snapshot_model(live_info, model, step, moment)
    key = inside.model_key(live_info, live_model) + (f"@{step}" if step is not None else "")
    acts, probs = inside.forward_cached(m, key, x)
    inside.source_caption(live_info, step)

    a, b = st.columns([1, 1])
    with a:
        c, h, w = x.shape[1:]
        show_chart(
            input_figure(x[0], source=input_title),
            key="fm.input",
            filename="input",
            data={
                "channel": np.repeat(np.arange(c), h * w),
                "row": np.tile(np.repeat(np.arange(h), w), c),
                "column": np.tile(np.arange(w), c * h),
                "value": x[0].ravel(),
            },
        )
        if x.shape[1] == 3 and dataset is not None:
            # Colour channels side by side lose the picture: show it too, normalisation undone.
            rgb = dataset.normalization.to_unit(x)[0].transpose(1, 2, 0) * 255
            fig = picture_figure(rgb, title="The same input as a picture", height=220)
            show_chart(fig, key="fm.picture", filename="input-picture")
    with b:
        names = class_names or [str(i) for i in range(len(probs))]
        show_chart(
            probabilities_figure(probs, names, true_label=true_label),
            key="fm.probs",
            data={"class": names, "probability": probs},
            filename="probabilities",
        )

    def enlarged(li: int, ch: int, key: str) -> None:
        """Channel `ch` of layer `li` big, next to the filter that made it."""
        z1, z2 = st.columns([3, 2])
        with z1:
            fig = channel_figure(acts[li][ch], title=f"{layer_label(li, m[li])} · channel {ch}")
            show_chart(fig, key=key, filename=f"layer{li}-channel{ch}")
        with z2:
            conv = source_conv(m, li)
            w = m[conv].named_parameters()[0][1].data[ch : ch + 1]
            rgb = conv == channel_layers[0] and w.shape[1] == 3
            zero = "mid grey = 0" if rgb else "white = 0"
            slices = "" if rgb or w.shape[1] == 1 else " · a tile per input channel"
            fig = filters_figure(
                w,
                mode="all",
                rgb=rgb,
                title=f"Filter {ch} of layer {conv}",
                subtitle=zero + slices,
                height=260,
            )
            show_chart(fig, key=f"{key}_filter", filename=f"layer{conv}-filter{ch}")

    if channel_layers:
        with st.container(border=True):
            st.markdown("**Enlarge a channel** (or click a tile of a layer below)")
            e1, e2 = st.columns([2, 1])
            with e1:
                li = inside.layer_select(m, channel_layers, key="fm.zoom_layer")
            n_ch = acts[li].shape[0]
            with e2:
                ch = st.number_input("Channel", 0, n_ch - 1, 0, key="fm.zoom_channel")
            enlarged(li, int(min(ch, n_ch - 1)), "fm.zoom")

    clicked = st.session_state.get("fm.clicked")
    for i in layers:
        a = acts[i]
        clickable = i in channel_layers
        fig = activation_figure(
            a, per_channel=per_channel, layer_name=layer_label(i, m[i]), clickable=clickable
        )
        flat = a.reshape(a.shape[0], -1) if a.ndim == 3 else a.reshape(1, -1)
        inside.chart_with_data(
            fig,
            key=f"fm.layer{i}",
            filename=f"feature-maps-layer{i}",
            data=_layer_table(flat, a.ndim == 3),
            on_click=_tile_clicked(i) if clickable else None,
        )
        if clicked is not None and clicked[0] == i and clicked[1] < a.shape[0]:
            with st.container(border=True, key="fm.clicked_panel"):
                enlarged(i, int(clicked[1]), "fm.click")
    st.session_state["fm.ms"] = timer.ms()


def _tile_clicked(i: int):
    """on_select callback of layer `i`'s montage: a click on a tile enlarges that channel
    (below the montage, and in the "Enlarge a channel" box); a click beside it closes it."""

    def pick():
        event = st.session_state.get(f"fm.layer{i}.chart")
        points = event["selection"]["points"] if event else []
        if not points:
            st.session_state.pop("fm.clicked", None)
            return
        ch = int(points[0].get("point_index", points[0].get("point_number", 0)))
        st.session_state["fm.clicked"] = (i, ch)
        st.session_state["fm.zoom_layer"] = i
        st.session_state["fm.zoom_channel"] = ch

    return pick


def _layer_table(flat: np.ndarray, channels: bool) -> dict:
    """Long-form CSV: one row per value (channel, position, value)."""
    c, n = flat.shape
    if channels:
        return {
            "channel": np.repeat(np.arange(c), n),
            "position": np.tile(np.arange(n), c),
            "value": flat.ravel(),
        }
    return {"unit": np.arange(n), "value": flat.ravel()}


maps_view()
view_math("feature_maps", input=input_shape)
