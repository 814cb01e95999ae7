"""The two building blocks every layer shares: `Parameter` and `Layer`.

A network is a chain of layers. Each layer knows how to

* ``forward(x)``: compute its output and remember what the backward pass will need;
* ``backward(dy)``: given dL/dy (the gradient of the loss with respect to its output),
  return dL/dx and store dL/dW in each parameter's ``.grad``;
* ``output_shape(input_shape)``: say what shape comes out, without any data, so that an
  impossible architecture is caught before training starts.

Shapes given to ``output_shape`` never include the batch axis: ``(1, 28, 28)`` for an MNIST
image, ``(784,)`` for a flat vector.
"""

from __future__ import annotations

import numpy as np

DTYPE = np.float32
"""Every array in the engine is float32 unless a gradient check asks for float64."""

LAYER_TYPES: dict[str, type[Layer]] = {}
"""Layer classes by name, so an architecture saved as JSON can be rebuilt."""


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a layer type buildable from its name (see `LAYER_TYPES`)."""
    LAYER_TYPES[cls.__name__] = cls
    return cls


class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Attributes
    ----------
    data : np.ndarray
        The values, e.g. a Conv2D weight of shape ``(out_channels, in_channels, kH, kW)``.
    grad : np.ndarray
        dL/d(data), same shape; set (not accumulated) by the owning layer's ``backward``.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def size(self) -> int:
        return self.data.size

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base class of every layer and activation.

    Subclasses override `forward`, `backward` and, when they change the shape,
    `output_shape`. Layers with weights keep them as `Parameter` attributes and list them
    in `parameters` in a fixed order (``weight`` before ``bias``, as in PyTorch).
    """

    training: bool = True
    needs_input_grad: bool = True
    """When False, `backward` may skip computing dL/dx and return None (the first layer of
    a network: nothing upstream needs it, and a conv then saves its whole col2im)."""

    # -- the three things every layer does ---------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one output sample for one input sample of `input_shape` (no batch axis)."""
        return tuple(input_shape)

    # -- bookkeeping -------------------------------------------------------------------
    def named_parameters(self) -> list[tuple[str, Parameter]]:
        """``[("weight", p), ("bias", p)]`` for layers with weights, ``[]`` otherwise."""
        return []

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state that must be saved with the weights (BatchNorm's running stats)."""
        return {}

    def flops(self, input_shape: tuple[int, ...]) -> int:
        """Floating-point operations of one forward pass on one sample (a multiply-add is 2)."""
        return 0

    def config(self) -> dict:
        """Constructor arguments as plain JSON values, so the layer can be rebuilt by name."""
        return {}

    def train(self) -> Layer:
        self.training = True
        return self

    def eval(self) -> Layer:
        self.training = False
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
