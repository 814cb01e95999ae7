"""Sequential, building from a spec, presets, state dicts and copies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from netcore import (
    PRESETS,
    BatchNorm2D,
    Conv2D,
    CrossEntropyLoss,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    ReLU,
    Sequential,
    build_model,
    model_to_spec,
    preset_spec,
    validate_spec,
)
from netcore.gradcheck import check_model, to_float64

LENET = preset_spec("lenet5", (1, 28, 28), 10)


def rng(seed=0):
    return np.random.default_rng(seed)


def lenet():
    return build_model(LENET, (1, 28, 28), rng=rng())


def small_cnn(seed=0):
    spec = [
        {"type": "Conv2D", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2D"},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dropout", "p": 0.25},
        {"type": "Dense", "out_features": 4},
    ]
    return build_model(spec, (2, 6, 6), rng=rng(seed))


# -- parameters, summary -----------------------------------------------------------------
def test_lenet_parameter_names_follow_pytorch():
    names = [name for name, _ in lenet().named_parameters()]
    assert names == [
        "0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias",
        "9.weight", "9.bias", "11.weight", "11.bias",
    ]  # fmt: skip
    shapes = {name: p.shape for name, p in lenet().named_parameters()}
    assert shapes["0.weight"] == (6, 1, 5, 5)
    assert shapes["7.weight"] == (120, 400)


def test_lenet_summary_matches_hand_count():
    # conv1 6*1*5*5+6, conv2 16*6*5*5+16, fc 400*120+120, 120*84+84, 84*10+10 (as PyTorch)
    by_hand = [156, 2416, 48120, 10164, 850]
    summary = lenet().summary((1, 28, 28))
    assert summary.total_params == sum(by_hand) == 61706
    assert [r["params"] for r in summary if r["params"]] == by_hand
    shapes = [r["output_shape"] for r in summary]
    assert shapes[0] == (6, 28, 28) and shapes[2] == (6, 14, 14)
    assert shapes[3] == (16, 10, 10) and shapes[5] == (16, 5, 5) and shapes[6] == (400,)
    assert summary.output_shape == (10,)
    # conv1 FLOPs: 6*28*28 outputs, each 25 multiply-adds plus the bias
    assert summary[0]["flops"] == 6 * 28 * 28 * (2 * 25 + 1)
    assert summary.total_flops == sum(r["flops"] for r in summary)
    assert summary[0]["description"] == "6 filters 5x5, stride 1, padding 2"
    text = str(summary)
    assert "61,706" in text and "Conv2D" in text


def test_output_shapes_error_names_layer_and_shapes():
    model = Sequential([Conv2D(1, 6, 5, rng=rng()), MaxPool2D(2), Conv2D(6, 16, 7, rng=rng())])
    with pytest.raises(ValueError) as err:
        model.output_shapes((1, 14, 14))
    msg = str(err.value)
    assert msg.startswith("layer 2 (Conv2D)")
    assert "(6, 5, 5)" in msg and "7x7" in msg and "5x5" in msg


def test_first_layer_skips_input_gradient_unless_asked():
    model = small_cnn()
    assert model[0].needs_input_grad is False
    assert all(layer.needs_input_grad for layer in model.layers[1:])
    x = rng(1).standard_normal((3, 2, 6, 6)).astype(np.float32)
    out = model.forward(x)
    assert model.backward(np.ones_like(out)) is None
    dx = model.backward(np.ones_like(out), input_grad=True)
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    assert model[0].needs_input_grad is False  # restored


def test_mlp_after_flatten_skips_input_gradient_of_first_dense():
    # Nothing before the first Dense has weights: training never needs its dL/dx.
    model = Sequential([Flatten(), Dense(12, 5, rng=rng()), ReLU(), Dense(5, 3, rng=rng())])
    assert [layer.needs_input_grad for layer in model] == [False, False, True, True]
    x = rng(3).standard_normal((4, 3, 2, 2)).astype(np.float32)
    out = model.forward(x)
    assert model.backward(np.ones_like(out)) is None
    dw = model[1].weight.grad.copy()
    dx = model.backward(np.ones_like(out), input_grad=True)
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    np.testing.assert_array_equal(model[1].weight.grad, dw)
    assert [layer.needs_input_grad for layer in model] == [False, False, True, True]


def test_relu_maxpool_pair_runs_fused_with_the_same_numbers():
    # Sequential pools before the ReLU (less work); capture=True runs layer by layer.
    # Forward and backward must agree exactly, ties included (zeros everywhere).
    layers = [
        Conv2D(1, 3, 3, padding=1, rng=rng()),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(27, 4, rng=rng()),
    ]
    model = Sequential(layers)
    assert len(model._steps) == 4  # the ReLU + MaxPool2D pair is one step
    x = np.zeros((5, 1, 6, 6), dtype=np.float32)
    x[:, :, 1:4, 2:5] = rng(4).integers(-2, 3, size=(5, 1, 3, 3))
    labels = np.array([0, 1, 2, 3, 0])
    loss = CrossEntropyLoss()
    results = []
    for capture in (False, True):
        logits = model.forward(x, capture=capture)
        loss.forward(logits, labels)
        dx = model.backward(loss.backward(), input_grad=True)
        results.append((logits.copy(), dx, [p.grad.copy() for p in model.parameters()]))
    (y0, dx0, g0), (y1, dx1, g1) = results
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_allclose(dx0, dx1, rtol=1e-6, atol=1e-7)
    for a, b in zip(g0, g1, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_input_gradient_matches_finite_differences():
    model = to_float64(small_cnn()).eval()  # eval: no batch-dependence, no dropout
    x = rng(2).standard_normal((2, 2, 6, 6))
    y = np.array([1, 3])
    loss = CrossEntropyLoss()
    loss.forward(model.forward(x), y)
    dx = model.backward(loss.backward(), input_grad=True)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (1, 1, 3, 2), (0, 1, 5, 5), (1, 0, 2, 4)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric = (loss.forward(model.forward(xp), y) - loss.forward(model.forward(xm), y)) / (
            2 * eps
        )
        assert abs(numeric - dx[idx]) <= 1e-6 * max(1.0, abs(numeric))


def test_whole_network_gradient_check_float64():
    model = build_model(preset_spec("lenet5", (1, 12, 12), 3), (1, 12, 12), rng=rng())
    x = rng(3).standard_normal((2, 1, 12, 12))
    errors = check_model(model, CrossEntropyLoss(), x, np.array([0, 2]), max_checks=20)
    assert set(errors) == {name for name, _ in model.named_parameters()}
    assert max(errors.values()) < 1e-6, errors


# -- forward with capture, modes, predictions ----------------------------------------------
def test_capture_keeps_a_copy_of_every_activation():
    model = lenet()
    x = rng(1).random((2, 1, 28, 28), dtype=np.float32)
    out = model.forward(x, capture=True)
    acts = model.activations
    assert len(acts) == len(model)
    assert [a.shape[1:] for a in acts] == model.output_shapes((1, 28, 28))
    np.testing.assert_array_equal(acts[-1], out)
    first = acts[0].copy()
    model.forward(rng(9).random((2, 1, 28, 28), dtype=np.float32))  # buffers get reused
    np.testing.assert_array_equal(model.activations[0], first)


def test_train_eval_and_predict_proba():
    model = small_cnn()
    x = rng(1).standard_normal((10, 2, 6, 6)).astype(np.float32)
    model.forward(x)  # a training pass moves the BatchNorm statistics away from 0/1
    assert model.training
    p = model.predict_proba(x, batch_size=3)
    assert p.shape == (10, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(p, model.predict_proba(x, batch_size=100), rtol=1e-5, atol=1e-7)
    assert model.training  # mode restored
    assert model.predict(x).tolist() == p.argmax(axis=1).tolist()
    model.eval()
    assert not any(layer.training for layer in model)
    assert not model.training
    model.train()
    assert all(layer.training for layer in model)


def test_predict_proba_on_empty_input():
    p = small_cnn().predict_proba(np.zeros((0, 2, 6, 6), np.float32))
    assert p.shape == (0, 4)


def test_container_protocol():
    layers = [Flatten(), Dense(4, 3, rng=rng()), ReLU()]
    model = Sequential(layers)
    assert len(model) == 3
    assert model[1] is layers[1] and model[-1] is layers[2]
    assert list(model) == layers
    assert "Dense" in repr(model)
    with pytest.raises(TypeError):
        Sequential([Flatten(), "relu"])


# -- state dicts and copies ------------------------------------------------------------------
def test_state_dict_round_trip_includes_buffers():
    a, b = small_cnn(0), small_cnn(1)
    x = rng(1).standard_normal((5, 2, 6, 6)).astype(np.float32)
    a.forward(x)  # update running statistics
    sd = a.state_dict()
    assert "1.running_mean" in sd and "1.running_var" in sd and "6.weight" in sd
    b.load_state_dict(sd)
    np.testing.assert_array_equal(a.eval().forward(x), b.eval().forward(x))
    sd["0.weight"][...] = 99  # a copy: the model does not change
    assert not np.any(a[0].weight.data == 99)


def test_load_state_dict_reports_every_mismatch_and_changes_nothing():
    model = small_cnn()
    before = model.state_dict()
    bad = dict(before)
    bad["0.weight"] = np.zeros((5, 2, 3, 3), np.float32)
    del bad["6.bias"]
    bad["9.weight"] = np.zeros(3, np.float32)
    bad["1.running_mean"] = bad["1.running_mean"] + 1  # valid; must not be applied either
    with pytest.raises(ValueError) as err:
        model.load_state_dict(bad)
    msg = str(err.value)
    assert "0.weight: shape (5, 2, 3, 3)" in msg and "(3, 2, 3, 3)" in msg
    assert "6.bias: missing" in msg and "9.weight: not in this model" in msg
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_keeps_parameter_objects():
    model = small_cnn()
    arrays = [p.data for p in model.parameters()]
    model.load_state_dict(small_cnn(5).state_dict())
    assert all(p.data is a for p, a in zip(model.parameters(), arrays, strict=True))


def test_copy_is_independent_and_identical():
    model = small_cnn()
    x = rng(1).standard_normal((4, 2, 6, 6)).astype(np.float32)
    model.forward(x)
    model.eval()
    twin = model.copy()
    np.testing.assert_array_equal(twin.forward(x), model.forward(x))
    assert not twin.training
    assert all(p is not q for p, q in zip(twin.parameters(), model.parameters(), strict=True))
    model[0].weight.data += 1
    model[1].running_mean += 1
    assert not np.array_equal(twin.forward(x), model.forward(x))
    assert model.clone().state_dict().keys() == model.state_dict().keys()


# -- building from a spec ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "shape", "expected"),
    [
        ([{"type": "Dens", "out_features": 3}], (4,), ["layer 0", "unknown", "Dense"]),
        ([{"out_features": 3}], (4,), ["layer 0", "missing 'type'"]),
        ([{"type": "Dense"}], (4,), ["layer 0 (Dense)", "missing option 'out_features'"]),
        ([{"type": "Dense", "out_features": 0}], (4,), ["out_features=0", "at least 1"]),
        ([{"type": "Dense", "out_features": 2.5}], (4,), ["out_features=2.5", "whole number"]),
        ([{"type": "Dense", "out_features": 3, "size": 3}], (4,), ["unknown option 'size'"]),
        ([{"type": "Dropout", "p": 1.5}], (4,), ["layer 0 (Dropout)", "p=1.5"]),
        ([{"type": "Dense", "out_features": 3, "init": "x"}], (4,), ["init='x'", "he_uniform"]),
        (
            [{"type": "Conv2D", "out_channels": 4, "kernel_size": 3},
             {"type": "Dense", "out_features": 2}],
            (1, 5, 5),
            ["layer 1 (Dense)", "(4, 3, 3)", "Flatten"],
        ),
        (
            [{"type": "Flatten"}, {"type": "Conv2D", "out_channels": 4, "kernel_size": 3}],
            (1, 5, 5),
            ["layer 1 (Conv2D)", "(25,)", "image"],
        ),
        (
            [{"type": "Conv2D", "out_channels": 4, "kernel_size": 7}],
            (1, 5, 5),
            ["layer 0 (Conv2D)", "7x7", "5x5"],
        ),
        (
            [{"type": "Flatten"}, {"type": "Dense", "out_features": 3, "in_features": 7}],
            (1, 5, 5),
            ["layer 1 (Dense)", "in_features=7", "25"],
        ),
        ([{"type": "MaxPool2D", "kernel_size": 4}], (1, 3, 3), ["layer 0 (MaxPool2D)"]),
        ([{"type": "BatchNorm2D"}], (8,), ["layer 0 (BatchNorm2D)", "(8,)"]),
        ([], (4,), ["empty"]),
        ([{"type": "ReLU"}], (0, 4, 4), ["input shape"]),
    ],
)  # fmt: skip
def test_build_model_explains_mistakes(spec, shape, expected):
    with pytest.raises(ValueError) as err:
        build_model(spec, shape, rng=rng())
    for part in expected:
        assert part in str(err.value), str(err.value)


def test_build_model_infers_sizes_and_spec_round_trips():
    spec = [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2D"},
        {"type": "LeakyReLU", "negative_slope": 0.1},
        {"type": "AvgPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 5, "bias": False},
        {"type": "BatchNorm1D"},
        {"type": "Tanh"},
        {"type": "Dense", "out_features": 2},
    ]
    model = build_model(spec, (3, 8, 8), rng=rng())
    assert model[0].in_channels == 3 and model[1].num_features == 4
    assert model[5].in_features == 4 * 4 * 4 and model[6].num_features == 5
    back = model_to_spec(model)
    assert json.loads(json.dumps(back)) == back  # plain JSON
    assert all("in_features" not in e and "in_channels" not in e for e in back)
    assert back[5]["bias"] is False
    again = build_model(back, (3, 8, 8), rng=rng())
    assert model_to_spec(again) == back
    assert validate_spec(back, (3, 8, 8))[-1] == (2,)


def test_same_seed_builds_same_weights():
    a, b = lenet(), lenet()
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    assert all(np.array_equal(p.data, q.data) for p, q in pairs)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 5, 7)])
def test_presets_fit_any_image(name, shape):
    spec = preset_spec(name, shape, 7)
    model = build_model(spec, shape, rng=rng())
    assert model.output_shapes(shape)[-1] == (7,)
    assert PRESETS[name][-1]["out_features"] == 10  # the preset itself is not modified


def test_preset_sizes():
    assert build_model(preset_spec("lenet5", (3, 32, 32), 10), (3, 32, 32), rng=rng()).summary(
        (3, 32, 32)
    ).total_params == 61706 - 156 + (6 * 3 * 25 + 6)  # unpadded on 32x32, as in the paper
    mlp = build_model(preset_spec("mlp", (2,), 3), (2,), rng=rng())
    assert mlp.output_shapes((2,))[-1] == (3,)
    with pytest.raises(ValueError, match="mlp"):
        preset_spec("lenet5", (2,), 3)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_spec("resnet", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="num_classes"):
        preset_spec("mlp", (1, 28, 28), 1)


def test_layers_built_directly_work_in_sequential():
    model = Sequential(
        [Conv2D(1, 2, 3, rng=rng()), ReLU(), Flatten(), Dropout(0.5, rng=rng()), Dense(8, 2)]
    )
    assert model.summary((1, 4, 4)).total_params == 2 * 9 + 2 + 8 * 2 + 2
    assert isinstance(model[0], Conv2D) and not isinstance(model[0], BatchNorm2D)
