"""MLP playground: a small network learns a 2-D toy set while you watch its decision boundary."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import streamlit as st

from ui.charts import playground as charts
from ui.math_panels import view_math
from ui.playground import (
    ACTIVATIONS,
    DATASETS,
    FEATURES,
    MAX_LAYERS,
    MAX_NEURONS,
    PLANE,
    Playground,
    PlaygroundConfig,
)

PG, PLAYING, FRAMES = "pg.playground", "pg.playing", "pg.frames"
FRAME_INTERVAL = 0.1  # seconds between frames while playing (the fragment's run_every)
LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
REG_RATES = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0]
BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
STEPS_PER_FRAME = [1, 2, 5, 10, 20, 50]
TITLES = {
    "spiral": "Spiral",
    "circles": "Circles",
    "moons": "Moons",
    "xor": "XOR",
    "blobs": "Blobs",
}
MAX_CLASSES = {"spiral": 6, "circles": 4, "moons": 2, "xor": 2, "blobs": 6}

DEFAULTS = {
    "pg.dataset": "spiral",
    "pg.classes": 2,
    "pg.points": 500,
    "pg.noise": 0.1,
    "pg.test_pct": 30,
    "pg.seed": 0,
    "pg.features": ["x", "y"],
    "pg.layers": 2,
    "pg.optimizer": "Adam",
    "pg.lr": 0.01,
    "pg.reg": "none",
    "pg.reg_rate": 1e-3,
    "pg.batch": 32,
    "pg.speed": 10,
    "pg.resolution": 80,
}
for i in range(MAX_LAYERS):
    DEFAULTS[f"pg.n{i}"] = 16
    DEFAULTS[f"pg.act{i}"] = "Tanh"
# Streamlit forgets a widget's value when its page is left; keep a copy so that coming back
# to the playground finds the same settings (and does not reset the network).
SAVED = st.session_state.setdefault("pg.saved", {})
for key, value in DEFAULTS.items():
    if key not in st.session_state:
        st.session_state[key] = SAVED.get(key, value)
st.session_state.setdefault(PLAYING, False)


def config_from_widgets() -> PlaygroundConfig:
    s = st.session_state
    n_layers = int(s["pg.layers"])
    return PlaygroundConfig(
        dataset=s["pg.dataset"],
        n_points=int(s["pg.points"]),
        n_classes=min(int(s["pg.classes"]), MAX_CLASSES[s["pg.dataset"]]),
        noise=float(s["pg.noise"]),
        test_ratio=s["pg.test_pct"] / 100,
        seed=int(s["pg.seed"]),
        features=tuple(f for f in FEATURES if f in (s["pg.features"] or [])),
        hidden=tuple(int(s[f"pg.n{i}"]) for i in range(n_layers)),
        activations=tuple(s[f"pg.act{i}"] for i in range(n_layers)),
        optimizer=s["pg.optimizer"],
        lr=float(s["pg.lr"]),
        regularization=s["pg.reg"],
        reg_rate=float(s["pg.reg_rate"]),
        batch_size=int(s["pg.batch"]),
    )


def set_playing(playing: bool) -> None:
    """Play or pause. Sets the state the button showed rather than toggling it: a click
    whose callback happens to run twice (e.g. a full rerun racing the live fragment's
    rerun) must still pause, not pause and play again."""
    st.session_state[PLAYING] = playing
    st.session_state[FRAMES] = deque(maxlen=12)


st.title("MLP playground")
st.caption(
    "A small network learns to tell coloured points apart. The background shows what it "
    "predicts at every point of the plane; the tiles show what each hidden neuron responds to."
)

left, main = st.columns([1.0, 3.0], gap="medium")

# -- run controls and the settings that change while training runs --------------------------
with left:
    playing = st.session_state[PLAYING]
    bar = st.container(horizontal=True, gap="small")
    bar.button(
        "Pause" if playing else "Play",
        key="pg.play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        type="primary",
        on_click=set_playing,
        args=(not playing,),
    )
    step_clicked = bar.button(
        "Step",
        key="pg.step",
        icon=":material/skip_next:",
        help="One mini-batch update, then pause: watch a single step of gradient descent.",
    )
    reset_clicked = bar.button(
        "Reset",
        key="pg.reset",
        icon=":material/restart_alt:",
        help="New random weights from the seed; the data stay.",
    )
    st.subheader("Training", divider="gray")
    st.select_slider(
        "Learning rate",
        LEARNING_RATES,
        key="pg.lr",
        format_func=lambda v: f"{v:g}",
        help="Step size of each update. Try changing it while training runs.",
    )
    st.segmented_control(
        "Regularisation",
        ["none", "L1", "L2"],
        key="pg.reg",
        required=True,
        help="L1 pushes weights to exactly 0 (sparse); L2 shrinks them all.",
    )
    st.segmented_control("Optimizer", ["SGD", "Adam"], key="pg.optimizer", required=True)
    st.select_slider(
        "Regularisation rate λ",
        REG_RATES,
        key="pg.reg_rate",
        format_func=lambda v: f"{v:g}",
        disabled=st.session_state["pg.reg"] == "none",
        help="How strongly large weights are penalised.",
    )
    c1, c2 = st.columns(2)
    c1.select_slider(
        "Batch size", BATCH_SIZES, key="pg.batch", help="Points per update. Small: noisy steps."
    )
    c2.select_slider(
        "Steps / frame",
        STEPS_PER_FRAME,
        key="pg.speed",
        help="Mini-batch updates between two pictures (the speed of the film).",
    )

# -- data, features and network ---------------------------------------------------------
with left:
    st.subheader("Data", divider="gray")
    st.selectbox("Data set", DATASETS, key="pg.dataset", format_func=TITLES.get)
    max_k = MAX_CLASSES[st.session_state["pg.dataset"]]
    if max_k > 2:
        st.slider("Classes", 2, max_k, key="pg.classes")
    c1, c2 = st.columns(2)
    c1.number_input("Points", 20, 2000, step=50, key="pg.points")
    c2.number_input("Seed", 0, 10_000, step=1, key="pg.seed")
    st.slider("Noise", 0.0, 0.5, step=0.01, key="pg.noise")
    st.slider(
        "Test share (%)",
        10,
        90,
        step=5,
        key="pg.test_pct",
        help="Points held out from training: the test loss shows generalisation.",
    )
    st.subheader("Input features", divider="gray")
    st.pills(
        "What the first layer sees",
        list(FEATURES),
        wrap=True,
        selection_mode="multi",
        key="pg.features",
        help="Hand-made features vs. depth: with x² and y² even a "
        "network without hidden layers separates the circles.",
    )
    st.subheader("Hidden layers", divider="gray")
    st.number_input("Number of hidden layers", 0, MAX_LAYERS, key="pg.layers")
    for i in range(int(st.session_state["pg.layers"])):
        a, b = st.columns([1, 1.2])
        a.number_input(f"Layer {i + 1}", 1, MAX_NEURONS, key=f"pg.n{i}", help="Neurons")
        b.selectbox("activation", ACTIVATIONS, key=f"pg.act{i}")
    with st.expander("Display"):
        st.select_slider("Boundary grid resolution", [40, 60, 80, 100], key="pg.resolution")

# -- apply the settings (a reset only when data or architecture changed) --------------------
SAVED.update({key: st.session_state[key] for key in DEFAULTS if key in st.session_state})
config = config_from_widgets()
problems = config.problems()
pg: Playground | None = st.session_state.get(PG)
if problems:
    st.error("Cannot build this playground: " + "; ".join(problems) + ".")
elif pg is None:
    pg = st.session_state[PG] = Playground(config)
elif pg.apply(config):
    st.session_state[FRAMES] = deque(maxlen=12)
if pg is not None and reset_clicked:
    pg.reset()
if pg is not None and step_clicked:
    st.session_state[PLAYING] = False
    pg.step(1)
if pg is None:
    st.stop()


def points_layer(pg: Playground) -> np.ndarray:
    """The data points' picture, drawn once per data set (the points never move)."""
    key = pg.config.data_key()
    cached = st.session_state.get("pg.points_layer")
    if cached is None or cached[0] != key:
        points = {"train": (pg.xy_train, pg.y_train), "test": (pg.xy_test, pg.y_test)}
        cached = st.session_state["pg.points_layer"] = (key, charts.points_layer(points, PLANE))
    return cached[1]


def legend(n_classes: int) -> str:
    dots = " ".join(
        f'<span style="color:{charts.class_colour(k)}">&#9679;</span> class {k}'
        for k in range(n_classes)
    )
    return (
        f"{dots} &nbsp;·&nbsp; white ring: training point, black ring: test point (never "
        "trained on) &nbsp;·&nbsp; background: the prediction, stronger where surer, white "
        f"on the boundary &nbsp;·&nbsp; the square spans −{PLANE:g} to {PLANE:g}"
    )


@st.fragment(run_every=FRAME_INTERVAL if st.session_state[PLAYING] else None)
def live_view() -> None:
    """One frame: train N steps (when playing), then draw the boundary and the tiles."""
    pg: Playground = st.session_state[PG]
    t0 = time.perf_counter()
    if st.session_state[PLAYING]:
        pg.step(int(st.session_state["pg.speed"]))
    t1 = time.perf_counter()
    snap = pg.snapshot(resolution=int(st.session_state["pg.resolution"]), tile_resolution=24)
    st.session_state["pg.snapshot"] = snap
    boundary = charts.data_uri(
        charts.jpeg_bytes(charts.boundary_picture(snap.probs, points_layer(pg)))
    )
    tiles = [
        charts.data_uri(charts.png_bytes(charts.tiles_rgb(t, r)))
        for t, r in zip(snap.tiles, snap.tile_ranges, strict=True)
    ]
    t2 = time.perf_counter()

    m = st.columns(5)
    m[0].metric("Epoch", f"{snap.epoch:,.1f}", help=f"{snap.steps:,} mini-batch updates")
    m[1].metric("Train loss", f"{snap.train_loss:.3f}")
    m[2].metric("Test loss", f"{snap.test_loss:.3f}")
    m[3].metric("Train accuracy", f"{snap.train_acc:.1%}")
    m[4].metric("Test accuracy", f"{snap.test_acc:.1%}")
    middle, right = st.columns([1.45, 1.0], gap="medium")
    with middle:
        st.image(boundary, width="stretch")
        st.caption(legend(pg.n_classes), unsafe_allow_html=True)
    with right:
        st.markdown("**What each hidden neuron sees**")
        if not tiles:
            st.info("No hidden layers: the network is a linear classifier on the features.")
        for i, (img, act) in enumerate(zip(tiles, pg.config.activations, strict=True)):
            n = snap.tiles[i].shape[0]
            st.caption(f"Layer {i + 1}: {n} {act} neuron{'s' if n > 1 else ''}")
            st.image(img, width=charts.montage_width(n))
        if tiles:
            st.caption(
                "Each tile is one neuron's output over the whole plane: blue negative, white "
                "zero, red positive (ReLU and linear tiles scaled to their own maximum). Deeper "
                "neurons combine the shapes of the layer before."
            )
    frames = st.session_state.setdefault(FRAMES, deque(maxlen=20))
    if st.session_state[PLAYING]:
        frames.append(time.perf_counter())
    st.session_state["pg.frame_ms"] = (1000 * (t1 - t0), 1000 * (t2 - t1))


@st.fragment(run_every=1.0 if st.session_state[PLAYING] else None)
def curves_view() -> None:
    """The loss curves and the frame rate: once a second is enough for them."""
    snap = st.session_state.get("pg.snapshot")
    if snap is None:
        return
    if snap.steps == 0:  # one point draws no curve: say what will appear instead
        st.info(
            "The train and test loss curves appear here once training starts: press "
            "**Play**, or **Step** for one update at a time.",
            icon=":material/show_chart:",
        )
        return
    st.plotly_chart(
        charts.loss_figure(snap.history), key="pg.losses", config={"displaylogo": False}
    )
    frames = st.session_state.get(FRAMES) or []
    fps = (len(frames) - 1) / (frames[-1] - frames[0]) if len(frames) > 2 else None
    st.session_state["pg.fps"] = fps
    train_ms, draw_ms = st.session_state.get("pg.frame_ms", (0.0, 0.0))
    st.caption(
        (f"{fps:.1f} frames/s · " if fps and st.session_state[PLAYING] else "")
        + f"{snap.step_ms:.2f} ms per update · last frame: train {train_ms:.0f} ms, "
        f"draw {draw_ms:.0f} ms"
    )


with main:
    live_view()
    curves_view()

with st.expander("Ideas for a lesson", icon=":material/school:"):
    st.markdown(
        "- **Depth vs. features.** *Circles*, features x and y, 0 hidden layers: a straight "
        "line cannot do it. Add x² and y²: now it can, without any hidden layer.\n"
        "- **Why more neurons and layers.** *Spiral*: 1 hidden layer of 3 neurons stalls near "
        "70% accuracy; 2 layers of 16 reach about 100%. Watch the tiles: layer 1 cuts the "
        "plane with straight lines, layer 2 combines them into curves.\n"
        "- **Learning rate.** Raise it to 3 while training runs: the loss jumps around. "
        "Lower it to 0.0003: learning crawls.\n"
        "- **Overfitting.** 50 points, noise 0.4, 3 layers of 64: train loss falls, test loss "
        "rises. Turn on L2 with λ = 0.03 and watch the boundary smooth out and the test loss "
        "fall."
    )
view_math(
    "playground",
    features=", ".join(pg.config.features),
    network="-".join(str(n) for n in (len(pg.config.features), *pg.config.hidden, pg.n_classes)),
    **{
        f"W{i + 1}": tuple(w.shape)
        for i, w in enumerate(
            w for name, w in pg.model.named_parameters() if name.endswith("weight")
        )
    },
)
