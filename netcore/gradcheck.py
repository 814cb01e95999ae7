"""Gradient checking: compare every backward pass with finite differences.

A backward pass is hand-written calculus, and a wrong sign or a missing sum still lets a
network train, just badly. The check: nudge one number ``v`` by ``+-eps`` and watch the
loss,

    dL/dv  ~=  (L(v + eps) - L(v - eps)) / (2 * eps)         (central difference)

which is accurate to about ``eps**2``. Done for every input value and every weight, in
float64 (float32 has only ~7 digits: the difference of two nearly equal losses would be
mostly rounding noise), it must agree with the analytic gradient to about 1e-7 or better.

To check a single layer, the loss is a random projection of its output,
``L = sum(g * layer(x))`` with a fixed random ``g``: then ``dL/dy = g`` exactly, and every
output value takes part.

Randomness (Dropout masks) is frozen during a check: every forward pass restarts each
random generator the layer owns from the same state, so all passes see the same mask.

`BrokenBackward` wraps a layer and flips the sign of one of its gradients, to show a
check catching a bug.
"""

from __future__ import annotations

import copy

import numpy as np

from netcore.base import Layer

__all__ = [
    "TOLERANCE",
    "ZERO_GRADIENT",
    "BrokenBackward",
    "check_layer",
    "check_loss",
    "check_model",
    "check_sequential",
    "default_input",
    "layer_to_float64",
    "passed",
    "relative_error",
    "to_float64",
]

TOLERANCE = 1e-6
"""A float64 check passes when every relative error is below this."""


ZERO_GRADIENT = 1e-7
"""Gradients whose norm is below this on both sides count as zero (see `relative_error`)."""


def relative_error(a: np.ndarray, b: np.ndarray, zero: float = ZERO_GRADIENT) -> float:
    """``||a - b|| / (||a|| + ||b||)``: 0 for equal arrays, 1 for ``a = -b``.

    Scale-free, and unlike an element-wise ratio it does not blow up on entries that are
    nearly zero in both.

    When both norms are below `zero` the result is 0: both gradients are zero up to the
    rounding noise of finite differences (about 1e-10 per entry), and a ratio of two noises
    means nothing. This happens for real: the bias of a conv followed by BatchNorm has
    gradient exactly 0 (BatchNorm subtracts the mean, so a constant shift changes nothing).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if max(norm_a, norm_b) < zero:
        return 0.0
    return float(np.linalg.norm(a - b) / (norm_a + norm_b))


def passed(result: dict[str, float], tol: float = TOLERANCE) -> bool:
    """True when every relative error of a `check_layer` / `check_model` result is < tol."""
    return all(err < tol for err in result.values())


# --------------------------------------------------------------------------------------
# Preparing a layer or a model
# --------------------------------------------------------------------------------------


def _layers_of(obj) -> list:
    """The layers inside `obj`: a Sequential's ``layers``, a wrapper's inner layer, itself."""
    found = [obj]
    for sub in getattr(obj, "layers", None) or []:
        found.extend(_layers_of(sub))
    inner = getattr(obj, "layer", None)
    if inner is not None and inner is not obj:
        found.extend(_layers_of(inner))
    return found


def to_float64(obj):
    """Convert the parameters and buffers of a layer or model to float64, in place.

    Works on any layer of ours and on any object with a ``layers`` list of them (a
    Sequential). Gradients are reset to zeros of the new dtype.

    Returns
    -------
    The same object, for chaining.
    """
    for layer in _layers_of(obj):
        named = layer.named_parameters() if hasattr(layer, "named_parameters") else []
        for _, p in named:
            p.data = p.data.astype(np.float64)
            p.grad = np.zeros_like(p.data)
        buffers = layer.buffers() if hasattr(layer, "buffers") else {}
        for name, value in buffers.items():
            if hasattr(layer, name):
                setattr(layer, name, np.asarray(value, dtype=np.float64))
    return obj


layer_to_float64 = to_float64


def _generators(obj) -> list[np.random.Generator]:
    """Every np.random.Generator held by `obj` or by a layer inside it."""
    gens = []
    for layer in _layers_of(obj):
        for value in vars(layer).values():
            if isinstance(value, np.random.Generator) and value not in gens:
                gens.append(value)
    return gens


class _FrozenRandomness:
    """Call `restore()` before each forward pass so every pass draws the same numbers."""

    def __init__(self, obj):
        self._saved = [(g, copy.deepcopy(g.bit_generator.state)) for g in _generators(obj)]

    def restore(self) -> None:
        for g, state in self._saved:
            g.bit_generator.state = state


def _sample_indices(size: int, max_checks: int | None, rng: np.random.Generator) -> np.ndarray:
    """Flat indices of the entries to check: all of them, or `max_checks` random ones."""
    if max_checks is None or max_checks >= size:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


def _numerical_gradient(loss_fn, array: np.ndarray, indices: np.ndarray, eps: float):
    """Central differences of ``loss_fn()`` with respect to ``array.flat[indices]``.

    `array` is nudged in place (and put back), so `loss_fn` must read it on every call.
    """
    flat = array.reshape(-1)  # a view: writing to it changes `array`
    grad = np.empty(len(indices), dtype=np.float64)
    for out, i in enumerate(indices):
        old = flat[i]
        flat[i] = old + eps
        plus = loss_fn()
        flat[i] = old - eps
        minus = loss_fn()
        flat[i] = old
        grad[out] = (plus - minus) / (2 * eps)
    return grad


def default_input(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random float64 input with no value near 0 (ReLU's kink) or near a tie (max-pool).

    Standard normal values pushed 0.1 away from zero: continuous, so ties are improbable,
    and a nudge of ``eps`` never crosses ReLU's corner.
    """
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


# --------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------


def check_layer(
    layer: Layer,
    input_shape: tuple[int, ...],
    rng: np.random.Generator | None = None,
    *,
    eps: float = 1e-6,
    batch_size: int = 2,
    x: np.ndarray | None = None,
    max_checks: int | None = None,
) -> dict[str, float]:
    """Finite-difference check of one layer's backward pass, in float64.

    The layer is copied first (the caller's layer is left untouched) and its copy is run
    in whatever mode (train/eval) the layer is in.

    Parameters
    ----------
    layer : Layer
        Any object with forward / backward / named_parameters (e.g. a `BrokenBackward`).
    input_shape : tuple
        One sample's shape, without the batch axis, e.g. ``(3, 8, 8)``.
    rng : np.random.Generator, optional
        Draws the input (see `default_input`), the projection and the sampled entries.
    eps : float
        Finite-difference step.
    batch_size : int
        Samples in the test batch (>= 2 so that BatchNorm has statistics to compute).
    x : array, optional
        Use this input (float64 copy of it) instead of a random one.
    max_checks : int, optional
        Check at most this many randomly chosen entries per array (big layers would need
        two forward passes per weight); None checks every entry.

    Returns
    -------
    dict
        ``{"input": err, "weight": err, "bias": err, ...}``: the `relative_error` between
        analytic and numerical gradients of the input and of each parameter.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    layer = to_float64(copy.deepcopy(layer))
    layer.needs_input_grad = True
    if x is None:
        x = default_input((batch_size, *input_shape), rng)
    else:
        x = np.array(x, dtype=np.float64)
    frozen = _FrozenRandomness(layer)

    frozen.restore()
    y = layer.forward(x)
    g = rng.standard_normal(y.shape)  # L = sum(g * y), so dL/dy = g

    def loss() -> float:
        frozen.restore()
        return float(np.sum(layer.forward(x) * g))

    # Analytic gradients, from one forward + backward at the unperturbed point.
    loss()
    dx = layer.backward(g.copy())
    analytic = {"input": np.asarray(dx, dtype=np.float64)}
    params = layer.named_parameters()
    for name, p in params:
        analytic[name] = p.grad.astype(np.float64, copy=True)

    result = {}
    targets = [("input", x)] + [(name, p.data) for name, p in params]
    for name, array in targets:
        idx = _sample_indices(array.size, max_checks, rng)
        numeric = _numerical_gradient(loss, array, idx, eps)
        result[name] = relative_error(analytic[name].reshape(-1)[idx], numeric)
    return result


def check_model(
    model,
    loss,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float = 1e-6,
    max_checks: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, float]:
    """Finite-difference check of a whole network with its loss, in float64.

    Parameters
    ----------
    model
        Any object with ``forward(x)``, ``backward(dy)`` and ``named_parameters()``
        returning ``[("0.weight", Parameter), ...]`` (a Sequential). Copied first.
    loss
        An object with ``forward(prediction, target) -> float`` and ``backward()``,
        e.g. `netcore.losses.CrossEntropyLoss()`.
    x, y : arrays
        A (small) batch of inputs and targets.
    eps : float
    max_checks : int, optional
        Check at most this many random entries per parameter.
    rng : np.random.Generator, optional
        Chooses the sampled entries.

    Returns
    -------
    dict
        ``{"0.weight": err, "0.bias": err, ...}``, one relative error per parameter.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    model = to_float64(copy.deepcopy(model))
    x = np.array(x, dtype=np.float64)
    if np.issubdtype(np.asarray(y).dtype, np.floating):
        y = np.asarray(y, dtype=np.float64)
    frozen = _FrozenRandomness(model)

    def loss_value() -> float:
        frozen.restore()
        return loss.forward(model.forward(x), y)

    loss_value()
    model.backward(loss.backward())
    params = model.named_parameters()
    analytic = {name: p.grad.astype(np.float64, copy=True) for name, p in params}

    result = {}
    for name, p in params:
        idx = _sample_indices(p.data.size, max_checks, rng)
        numeric = _numerical_gradient(loss_value, p.data, idx, eps)
        result[name] = relative_error(analytic[name].reshape(-1)[idx], numeric)
    return result


check_sequential = check_model


def check_loss(loss, prediction: np.ndarray, target: np.ndarray, *, eps: float = 1e-6) -> dict:
    """Finite-difference check of a loss's gradient with respect to its prediction input.

    Parameters
    ----------
    loss
        An object with ``forward(prediction, target) -> float`` and ``backward()``.
    prediction : array
        E.g. logits ``(N, K)`` for `CrossEntropyLoss`; converted to float64.
    target : array
        Labels or targets, passed through unchanged (float targets become float64).

    Returns
    -------
    dict
        ``{"input": relative error of d loss / d prediction}``.
    """
    pred = np.array(prediction, dtype=np.float64)
    if np.issubdtype(np.asarray(target).dtype, np.floating):
        target = np.asarray(target, dtype=np.float64)
    loss.forward(pred, target)
    analytic = np.asarray(loss.backward(), dtype=np.float64)
    idx = np.arange(pred.size)
    numeric = _numerical_gradient(lambda: loss.forward(pred, target), pred, idx, eps)
    return {"input": relative_error(analytic.reshape(-1), numeric)}


class BrokenBackward(Layer):
    """A layer whose backward pass has a deliberate bug: one gradient has the wrong sign.

    For teaching: wrap a layer, run `check_layer` (or a model check) on it, and watch the
    relative error of the broken gradient jump to 1 while the others stay tiny.

    Parameters
    ----------
    layer : Layer
        The layer to wrap; forward is unchanged.
    target : str
        Which gradient to flip: ``"input"`` (dL/dx) or a parameter name (``"weight"``...).
    """

    def __init__(self, layer: Layer, target: str = "input"):
        names = ["input"] + [name for name, _ in layer.named_parameters()]
        if target not in names:
            raise ValueError(f"cannot break {target!r}; choose one of: {', '.join(names)}")
        self.layer = layer
        self.target = target

    @property
    def training(self) -> bool:
        return self.layer.training

    @property
    def needs_input_grad(self) -> bool:
        return self.layer.needs_input_grad

    @needs_input_grad.setter
    def needs_input_grad(self, value: bool) -> None:
        self.layer.needs_input_grad = value

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy):
        dx = self.layer.backward(dy)
        if self.target == "input":
            return None if dx is None else -dx
        param = dict(self.layer.named_parameters())[self.target]
        param.grad = -param.grad  # the bug
        return dx

    def output_shape(self, input_shape):
        return self.layer.output_shape(input_shape)

    def named_parameters(self):
        return self.layer.named_parameters()

    def buffers(self):
        return self.layer.buffers()

    def flops(self, input_shape):
        return self.layer.flops(input_shape)

    def config(self):
        return self.layer.config()

    def train(self):
        self.layer.train()
        return self

    def eval(self):
        self.layer.eval()
        return self

    def __repr__(self):
        return f"BrokenBackward({self.layer!r}, target={self.target!r})"
