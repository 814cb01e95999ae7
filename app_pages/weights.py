"""Weights & gradients: distributions, norms and dead units, to spot vanishing or exploding
gradients while a network trains."""

import numpy as np
import streamlit as st

from ui import inside, state
from ui.charts.weights import (
    HEALTHY_RATIO,
    curves_figure,
    distribution_figure,
    histogram_figure,
    layer_bars_figure,
)
from ui.inspect import (
    batch_gradients,
    dead_relu_fractions,
    histogram,
    layer_label,
    shared_edges,
    stats_histograms,
    stats_series,
)
from ui.math_panels import view_math
from ui.show import show_chart

st.title("Weights & gradients")
with st.expander("What am I looking at?", icon=":material/help:"):
    st.markdown(
        "Training changes every weight by a small step against its **gradient** (how much "
        "the loss would grow if the weight grew). These charts show whether that is going "
        "well.\n\n"
        "* **Histograms**: how the values of one parameter are spread, now (blue) and at the "
        "start (grey). Weights usually spread out a little as the network learns.\n"
        "* **Over training**: the same histogram at every recorded step, side by side "
        "(bright = many values there), like TensorBoard's distributions.\n"
        "* **Gradient norm per layer** (log scale): if it shrinks by orders of magnitude "
        "from the last layer to the first, gradients are *vanishing* and early layers barely "
        "learn; if it shoots up, they are *exploding* (lower the learning rate).\n"
        "* **Update / weight ratio**: how much one step changes a layer relative to its "
        "size. Around 10⁻³ (dashed line) is healthy; far below, the layer is stuck; far "
        "above, training is unstable.\n"
        "* **Dead ReLU units**: units that output 0 for every image of a batch. They pass no "
        "gradient, so they may never come back; many dead units mean a too-high learning "
        "rate or a bad initialisation."
    )

got = inside.model_or_explain(
    "weights",
    "Here you will see how weights and gradients evolve, layer by layer, while it trains.",
)
if got is None:
    st.stop()
model, info = got

params = [name for name, _ in model.named_parameters()]
if not params:
    st.info("This network has no weights to show.", icon=":material/info:")
    st.stop()
layer_of = {name: int(name.split(".")[0]) for name in params}


def param_label(name: str) -> str:
    i = layer_of[name]
    return f"{name} · {layer_label(i, model[i]).split(' · ', 1)[1]}"


c1, c2, c3 = st.columns([3, 2, 2])
with c1:
    picked = st.selectbox("Parameter", params, format_func=param_label, key="weights.param")
with c2:
    smoothing = st.slider(
        "Smoothing",
        0.0,
        0.95,
        0.6,
        0.05,
        key="weights.smooth",
        help="Moving average of the curves (the raw values stay faint underneath).",
    )
with c3:
    with_bias = st.toggle("Include biases in the curves", value=False, key="weights.bias")
curve_params = [n for n in params if with_bias or not n.endswith("bias")] or params


def short(name: str) -> str:
    """Legend label: "0.weight · Conv2D"."""
    i = layer_of[name]
    return f"{name} · {type(model[i]).__name__}"


follow = inside.follow_toggle(info, "weights.follow")


@st.fragment(run_every=inside.live_every(info, follow))
def weights_view():
    timer = inside.Timer()
    now = inside.live_info(info)
    run = inside.current_run_for(info)
    history = run.history if run is not None else None
    stats = getattr(history, "stats", None) if history is not None else None
    if stats and not stats.get("steps"):
        stats = None
    live = False  # the page's "Follow training live" toggle is the freeze
    inside.source_caption(now)
    if stats is None:
        no_stats_view()
    else:
        stats_view(stats, live)
    st.session_state["weights.ms"] = timer.ms()


def stats_view(stats: dict, live: bool):
    steps = np.asarray(stats["steps"])
    st.subheader(f"{param_label(picked)}: now and at the start")
    a, b = st.columns(2)
    for col, which, what in ((a, "weight_hist", "weight"), (b, "grad_hist", "gradient")):
        got = stats_histograms(stats, picked, which)
        with col:
            if got is None:
                st.caption(f"No {what} histogram recorded yet.")
                continue
            edges, counts = got
            start = counts[0] if len(counts) > 1 else None
            fig = histogram_figure(
                edges,
                counts[-1],
                start,
                what=what,
                name=picked,
                now_label=f"now (step {int(steps[-1]):,})",
                start_label=f"start (step {int(steps[0]):,})",
            )
            centres = (edges[:-1] + edges[1:]) / 2
            data = {what: centres, "now": counts[-1]}
            if start is not None:
                data["start"] = start
            show_chart(
                fig,
                key=f"weights.hist.{which}",
                data=data,
                filename=f"{picked}-{what}-histogram",
                live=live,
            )
    a, b = st.columns(2)
    for col, which, what in ((a, "weight_hist", "weight"), (b, "grad_hist", "gradient")):
        got = stats_histograms(stats, picked, which)
        if got is None or len(got[1]) < 2:
            continue
        edges, counts = got
        with col:
            fig = distribution_figure(steps[: len(counts)], edges, counts, what=what, name=picked)
            show_chart(
                fig,
                key=f"weights.dist.{which}",
                filename=f"{picked}-{what}-over-time",
                data=_dist_table(steps[: len(counts)], edges, counts),
                live=live,
            )

    st.subheader("Every layer")
    grad = {short(n): v for n, v in stats_series(stats, "grad_norm", curve_params).items()}
    ratio = {short(n): v for n, v in stats_series(stats, "update_ratio", curve_params).items()}
    a, b = st.columns(2)
    with a:
        fig = curves_figure(
            steps,
            grad,
            title="Gradient norm ‖g‖ per parameter",
            y_title="‖g‖ (log scale)",
            smoothing=smoothing,
        )
        show_chart(
            fig,
            key="weights.gradnorm",
            data={"step": steps, **grad},
            filename="gradient-norms",
            live=live,
        )
    with b:
        fig = curves_figure(
            steps,
            ratio,
            title="Update / weight ratio ‖Δw‖ / ‖w‖",
            y_title="ratio (log scale)",
            smoothing=smoothing,
            reference=HEALTHY_RATIO,
            reference_label="healthy ≈ 10⁻³",
        )
        show_chart(
            fig,
            key="weights.ratio",
            data={"step": steps, **ratio},
            filename="update-ratios",
            live=live,
        )
    a, b = st.columns(2)
    with a:
        last = {n: v[-1] for n, v in stats_series(stats, "grad_norm", curve_params).items()}
        fig = layer_bars_figure(
            [short(n) for n in last],
            np.array(list(last.values())),
            title=f"Gradient norm per layer at step {int(steps[-1]):,}",
            y_title="‖g‖ (log scale)",
        )
        show_chart(
            fig,
            key="weights.gradbars",
            filename="gradient-norm-per-layer",
            data={"parameter": list(last), "grad_norm": list(last.values())},
            live=live,
        )
    with b:
        dead = {
            f"{k} · ReLU": np.asarray(v, dtype=np.float64)
            for k, v in sorted(stats.get("dead_relu", {}).items(), key=lambda kv: int(kv[0]))
        }
        if dead:
            fig = curves_figure(
                steps,
                dead,
                title="Dead ReLU units",
                subtitle="units that output 0 for every image of the batch",
                y_title="dead units",
                log_y=False,
                percent=True,
                smoothing=smoothing,
            )
            show_chart(
                fig,
                key="weights.dead",
                data={"step": steps, **dead},
                filename="dead-relu",
                live=live,
            )
        else:
            st.caption("This network has no ReLU layers, so no unit can die.")


def _dist_table(steps, edges, counts) -> dict:
    t, b = counts.shape
    centres = (edges[:-1] + edges[1:]) / 2
    return {"step": np.repeat(steps, b), "bin_centre": np.tile(centres, t), "count": counts.ravel()}


def no_stats_view():
    """A loaded model: weights now (and at the first snapshot), gradients on one batch."""
    st.caption(
        "No training statistics were recorded for this model, so the curves over "
        f"time are missing; the gradients below are computed now, on {GRAD_BATCH} training "
        "images."
    )
    w = dict(model.named_parameters())[picked].data
    grads = gradients_now()
    a, b = st.columns(2)
    with a:
        edges = shared_edges(w)
        fig = histogram_figure(edges, histogram(w, edges), what="weight", name=picked)
        show_chart(
            fig,
            key="weights.hist.now",
            filename=f"{picked}-weight-histogram",
            data={"weight": (edges[:-1] + edges[1:]) / 2, "count": histogram(w, edges)},
        )
    with b:
        if grads is None:
            st.caption("Gradients need the training images, which are not available here.")
        else:
            g = grads[picked]
            edges = shared_edges(g)
            fig = histogram_figure(edges, histogram(g, edges), what="gradient", name=picked)
            show_chart(
                fig,
                key="weights.ghist.now",
                filename=f"{picked}-gradient-histogram",
                data={"gradient": (edges[:-1] + edges[1:]) / 2, "count": histogram(g, edges)},
            )
    if grads is not None:
        names = [n for n in curve_params if n in grads]
        norms = np.array([float(np.linalg.norm(grads[n])) for n in names])
        fig = layer_bars_figure(
            [short(n) for n in names],
            norms,
            title="Gradient norm per layer (one batch)",
            y_title="‖g‖ (log scale)",
        )
        a, b = st.columns(2)
        with a:
            show_chart(
                fig,
                key="weights.gradbars.now",
                filename="gradient-norm-per-layer",
                data={"parameter": names, "grad_norm": norms},
            )
        with b:
            dead = dead_now()
            if dead:
                labels = [f"{i} · ReLU" for i in dead]
                fig = layer_bars_figure(
                    labels,
                    np.array(list(dead.values())) * 100,
                    title=f"Dead ReLU units (on {GRAD_BATCH} images)",
                    y_title="dead units (%)",
                    log_y=False,
                )
                fig.update_yaxes(range=[0, 100], ticksuffix="%")
                show_chart(
                    fig,
                    key="weights.dead.now",
                    filename="dead-relu",
                    data={"layer": labels, "dead_fraction": list(dead.values())},
                )
            else:
                st.caption("This network has no ReLU layers, so no unit can die.")


def training_batch():
    """The first `GRAD_BATCH` training images and labels, or None without the dataset."""
    try:
        ds = state.load_dataset(info["dataset"]) if info.get("dataset") else None
    except Exception:
        ds = None
    if ds is None or tuple(ds.input_shape) != tuple(info.get("input_shape") or ()):
        return None
    return ds.X_train[:GRAD_BATCH], ds.y_train[:GRAD_BATCH]


def gradients_now():
    batch = training_batch()
    if batch is None:
        return None
    return _cached_gradients(inside.model_key(info, model), model, *batch)


def dead_now() -> dict:
    batch = training_batch()
    if batch is None:
        return {}
    return _cached_dead(inside.model_key(info, model), model, batch[0])


@st.cache_data(max_entries=8, show_spinner=False)
def _cached_dead(key: str, _model, _x):
    return dead_relu_fractions(_model, _x)


# Training images for the gradients of a model without statistics: enough for the per-layer
# norms to be representative, half the cost of a usual batch of 64. (A comment, not a
# docstring: Streamlit would print a bare string of a page on the page.)
GRAD_BATCH = 32


@st.cache_data(
    max_entries=8, show_spinner=f"Computing gradients on {GRAD_BATCH} training images ..."
)
def _cached_gradients(key: str, _model, _x, _y):
    return batch_gradients(_model, _x, _y)


weights_view()
view_math("weights", **{picked: tuple(dict(model.named_parameters())[picked].shape)})
