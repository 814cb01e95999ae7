"""Home: what NetCore Lab is, and one-click starts that land on a network training."""

import streamlit as st

from app_pages._common import pretty_error
from ui import state
from ui.config import RunConfig
from ui.jobs import LimitError

QUICK_DATASET = "mnist_5k"


@st.cache_resource(show_spinner=False)
def lenet_diagram(input_shape: tuple, n_classes: int):
    """The LeNet-5 of the one-click start as a small stack diagram (built once per server).

    Besides showing what will train, it makes the browser load the chart library here, while
    the student reads, and not on the Train page while the training competes for the CPU
    (the first curve came 5-8 s late that way on a busy two-core server).
    """
    import numpy as np

    from netcore.spec import build_model, preset_spec
    from ui.charts.architecture import stack_figure
    from ui.stack import rows_from_spec, spec_from_rows

    rows = rows_from_spec(preset_spec("lenet5", input_shape, n_classes))
    spec, owner = spec_from_rows(rows)
    model = build_model(spec, input_shape, rng=np.random.default_rng(0))
    shapes, params = {}, {}
    for i, (shape, layer) in enumerate(zip(model.output_shapes(input_shape), model, strict=True)):
        shapes[owner[i]] = tuple(shape)
        params[owner[i]] = params.get(owner[i], 0) + sum(p.size for p in layer.parameters())
    boxes = [
        {
            "label": row.label().split("@")[0].replace(" + ReLU", "").replace(" 2×2", ""),
            "type": row.type,
            "shape": shapes.get(i),
            "error": False,
            "params": params.get(i, 0),
        }
        for i, row in enumerate(rows)
    ]
    fig = stack_figure(input_shape, boxes, height=170)
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
    return fig


def start_small_cnn() -> None:
    """LeNet-5 on the bundled digits, Adam 1e-3, 5 epochs: about half a minute on a laptop."""
    from netcore.spec import preset_spec

    state.set_dataset_key(QUICK_DATASET)
    ds = state.load_dataset(QUICK_DATASET)
    cfg = state.config_for_dataset(RunConfig(), ds).replace(
        arch=preset_spec("lenet5", tuple(ds.input_shape), ds.n_classes),
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        epochs=5,
        name="LeNet-5 on digits",
    )
    state.set_draft_config(cfg)
    state.start_run(cfg)


st.title("NetCore Lab")
st.markdown(
    "Build a neural network, watch it learn, and look inside it. "
    "Every part of it (the convolutions, the backward pass, the weight updates) is written "
    "from scratch in NumPy, so what you see here is exactly what the code does. "
    "Start with one click below, or pick a dataset and build your own network."
)

left, right = st.columns(2, gap="large")
with left, st.container(border=True):
    st.subheader(":material/grid_on: Train a small CNN on digits")
    st.caption(
        "LeNet-5 learns to read handwritten digits (MNIST, 4,000 training images). "
        "You land on the Train page with the curves moving; about 96% correct in 5 epochs."
    )
    if st.button(
        "Start training", type="primary", key="home.quick_cnn", icon=":material/play_arrow:"
    ):
        try:
            start_small_cnn()
        except LimitError as e:
            st.warning(f"{e}", icon=":material/hourglass_top:")
            st.page_link("app_pages/train.py", label="See your run on the Train page")
        except Exception as e:  # a start must never show a traceback
            st.error(f"Could not start training: {pretty_error(e)}")
        else:
            st.switch_page("app_pages/train.py")
with right, st.container(border=True):
    st.subheader(":material/scatter_plot: Watch an MLP separate a spiral")
    st.caption(
        "A small multilayer perceptron bends its decision boundary around two interleaved "
        "spirals. Change the layers and see the boundary change, live."
    )
    if st.button("Open the playground", key="home.quick_mlp", icon=":material/open_in_new:"):
        st.switch_page("app_pages/playground.py")

quick = state.load_dataset(QUICK_DATASET)  # cached: the click starts at once
st.caption("The small CNN, LeNet-5: each box is a layer, under it the shape of what it outputs.")
st.plotly_chart(
    lenet_diagram(tuple(int(s) for s in quick.input_shape), int(quick.n_classes)),
    width="stretch",
    key="home.lenet",
    config={"displayModeBar": False, "staticPlot": True},
)

st.markdown("#### Or build your own")
c1, c2, c3 = st.columns(3)
with c1:
    st.page_link(
        "app_pages/data.py", label="**1. Data**: choose the images", icon=":material/dataset:"
    )
    st.caption("Digits, clothing or photos; see samples and class counts.")
with c2:
    st.page_link(
        "app_pages/build.py", label="**2. Build**: stack the layers", icon=":material/construction:"
    )
    st.caption("Convolutions, pooling, dense layers; shapes and sizes checked as you go.")
with c3:
    st.page_link(
        "app_pages/train.py", label="**3. Train**: watch it learn", icon=":material/model_training:"
    )
    st.caption("Live loss and accuracy; pause, step one batch, change the learning rate.")

run = state.current_run()
if run is not None:
    st.info(
        f"Your current run **{run.config.name or run.run_id}** is *{run.status}*.",
        icon=":material/history:",
    )
    st.page_link(
        "app_pages/train.py", label="Continue on the Train page", icon=":material/arrow_forward:"
    )

st.caption(
    "MNIST is by Yann LeCun and Corinna Cortes (CC BY-SA 3.0). Your runs are kept on this "
    "server; the address bar holds the run id, so a bookmark or a reload brings a run back."
)
