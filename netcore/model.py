"""`Sequential`: a network as a list of layers, run front to back and back to front.

The forward pass feeds each layer's output to the next; the backward pass walks the same
list in reverse, handing each layer dL/d(its output) and getting back dL/d(its input)
(the chain rule, one layer at a time). Parameter names follow PyTorch: ``"3.weight"`` is
the weight of layer 3, so a state dict can be compared with other libraries.

Building a network from a JSON spec lives in `netcore.spec`; saving and loading in
`netcore.serialize`.
"""

from __future__ import annotations

import copy as _copy
import inspect
from collections.abc import Iterator

import numpy as np

from netcore.activations import ReLU
from netcore.base import DTYPE, LAYER_TYPES, Layer, Parameter
from netcore.pool import MaxPool2D
from netcore.summary import ModelSummary, describe


class Sequential:
    """A chain of layers: ``y = layers[-1](...layers[1](layers[0](x)))``.

    Parameters
    ----------
    layers : list of Layer
        Run in this order. The network's input never needs a gradient during training,
        so the first layer (and any layer without weights before the first one with
        weights) gets ``needs_input_grad = False`` (a conv then skips its col2im); ask for
        the input gradient explicitly with ``backward(dy, input_grad=True)``. Each ReLU
        directly followed by a MaxPool2D runs as one step, pooling first (the same
        numbers, less work; see `_PoolThenReLU`), except in ``forward(x, capture=True)``.

    Attributes
    ----------
    activations : list of np.ndarray
        After ``forward(x, capture=True)``: a copy of every layer's output, in order
        (``activations[i]`` is the output of ``layers[i]``), for the feature-map views.
    """

    def __init__(self, layers: list[Layer]):
        self.layers: list[Layer] = list(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is a {type(layer).__name__}, not a netcore Layer")
        # Training needs dL/dx only where a layer with weights lies upstream: the first
        # layer, and a Flatten (or any layer without weights) before the first weighted
        # one, skip their input gradient (for an MLP that is a whole matrix product).
        self._skips_input_grad: list[Layer] = []
        weights_upstream = False
        for layer in self.layers:
            layer.needs_input_grad = weights_upstream
            if not weights_upstream:
                self._skips_input_grad.append(layer)
            weights_upstream = weights_upstream or bool(layer.parameters())
        self._steps = _fuse(self.layers)
        self._last_run: list = self._steps  # what backward walks back through
        self.activations: list[np.ndarray] = []

    # -- running the network -----------------------------------------------------------
    def forward(self, x: np.ndarray, *, capture: bool = False) -> np.ndarray:
        """Run every layer on a batch.

        Parameters
        ----------
        x : (N, ...) array, e.g. ``(N, C, H, W)`` images or ``(N, D)`` vectors.
        capture : bool
            Also keep a copy of each layer's output in ``self.activations``. Copies, because
            layers reuse their output buffers between calls for speed.

        Returns
        -------
        (N, ...) array: the last layer's output (logits for a classifier).
        """
        if capture:
            self.activations = []
            return self.forward_each(
                x, lambda i, y: self.activations.append(np.array(y, copy=True, order="C"))
            )
        for step in self._steps:
            x = step.forward(x)
        self._last_run = self._steps
        return x

    def forward_each(self, x: np.ndarray, observe) -> np.ndarray:
        """Run the layers one by one (no fused pairs), calling ``observe(i, output)``.

        For looking at every layer's own output during training (statistics, feature
        maps); `backward` afterwards walks the same layers. ``output`` may be a buffer the
        layer reuses: copy what must outlive the call.

        Parameters
        ----------
        x : (N, ...) array
        observe : callable ``(layer index, output array) -> None``

        Returns
        -------
        The last layer's output, as `forward`.
        """
        for i, layer in enumerate(self.layers):
            x = layer.forward(x)
            observe(i, x)
        self._last_run = self.layers
        return x

    __call__ = forward

    def backward(self, dy: np.ndarray, *, input_grad: bool = False) -> np.ndarray | None:
        """Backpropagate dL/d(output) through every layer; sets each parameter's ``.grad``.

        Parameters
        ----------
        dy : (N, ...) array, dL/d(network output), e.g. from ``CrossEntropyLoss.backward()``.
        input_grad : bool
            Also compute dL/d(input) (saliency maps). Off by default: training never needs it.

        Returns
        -------
        (N, ...) array dL/dx when ``input_grad`` is True, else None.
        """
        if input_grad:
            for layer in self._skips_input_grad:
                layer.needs_input_grad = True
        try:
            for step in reversed(self._last_run):
                dy = step.backward(dy)
        finally:
            for layer in self._skips_input_grad:
                layer.needs_input_grad = False
        if not input_grad:
            return None
        return np.ascontiguousarray(dy)  # plain (N, ...) memory order for the caller

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities in eval mode, computed in batches to bound memory.

        Parameters
        ----------
        x : (N, ...) array.
        batch_size : int, samples per forward pass.

        Returns
        -------
        (N, K) float32 array, each row sums to 1. Softmax of the logits (skipped when the
        network already ends with a Softmax layer). The train/eval mode is restored after.
        """
        logits = self.predict_logits(x, batch_size=batch_size)
        if self.layers and type(self.layers[-1]).__name__ == "Softmax":
            return logits
        return softmax(logits)

    def predict_logits(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The network's outputs in eval mode, in batches. x: (N, ...) -> (N, K) float32."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        was_training = self.training
        self.eval()
        try:
            outs = [
                np.array(self.forward(x[i : i + batch_size]), dtype=DTYPE, copy=True)
                for i in range(0, len(x), batch_size)
            ]
        finally:
            if was_training:
                self.train()
        if not outs:
            shape = self.output_shapes(tuple(x.shape[1:]))[-1] if self.layers else x.shape[1:]
            return np.zeros((0, *shape), dtype=DTYPE)
        return np.concatenate(outs)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predicted class index per sample. x: (N, ...) -> (N,) int64."""
        return self.predict_logits(x, batch_size=batch_size).argmax(axis=1).astype(np.int64)

    # -- parameters and state ----------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``[("0.weight", p), ("0.bias", p), ("3.weight", p), ...]`` in layer order."""
        return [
            (f"{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> list[tuple[str, np.ndarray]]:
        """Non-trainable state, e.g. ``("1.running_mean", array)``, in layer order."""
        return [
            (f"{i}.{name}", b)
            for i, layer in enumerate(self.layers)
            for name, b in layer.buffers().items()
        ]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer by name (parameters first, then buffers)."""
        sd = {name: p.data.copy() for name, p in self.named_parameters()}
        sd.update({name: np.array(b, copy=True) for name, b in self.named_buffers()})
        return sd

    def check_state_dict(self, state: dict[str, np.ndarray]) -> list[str]:
        """Every reason `state` cannot be loaded into this model; ``[]`` when it fits."""
        expected = {name: p.data.shape for name, p in self.named_parameters()}
        expected.update({name: np.shape(b) for name, b in self.named_buffers()})
        problems = []
        for name, shape in expected.items():
            if name not in state:
                problems.append(f"{name}: missing (expected shape {_fmt(shape)})")
                continue
            value = state[name]
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
                problems.append(f"{name}: not an array of numbers")
            elif value.shape != shape:
                problems.append(
                    f"{name}: shape {_fmt(value.shape)} does not match the model's {_fmt(shape)}"
                )
        for name in state:
            if name not in expected:
                problems.append(f"{name}: not in this model")
        return problems

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the model's parameters and buffers, in place.

        Every name and shape is checked first; on any mismatch a ValueError lists all of
        them and the model is left unchanged. Values are copied (cast to the model's dtype),
        so the optimizer keeps pointing at the same arrays.
        """
        problems = self.check_state_dict(state)
        if problems:
            raise ValueError("these weights do not fit this model:\n  " + "\n  ".join(problems))
        for name, p in self.named_parameters():
            p.data[...] = state[name]
        for i, layer in enumerate(self.layers):
            for name, b in layer.buffers().items():
                _set_buffer(layer, name, b, state[f"{i}.{name}"])

    # -- modes -------------------------------------------------------------------------
    def train(self) -> Sequential:
        """Training mode: Dropout drops, BatchNorm uses batch statistics."""
        for layer in self.layers:
            layer.train()
        return self

    def eval(self) -> Sequential:
        """Evaluation mode: Dropout passes through, BatchNorm uses running statistics."""
        for layer in self.layers:
            layer.eval()
        return self

    @property
    def training(self) -> bool:
        return all(layer.training for layer in self.layers)

    # -- shapes, summary ---------------------------------------------------------------
    def output_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Output shape of every layer for one sample of `input_shape` (no batch axis).

        Raises
        ------
        ValueError naming the layer index, its type, the input shape it got and what is wrong,
        e.g. ``layer 3 (Conv2D) gets input (6, 5, 5): kernel 7x7 does not fit ...``.
        """
        shape = tuple(int(s) for s in input_shape)
        shapes = []
        for i, layer in enumerate(self.layers):
            try:
                shape = tuple(int(s) for s in layer.output_shape(shape))
            except ValueError as err:
                raise ValueError(
                    f"layer {i} ({type(layer).__name__}) gets input {_fmt(shape)}: "
                    f"{_strip_name(str(err), type(layer).__name__)}"
                ) from None
            shapes.append(shape)
        return shapes

    def summary(self, input_shape: tuple[int, ...]) -> ModelSummary:
        """Per-layer table (output shape, parameters, FLOPs) and totals; see `ModelSummary`."""
        shapes = self.output_shapes(input_shape)
        rows = []
        in_shape = tuple(input_shape)
        for i, (layer, out_shape) in enumerate(zip(self.layers, shapes, strict=True)):
            rows.append(
                {
                    "index": i,
                    "type": type(layer).__name__,
                    "description": describe(layer),
                    "output_shape": out_shape,
                    "params": sum(p.size for p in layer.parameters()),
                    "flops": int(layer.flops(in_shape)),
                }
            )
            in_shape = out_shape
        return ModelSummary(rows=rows, input_shape=tuple(input_shape))

    # -- container protocol ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        """``model[i]`` is layer i; a slice gives a plain list of the (shared) layers."""
        return self.layers[index]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"

    # -- copies ------------------------------------------------------------------------
    def copy(self) -> Sequential:
        """An independent network with the same architecture, weights, buffers and mode.

        Views use it to look at a model while training goes on in another thread: nothing
        (weights, caches, buffers) is shared. Take it while the trainer is not stepping
        (under the job's lock), or the weights may be caught half-updated.
        """
        layers = [_clone_layer(layer) for layer in self.layers]
        twin = Sequential(layers)
        twin.load_state_dict(self.state_dict())
        for mine, theirs in zip(self.layers, twin.layers, strict=True):
            theirs.training = mine.training
        return twin

    clone = copy


class _PoolThenReLU:
    """A ReLU followed by a MaxPool2D, run in the other order: pool first, then ReLU.

    Both orders give the same numbers, forward and backward: ReLU never changes which
    value of a window is largest (it keeps the order of positive values and sends all
    the others to 0), so ``maxpool(relu(x)) == relu(maxpool(x))``, and the gradient
    reaches the same winning input in both cases (or is 0 in both, when the window
    holds no positive value). Pooling first lets the ReLU work on an output four times
    smaller. The two layers' own ``forward``/``backward`` do the work.
    """

    def __init__(self, relu: ReLU, pool: MaxPool2D):
        self.relu, self.pool = relu, pool

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.relu.forward(self.pool.forward(x))

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        if not self.relu.needs_input_grad:
            return None
        return self.pool.backward(self.relu.backward(dy))


def _fuse(layers: list[Layer]) -> list:
    """The steps `Sequential.forward` runs: the layers, each ReLU + MaxPool2D as one."""
    steps, i = [], 0
    while i < len(layers):
        pair = layers[i : i + 2]
        if [type(layer) for layer in pair] == [ReLU, MaxPool2D]:
            steps.append(_PoolThenReLU(*pair))
            i += 2
        else:
            steps.append(layers[i])
            i += 1
    return steps


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax. z: (N, K) -> (N, K); subtracting the row max avoids overflow."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _strip_name(message: str, name: str) -> str:
    """Drop a leading "Conv2D: " from a layer's message: the prefix already names it."""
    return message[len(name) + 2 :] if message.startswith(name + ": ") else message


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _set_buffer(layer: Layer, name: str, current: np.ndarray, value: np.ndarray) -> None:
    """Write a saved buffer back: in place when the layer exposes its own array."""
    attr = getattr(layer, name, None)
    if isinstance(attr, np.ndarray) and attr.shape == np.shape(value):
        attr[...] = value
    elif isinstance(current, np.ndarray) and current.shape == np.shape(value):
        current[...] = value
    else:
        setattr(layer, name, np.array(value, copy=True))


def _clone_layer(layer: Layer) -> Layer:
    """A fresh layer of the same type and config (weights are loaded afterwards).

    Rebuilding from ``config()`` shares nothing with the original; layer types that are
    not registered fall back to a deep copy.
    """
    cls = type(layer)
    if LAYER_TYPES.get(cls.__name__) is not cls:
        return _copy.deepcopy(layer)
    kwargs = dict(layer.config())
    if "rng" in inspect.signature(cls).parameters:
        kwargs["rng"] = np.random.default_rng(0)  # init values are overwritten right after
    return cls(**kwargs)
