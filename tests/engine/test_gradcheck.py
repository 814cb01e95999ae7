"""Every backward pass agrees with float64 finite differences (relative error < 1e-6)."""

import numpy as np
import pytest

from netcore.gradcheck import (
    BrokenBackward,
    check_layer,
    check_loss,
    check_model,
    passed,
    relative_error,
    to_float64,
)
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
from netcore.losses import CrossEntropyLoss, MSELoss

TOL = 1e-6


def _rng(seed=0):
    return np.random.default_rng(seed)


LAYER_CASES = [
    ("dense", lambda: Dense(6, 4, rng=_rng()), (6,)),
    ("dense-nobias", lambda: Dense(5, 3, bias=False, rng=_rng()), (5,)),
    ("conv", lambda: Conv2D(2, 3, 3, rng=_rng()), (2, 6, 5)),
    ("conv-pad", lambda: Conv2D(2, 3, 3, padding=1, rng=_rng()), (2, 5, 5)),
    ("conv-stride", lambda: Conv2D(2, 2, 3, stride=2, padding=1, rng=_rng()), (2, 7, 6)),
    ("conv-5x5", lambda: Conv2D(1, 2, 5, padding=2, rng=_rng()), (1, 6, 6)),
    ("conv-1x1", lambda: Conv2D(3, 2, 1, rng=_rng()), (3, 4, 4)),
    ("maxpool", lambda: MaxPool2D(2), (2, 6, 6)),
    ("maxpool-odd", lambda: MaxPool2D(2), (2, 7, 5)),
    ("maxpool-overlap", lambda: MaxPool2D(3, 2), (2, 7, 7)),
    ("maxpool-gaps", lambda: MaxPool2D(2, 3), (1, 8, 8)),
    ("avgpool", lambda: AvgPool2D(2), (2, 6, 6)),
    ("avgpool-overlap", lambda: AvgPool2D(3, 1), (1, 5, 6)),
    ("flatten", lambda: Flatten(), (2, 3, 3)),
    ("dropout-train", lambda: Dropout(0.5, rng=_rng()), (12,)),
    ("dropout-eval", lambda: Dropout(0.5, rng=_rng()).eval(), (12,)),
    ("bn1d-train", lambda: BatchNorm1D(4), (4,)),
    ("bn2d-train", lambda: BatchNorm2D(3), (3, 4, 4)),
    ("bn2d-eval", lambda: _bn_eval(), (3, 4, 4)),
    ("relu", lambda: ReLU(), (3, 4)),
    ("leaky-relu", lambda: LeakyReLU(0.1), (3, 4)),
    ("sigmoid", lambda: Sigmoid(), (10,)),
    ("tanh", lambda: Tanh(), (10,)),
    ("softmax", lambda: Softmax(), (6,)),
]


def _bn_eval():
    bn = BatchNorm2D(3)
    bn.running_mean[:] = [0.5, -1.0, 0.0]
    bn.running_var[:] = [2.0, 0.5, 1.0]
    bn.weight.data[:] = [1.5, -0.5, 1.0]
    return bn.eval()


@pytest.mark.parametrize(("name", "make", "shape"), LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_gradients(name, make, shape):
    layer = make()
    for _, p in layer.named_parameters():  # non-trivial weights and biases
        p.data[...] = p.data + 0.3 * _rng(9).standard_normal(p.shape)
    result = check_layer(layer, shape, _rng(1), batch_size=4 if "bn1d" in name else 2)
    expected = {"input"} | {n for n, _ in layer.named_parameters()}
    assert set(result) == expected
    for key, err in result.items():
        assert err < TOL, f"{name}: {key} relative error {err:.2e}"


def test_check_layer_leaves_the_callers_layer_untouched():
    conv = Conv2D(1, 2, 3, rng=_rng())
    before = conv.weight.data.copy()
    check_layer(conv, (1, 5, 5), _rng())
    assert conv.weight.data.dtype == np.float32
    np.testing.assert_array_equal(conv.weight.data, before)


def test_maxpool_with_ties_is_checked_on_tie_free_input():
    # On exact ties max-pool is not differentiable; the default input avoids them.
    result = check_layer(MaxPool2D(2), (1, 4, 4), _rng(2))
    assert result["input"] < TOL


def test_sampled_check_of_a_big_layer():
    result = check_layer(Dense(300, 50, rng=_rng()), (300,), _rng(), max_checks=25)
    assert passed(result)


@pytest.mark.parametrize("target", ["input", "weight", "bias"])
def test_broken_backward_is_caught(target):
    broken = BrokenBackward(Conv2D(2, 3, 3, rng=_rng()), target)
    result = check_layer(broken, (2, 5, 5), _rng())
    assert result[target] == pytest.approx(1.0)  # flipped sign: ||a - (-a)|| / 2||a||
    others = [err for key, err in result.items() if key != target]
    assert all(err < TOL for err in others)
    assert not passed(result)


def test_broken_backward_rejects_unknown_target():
    with pytest.raises(ValueError, match="input, weight, bias"):
        BrokenBackward(Dense(2, 2, rng=_rng()), "gamma")


def test_losses():
    rng = _rng(3)
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.integers(0, 4, size=5)
    assert check_loss(CrossEntropyLoss(), logits, labels)["input"] < TOL
    pred = rng.standard_normal((5, 3))
    assert check_loss(MSELoss(), pred, rng.standard_normal((5, 3)))["input"] < TOL


def test_relative_error():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, a * (1 + 1e-9)) < 1e-9
    # two gradients that are both zero up to finite-difference noise agree
    assert relative_error(np.array([1e-17, 0.0]), np.array([3e-11, -2e-11])) == 0.0
    assert relative_error(np.array([1e-5, 0.0]), np.array([-1e-5, 0.0])) == pytest.approx(1.0)


class Chain:
    """The smallest model object check_model accepts (forward/backward/named_parameters)."""

    def __init__(self, layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def named_parameters(self):
        return [
            (f"{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]


def _small_cnn(rng):
    return [
        Conv2D(1, 3, 3, padding=1, rng=rng),  # its bias has gradient 0 (BatchNorm follows)
        BatchNorm2D(3),
        ReLU(),
        MaxPool2D(2),
        Conv2D(3, 4, 3, rng=rng),
        Tanh(),
        Flatten(),
        Dropout(0.3, rng=rng),
        Dense(4, 5, rng=rng),
        LeakyReLU(0.05),
        Dense(5, 3, rng=rng),
    ]


def test_small_cnn_with_cross_entropy():
    rng = _rng(4)
    model = Chain(_small_cnn(rng))
    x = rng.standard_normal((3, 1, 6, 6))
    y = np.array([0, 2, 1])
    result = check_model(model, CrossEntropyLoss(), x, y)
    assert len(result) == 10  # 4 layers with weight+bias, BatchNorm weight+bias
    for name, err in result.items():
        assert err < TOL, f"{name}: {err:.2e}"


def test_mlp_with_mse():
    rng = _rng(5)
    model = Chain(
        [Dense(3, 8, rng=rng), Sigmoid(), BatchNorm1D(8), Dense(8, 2, rng=rng), Softmax()]
    )
    x = rng.standard_normal((6, 3))
    result = check_model(model, MSELoss(), x, rng.standard_normal((6, 2)))
    assert passed(result), result


def test_with_the_real_sequential():
    model_mod = pytest.importorskip("netcore.model")
    rng = _rng(6)
    model = model_mod.Sequential(_small_cnn(rng))
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    result = check_model(model, CrossEntropyLoss(), x, np.array([1, 0]))
    assert set(result) == {name for name, _ in model.named_parameters()}
    assert passed(result), result
    # the model given to the check is unchanged (still float32)
    assert all(p.data.dtype == np.float32 for p in model.parameters())


def test_to_float64_converts_parameters_and_buffers():
    bn = to_float64(BatchNorm2D(2))
    assert bn.weight.data.dtype == np.float64 and bn.weight.grad.dtype == np.float64
    assert bn.running_mean.dtype == np.float64 and bn.running_var.dtype == np.float64
