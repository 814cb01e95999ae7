"""The teaching pages in AppTest: MLP playground, Convolution explained, Gradient check, and
the math panels every page uses."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from apphelp import goto, texts
from streamlit.testing.v1 import AppTest

from netcore import explain
from netcore import functional as F
from ui.charts.explainer import fmt


def specs(at: AppTest) -> dict[str, dict]:
    """Plotly specs by chart key (the element id ends with the key)."""
    out = {}
    for i, c in enumerate(at.get("plotly_chart")):
        out[c.proto.id.split("-")[-1] if c.proto.id else str(i)] = json.loads(c.proto.spec)
    return out


def all_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def arr(value) -> np.ndarray:
    """A Plotly spec array: a plain list or a base64 typed array {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            flat = flat.reshape([int(n) for n in str(shape).split(",")])
        return flat.astype(float)
    return np.asarray(value, dtype=float)


# ------------------------------------------------------------------------------------------
# MLP playground
# ------------------------------------------------------------------------------------------
def test_playground_plays_steps_and_draws_the_model(app):
    at = goto(app, "playground")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epoch"] == "0.0"
    # No empty loss chart before the first update: a note says what will appear.
    assert not at.get("plotly_chart")
    assert any("loss curves appear here" in i.value for i in at.info)

    at.button(key="pg.play").click().run()
    assert at.session_state["pg.playing"] is True
    for _ in range(4):  # run_every does not fire in AppTest: each run is one frame
        at.run()
    pg = at.session_state["pg.playground"]
    assert pg.steps >= 40
    assert float({m.label: m.value for m in at.metric}["Epoch"]) > 0
    assert len(at.get("plotly_chart")) == 1  # the loss curves

    # The boundary picture is drawn from the snapshot, which is the model's prediction.
    snap = at.session_state["pg.snapshot"]
    gx, gy = np.meshgrid(snap.grid, snap.grid)
    pg.model.eval()
    logits = pg.model.forward(pg.features(np.stack([gx.ravel(), gy.ravel()], 1).astype("f4")))
    np.testing.assert_array_equal(snap.probs.argmax(-1).ravel(), logits.argmax(axis=1))
    assert snap.steps == pg.steps
    images = at.get("image")
    assert len(images) == 3  # the boundary and one neuron montage per hidden layer

    # Learning rate changes live: no reset, the optimizer takes the new value.
    steps = pg.steps
    at.select_slider(key="pg.lr").set_value(0.1).run()
    assert at.session_state["pg.playground"] is pg and pg.steps >= steps
    assert pg.optimizers[0].lr == 0.1
    at.segmented_control(key="pg.reg").set_value("L2").run()
    assert pg.optimizers[0].weight_decay == pytest.approx(1e-3)

    # Pause, then Step: exactly one more update.
    at.button(key="pg.play").click().run()
    before = pg.steps
    at.button(key="pg.step").click().run()
    assert pg.steps == before + 1 and at.session_state["pg.playing"] is False


def test_playground_architecture_and_features(app):
    at = goto(app, "playground")
    at.number_input(key="pg.n0").set_value(64).run()
    at.number_input(key="pg.n1").set_value(64).run()
    at.pills(key="pg.features").set_value(["x", "y", "x²", "y²", "sin x"]).run()
    assert not at.exception
    pg = at.session_state["pg.playground"]
    assert pg.config.hidden == (64, 64)
    assert [p.data.shape for p in pg.model.parameters()][0] == (64, 5)
    # One montage picture per layer, holding all 64 neurons of it.
    assert "Layer 1: 64 Tanh neurons" in texts(at) and "Layer 2: 64 Tanh neurons" in texts(at)
    assert len(at.get("image")) == 3
    # No hidden layer: a linear classifier, no tiles, a sentence instead.
    at.number_input(key="pg.layers").set_value(0).run()
    assert "linear classifier" in texts(at)
    # An impossible setting gives a message, not a traceback, and the page keeps working.
    at.pills(key="pg.features").set_value([]).run()
    assert not at.exception
    assert any("at least one input feature" in e.value for e in at.error)


def test_playground_settings_survive_leaving_the_page(app):
    at = goto(app, "playground")
    at.selectbox(key="pg.dataset").set_value("xor").run()
    pg = at.session_state["pg.playground"]
    goto(at, "home")
    goto(at, "playground")
    assert at.selectbox(key="pg.dataset").value == "xor"
    assert at.session_state["pg.playground"] is pg


# ------------------------------------------------------------------------------------------
# Convolution explained
# ------------------------------------------------------------------------------------------
def _grid_text(spec: dict) -> list[list[str]]:
    return spec["data"][0]["text"]


def _by_title(at: AppTest, start: str) -> dict:
    for s in all_specs(at):
        title = s["layout"].get("meta", {}).get("title", "")
        if title.startswith(start):
            return s
    raise AssertionError(
        f"no grid titled {start!r}: {[s['layout'].get('meta') for s in all_specs(at)]}"
    )


def test_number_grid_is_a_valid_figure_with_a_shaded_padding_border():
    import plotly.graph_objects as go

    from ui.charts import explainer as ch

    values = np.arange(16, dtype=float).reshape(4, 4)
    fig = ch.number_grid(values, name="x", window=(1, 1, 2, 2), padding=1, row_offset=-1)
    go.Figure(fig.to_dict())  # built without validation for speed: it must still be valid
    spec = fig.to_dict()
    assert spec["layout"]["meta"]["title"] == "x"
    assert spec["data"][0]["text"][1][2] == "6"
    bands = [s for s in spec["layout"]["shapes"] if s.get("layer") == "above"]
    assert len(bands) == 4  # top, bottom, left, right strips of the zero padding
    assert ch.number_grid(values)["layout"]["shapes"] == ()


def test_conv_page_numbers_equal_netcore(app):
    at = goto(app, "conv_explained")
    assert not at.exception, [e.value for e in at.exception]
    assert "netcore's own" in at.expander[0].label
    at.button(key="ce.all").click().run()  # fill the whole output

    ds_image = explain.digit_crop(_mnist_test_image(0), 10)
    kernel = np.array(explain.KERNEL_PRESETS["vertical edge"], np.float32)
    ref = F.conv2d_naive(ds_image[None, None], kernel[None, None], np.zeros(1, np.float32))[0, 0]
    shown = _grid_text(_by_title(at, "output z"))
    assert shown == [[fmt(v) for v in row] for row in ref]
    inp = _grid_text(_by_title(at, "input x"))
    assert inp == [[fmt(v) for v in row] for row in ds_image]

    # The formula under the grids is the last cell's multiply-and-add, equal to netcore's value.
    tex = at.latex[0].value
    assert tex.rstrip("$\n").endswith(rf"= \mathbf{{{fmt(ref[-1, -1], 3)}}} \end{{aligned}}")

    # Max-pool: every displayed value equals the loop reference.
    at.segmented_control(key="ce.stage").set_value("pool").run()
    at.button(key="ce.all").click().run()
    pooled, _ = F.maxpool2d_naive(np.maximum(ref, 0)[None, None], 2)
    assert _grid_text(_by_title(at, "p = max-pool")) == [[fmt(v) for v in r] for r in pooled[0, 0]]

    # Backward: the kernel gradient equals conv2d_backward_naive's.
    at.segmented_control(key="ce.stage").set_value("dw").run()
    at.button(key="ce.all").click().run()
    fwd = explain.forward(ds_image, kernel)
    bwd = explain.backward(fwd, np.ones_like(fwd.p))
    _, dw, _ = F.conv2d_backward_naive(ds_image[None, None], kernel[None, None], bwd.dz[None, None])
    assert _grid_text(_by_title(at, "dL/dW")) == [[fmt(v) for v in r] for r in dw[0, 0]]
    at.segmented_control(key="ce.stage").set_value("dx").run()
    at.button(key="ce.all").click().run()
    dx, _, _ = F.conv2d_backward_naive(ds_image[None, None], kernel[None, None], bwd.dz[None, None])
    assert _grid_text(_by_title(at, "dL/dx")) == [[fmt(v) for v in r] for r in dx[0, 0]]


def _mnist_test_image(i: int) -> np.ndarray:
    from netcore.datasets import load_dataset

    return load_dataset("mnist_5k").raw_test[i]


def test_conv_page_steps_and_plays(app):
    at = goto(app, "conv_explained")
    at.button(key="ce.next").click().run()
    at.button(key="ce.next").click().run()
    assert at.session_state["ce.step"] == 2
    assert at.latex[0].value.lstrip("$\n").startswith(r"\begin{aligned} z_{0,2}")
    at.button(key="ce.back").click().run()
    assert at.session_state["ce.step"] == 1
    at.button(key="ce.play").click().run()
    assert at.session_state["ce.playing"] is True
    at.run()  # one tick of the player
    assert at.session_state["ce.step"] >= 2
    for stage in ("relu", "pool_back", "relu_back", "dense"):
        at.segmented_control(key="ce.stage").set_value(stage).run()
        assert not at.exception, (stage, [e.value for e in at.exception])
        assert at.get("plotly_chart") and at.latex


def test_conv_page_custom_grid_kernel_and_bad_input(app):
    at = goto(app, "conv_explained")
    at.segmented_control(key="ce.source").set_value("Type a grid").run()
    at.text_area(key="ce.custom").set_value("1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16").run()
    at.selectbox(key="ce.preset").set_value("blur").run()
    assert at.text_area(key="ce.kernel_text").value.startswith("1/9")
    at.button(key="ce.all").click().run()
    # 4x4 input, 3x3 blur: the 2x2 output is the mean of each 3x3 window.
    assert _grid_text(_by_title(at, "output z")) == [["6", "7"], ["10", "11"]]
    # Stride 2 and padding 1 still agree with netcore (the check is in the expander label).
    at.number_input(key="ce.stride").set_value(2).run()
    at.number_input(key="ce.padding").set_value(1).run()
    assert "agree" in at.expander[0].label and not at.exception
    # Mistakes get a message saying what to fix.
    at.text_area(key="ce.kernel_text").set_value("1 2\n3").run()
    assert not at.exception
    assert "same number of values" in at.error[0].value
    at.text_area(key="ce.kernel_text").set_value("1 0 0\n0 1 0\n0 0 1").run()
    at.text_area(key="ce.custom").set_value("1 x\n2 3").run()
    assert "'x' is not a number" in at.error[0].value


# ------------------------------------------------------------------------------------------
# Gradient check
# ------------------------------------------------------------------------------------------
def test_gradient_check_passes_then_catches_the_broken_layer(app):
    at = goto(app, "gradient_check")
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and "agree with finite differences" in at.success[0].value
    assert not at.error
    table = at.dataframe[0].value
    assert (table["Result"] == "pass").all() and len(table) >= 10

    at.toggle(key="gc.break").set_value(True).run()
    assert at.error and "disagree" in at.error[0].value
    table = at.dataframe[0].value
    failed = table[table["Result"] == "FAIL"]
    assert len(failed) == 1 and failed["Gradient"].iloc[0] == "dL/dweight (broken)"
    assert failed["Relative error"].iloc[0] > 0.5

    at.button(key="gc.train").click().run()
    assert not at.exception
    curves = [s for s in all_specs(at) if len(s["data"]) == 2 and s["data"][0]["type"] == "scatter"]
    healthy, broken = (arr(t["y"]) for t in curves[0]["data"])
    assert healthy[-10:].mean() < broken[-10:].mean()


# ------------------------------------------------------------------------------------------
# Math panels
# ------------------------------------------------------------------------------------------
def _all_panels():
    from ui.math_panels import LAYER_MATH, VIEW_MATH, layer_math, view_math

    for name in LAYER_MATH:
        layer_math(
            name,
            in_shape=(6, 14, 14),
            out_shape=(16, 10, 10),
            param_shapes={"weight": (16, 6, 5, 5), "bias": (16,)},
        )
    for name in VIEW_MATH:
        view_math(name, weight=(6, 1, 5, 5))


def test_every_math_panel_renders_collapsed_with_formulas_and_source():
    from ui.math_panels import LAYER_MATH, VIEW_MATH

    at = AppTest.from_function(_all_panels, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.expander) == len(LAYER_MATH) + len(VIEW_MATH)
    assert all(e.proto.expanded is False for e in at.expander)
    assert len(at.latex) >= 2 * len(LAYER_MATH)
    conv = next(e for e in at.expander if "Conv2D" in e.label)
    assert "`weight W: (16, 6, 5, 5)`" in " ".join(m.value for m in conv.markdown)
    assert any(c.value.endswith(".py — Conv2D.backward") for c in conv.caption)
    assert any("def backward" in c.value for c in conv.code)


def test_every_panel_links_to_code_that_exists():
    from ui.math_panels import LAYER_MATH, VIEW_MATH, find_source

    missing = [
        (panel, name)
        for panel, math in {**LAYER_MATH, **VIEW_MATH}.items()
        for name in math.code
        if find_source(name) is None
    ]
    assert not missing
    label, source = find_source("Conv2D.backward")
    assert label.startswith("netcore/") and "def backward" in source


def test_gradient_check_uses_the_sessions_network_and_samples_big_layers(app):
    from netcore.spec import build_model, preset_spec
    from ui import state

    model = build_model(
        preset_spec("lenet5", (1, 28, 28), 10), (1, 28, 28), rng=np.random.default_rng(0)
    )
    info = {
        "label": "my LeNet",
        "dataset": "mnist_5k",
        "input_shape": (1, 28, 28),
        "class_names": [str(i) for i in range(10)],
    }
    app.session_state[state.K_UPLOAD] = (model, {"source": "upload", **info})
    at = goto(app, "gradient_check")
    assert not at.exception, [e.value for e in at.exception]
    assert "my LeNet" in at.info[0].value
    table = at.dataframe[0].value
    assert len(table) == 22  # 12 input gradients, a weight and a bias for 2 convs + 3 dense
    assert (table["Result"] == "pass").all()
    # The 48,000-weight Dense layer is too big to check whole in a few seconds: sampled.
    dense = table[(table["Layer"] == "7 Dense") & (table["Gradient"] == "dL/dweight")]
    checked, total = dense["Checked"].iloc[0].replace(",", "").split(" of ")
    assert int(total) == 48_000 and 8 <= int(checked) < 48_000
    assert "random sample of coordinates" in texts(at)
