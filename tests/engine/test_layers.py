"""Layer behaviour beyond the gradients: shapes and their error messages, dtypes, the
backward contract (dy untouched, grads set not accumulated, optional dx), modes, configs."""

import numpy as np
import pytest

from netcore.base import LAYER_TYPES, Layer
from netcore.layers import (
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


# (layer factory, sample input shape) for every layer type
ALL_LAYERS = [
    (lambda: Dense(12, 5, rng=_rng()), (12,)),
    (lambda: Dense(12, 5, bias=False, rng=_rng()), (12,)),
    (lambda: Conv2D(3, 4, 3, padding=1, rng=_rng()), (3, 8, 8)),
    (lambda: Conv2D(2, 3, 3, stride=2, rng=_rng()), (2, 9, 7)),
    (lambda: Conv2D(2, 3, 3, bias=False, rng=_rng()), (2, 5, 5)),
    (lambda: MaxPool2D(2), (3, 8, 8)),
    (lambda: MaxPool2D(3, 2), (2, 7, 7)),
    (lambda: AvgPool2D(2), (3, 6, 6)),
    (lambda: Flatten(), (3, 4, 4)),
    (lambda: Dropout(0.4, rng=_rng()), (10,)),
    (lambda: BatchNorm1D(6), (6,)),
    (lambda: BatchNorm2D(3), (3, 5, 5)),
    (lambda: ReLU(), (3, 4, 4)),
    (lambda: LeakyReLU(0.2), (7,)),
    (lambda: Sigmoid(), (7,)),
    (lambda: Tanh(), (7,)),
    (lambda: Softmax(), (7,)),
]


@pytest.mark.parametrize(("make", "shape"), ALL_LAYERS)
def test_shape_dtype_and_backward_contract(make, shape):
    layer = make()
    assert type(layer).__name__ in LAYER_TYPES
    rng = _rng(1)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    y = layer.forward(x)
    # output_shape agrees with what forward produces, and float32 stays float32
    assert y.shape == (4, *layer.output_shape(shape))
    assert y.dtype == np.float32
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dy, dy_before)  # dy never mutated
    assert dx.shape == x.shape
    assert dx.dtype == np.float32
    for _, p in layer.named_parameters():
        assert p.data.dtype == np.float32
        assert p.grad.dtype == np.float32
        assert p.grad.shape == p.data.shape
    # grads are set, not accumulated: a second identical backward gives the same grads
    first = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer.forward(x)
    layer.backward(dy)
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, first[name], rtol=1e-6)


@pytest.mark.parametrize(("make", "shape"), ALL_LAYERS)
def test_works_in_float64(make, shape):
    from netcore.gradcheck import to_float64

    layer = to_float64(make())
    x = _rng(2).standard_normal((3, *shape))
    y = layer.forward(x)
    assert y.dtype == np.float64
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == np.float64
    for _, p in layer.named_parameters():
        assert p.grad.dtype == np.float64


@pytest.mark.parametrize(("make", "shape"), ALL_LAYERS)
def test_needs_input_grad_false_returns_none_but_sets_grads(make, shape):
    layer = make()
    x = _rng(3).standard_normal((4, *shape)).astype(np.float32)
    y = layer.forward(x)
    dy = np.ones_like(y)
    layer.backward(dy)
    expected = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer.needs_input_grad = False
    layer.forward(x)
    assert layer.backward(dy) is None
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, expected[name], rtol=1e-6)


@pytest.mark.parametrize(("make", "shape"), ALL_LAYERS)
def test_config_rebuilds_an_equal_layer(make, shape):
    layer = make()
    config = layer.config()
    import json

    rebuilt = LAYER_TYPES[type(layer).__name__](**json.loads(json.dumps(config)))
    assert rebuilt.config() == config
    assert rebuilt.output_shape(shape) == layer.output_shape(shape)
    assert [n for n, _ in rebuilt.named_parameters()] == [n for n, _ in layer.named_parameters()]
    assert isinstance(layer.flops(shape), int) and layer.flops(shape) >= 0


def test_float64_input_to_float32_layer_is_computed_in_float32():
    dense = Dense(4, 3, rng=_rng())
    assert dense.forward(np.ones((2, 4))).dtype == np.float32
    conv = Conv2D(1, 2, 3, rng=_rng())
    assert conv.forward(np.ones((1, 1, 5, 5))).dtype == np.float32
    # uint8 images (as stored on disk) are accepted too
    assert conv.forward(np.ones((1, 1, 5, 5), dtype=np.uint8)).dtype == np.float32


def test_weight_layouts_match_pytorch():
    assert Dense(784, 128, rng=_rng()).weight.shape == (128, 784)
    conv = Conv2D(3, 16, 5, rng=_rng())
    assert conv.weight.shape == (16, 3, 5, 5)
    assert conv.bias.shape == (16,)
    assert [n for n, _ in BatchNorm2D(8).named_parameters()] == ["weight", "bias"]
    assert set(BatchNorm2D(8).buffers()) == {"running_mean", "running_var"}


def test_flops_counts():
    assert Dense(784, 128, rng=_rng()).flops((784,)) == 2 * 784 * 128 + 128
    conv = Conv2D(1, 6, 5, padding=2, rng=_rng())
    assert conv.flops((1, 28, 28)) == (2 * 25 + 1) * 6 * 28 * 28


# -- output_shape error messages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "shape", "fragments"),
    [
        (Dense(784, 10, rng=_rng()), (6, 12, 12), ["784", "(6, 12, 12)", "Flatten"]),
        (Dense(784, 10, rng=_rng()), (400,), ["784", "400", "in_features=400"]),
        (Conv2D(1, 3, 7, rng=_rng()), (1, 5, 5), ["7x7", "5x5", "padding 0"]),
        (Conv2D(3, 8, 3, rng=_rng()), (1, 28, 28), ["3 input channels", "gets 1", "in_channels=1"]),
        (Conv2D(1, 8, 3, rng=_rng()), (784,), ["(784,)", "Flatten"]),
        (MaxPool2D(3), (4, 2, 2), ["3x3", "2x2"]),
        (AvgPool2D(2), (10,), ["(10,)", "image"]),
        (BatchNorm2D(8), (6, 4, 4), ["8 channels", "gets 6", "num_features=6"]),
        (BatchNorm1D(8), (8, 4, 4), ["BatchNorm2D"]),
        (BatchNorm1D(8), (6,), ["num_features=6"]),
    ],
)
def test_output_shape_explains_impossible_inputs(layer, shape, fragments):
    with pytest.raises(ValueError) as info:
        layer.output_shape(shape)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_forward_with_wrong_shape_raises_the_same_explanation():
    with pytest.raises(ValueError, match="Flatten"):
        Dense(784, 10, rng=_rng()).forward(np.zeros((2, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="input channels"):
        Conv2D(3, 4, 3, rng=_rng()).forward(np.zeros((2, 1, 8, 8), dtype=np.float32))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Dense(0, 3),
        lambda: Dense(3.5, 3),
        lambda: Conv2D(1, 2, 0),
        lambda: Conv2D(1, 2, 3, stride=0),
        lambda: Conv2D(1, 2, 3, padding=-1),
        lambda: MaxPool2D(0),
        lambda: Dropout(1.0),
        lambda: Dropout(-0.1),
        lambda: BatchNorm2D(0),
        lambda: Dense(3, 3, init="nonsense"),
    ],
)
def test_bad_constructor_arguments_are_rejected_clearly(make):
    with pytest.raises(ValueError):
        make()


# -- modes -----------------------------------------------------------------------------


def test_dropout_is_inverted_and_identity_in_eval():
    drop = Dropout(0.25, rng=_rng(5))
    x = np.ones((200, 500), dtype=np.float32)
    y = drop.forward(x)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    dy = np.full_like(y, 2.0)
    np.testing.assert_array_equal(drop.backward(dy), np.where(kept, 2 / 0.75, 0).astype(np.float32))
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(dy), dy)


def test_dropout_is_reproducible_with_a_seed():
    x = np.ones((4, 50), dtype=np.float32)
    a = Dropout(0.5, rng=_rng(9)).forward(x)
    b = Dropout(0.5, rng=_rng(9)).forward(x)
    np.testing.assert_array_equal(a, b)


def test_batchnorm_normalises_in_training_and_tracks_running_stats():
    rng = _rng(4)
    bn = BatchNorm2D(3)
    x = (rng.standard_normal((8, 3, 5, 5)) * 3 + 2).astype(np.float32)
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    m = 8 * 5 * 5
    mean = x.mean(axis=(0, 2, 3))
    var_unbiased = x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var_unbiased, rtol=1e-5)
    assert bn.running_mean.dtype == np.float32


def test_batchnorm_eval_uses_running_stats():
    bn = BatchNorm1D(2)
    bn.running_mean[:] = [1.0, -2.0]
    bn.running_var[:] = [4.0, 0.25]
    bn.weight.data[:] = [2.0, 1.0]
    bn.bias.data[:] = [0.5, 0.0]
    bn.eval()
    x = np.array([[3.0, -1.0]], dtype=np.float32)  # a batch of one works in eval
    y = bn.forward(x)
    expected = [2.0 * (3 - 1) / np.sqrt(4 + 1e-5) + 0.5, (-1 + 2) / np.sqrt(0.25 + 1e-5)]
    np.testing.assert_allclose(y[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0])  # not updated in eval


def test_batchnorm_refuses_a_single_sample_in_training():
    with pytest.raises(ValueError, match="more than one value"):
        BatchNorm1D(3).forward(np.ones((1, 3), dtype=np.float32))


def test_layers_are_layers_and_default_to_needing_input_grad():
    for make, _ in ALL_LAYERS:
        layer = make()
        assert isinstance(layer, Layer)
        assert layer.needs_input_grad is True
        assert layer.training is True


def test_conv_reuses_buffers_but_outputs_are_fresh():
    conv = Conv2D(1, 2, 3, padding=1, rng=_rng())
    x1 = _rng(1).standard_normal((2, 1, 6, 6)).astype(np.float32)
    x2 = _rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)
    y1 = conv.forward(x1)
    y1_copy = y1.copy()
    conv.forward(x2)
    np.testing.assert_array_equal(y1, y1_copy)  # an earlier output is not overwritten
    # a new batch size after training batches still works
    assert conv.forward(x1[:1]).shape == (1, 2, 6, 6)


def test_flatten_gives_back_the_gradient_in_the_input_memory_layout():
    from netcore.functional import channel_major

    x = channel_major((2, 3, 2, 2), np.float32)
    x[...] = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    flat = Flatten()
    np.testing.assert_array_equal(flat.forward(x), x.reshape(2, -1))
    dy = np.arange(24, dtype=np.float32).reshape(2, 12) * 10
    dx = flat.backward(dy)
    np.testing.assert_array_equal(dx, dy.reshape(2, 3, 2, 2))
    assert dx.strides == x.strides


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm2d_channel_major_input_gives_the_same_numbers(training):
    # After a Conv2D the images come channel-major; BatchNorm2D reads them in place.
    from netcore.functional import channel_major, is_channel_major
    from netcore.layers import BatchNorm2D

    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 5, 6))
    dy = rng.standard_normal(x.shape)
    results = []
    for layout in ("C", "channel-major"):
        bn = BatchNorm2D(3)
        bn.weight.data = rng.standard_normal(3) if not results else results[0][3]
        bn.bias.data = np.arange(3.0)
        bn.running_mean, bn.running_var = np.full(3, 0.5), np.full(3, 2.0)
        bn.training = training
        xi, dyi = x, dy
        if layout != "C":
            xi, dyi = channel_major(x.shape, x.dtype), channel_major(x.shape, x.dtype)
            xi[...], dyi[...] = x, dy
        y = bn.forward(xi)
        dx = bn.backward(dyi)
        if layout != "C":
            assert is_channel_major(y) and is_channel_major(dx)
        results.append((y, dx, bn.weight.grad.copy(), bn.weight.data))
    (y0, dx0, dw0, _), (y1, dx1, dw1, _) = results
    np.testing.assert_allclose(y1, y0, atol=1e-12)
    np.testing.assert_allclose(dx1, dx0, atol=1e-12)
    np.testing.assert_allclose(dw1, dw0, atol=1e-12)
