"""Weight initialisers.

A network only learns well if the signal neither dies out nor explodes as it passes
through the layers. Each initialiser picks the spread of the random starting weights from
the layer's *fan-in* (inputs feeding one output) and/or *fan-out* so that the variance of
the activations stays about the same from layer to layer.

* **He** (Kaiming) -- variance ``2 / fan_in``: for layers followed by ReLU, which zeroes
  half of its inputs and so halves the variance. Our default for Dense and Conv2D.
* **Xavier** (Glorot) -- variance ``2 / (fan_in + fan_out)``: for tanh / sigmoid networks.
* **normal** -- a fixed standard deviation, e.g. to show what a badly scaled start does.

Every function takes an explicit ``np.random.Generator`` (seeded runs are reproducible)
and returns a float32 array unless told otherwise.
"""

from __future__ import annotations

import numpy as np

from netcore.base import DTYPE


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fan-in and fan-out of a weight of `shape`, using PyTorch's layouts.

    Parameters
    ----------
    shape : tuple
        ``(out_features, in_features)`` for Dense, ``(out_channels, in_channels, kH, kW)``
        for Conv2D.

    Returns
    -------
    (fan_in, fan_out) : tuple of int
        Dense: ``(in, out)``; Conv2D: ``(in_channels*kH*kW, out_channels*kH*kW)``.
    """
    if len(shape) < 2:
        raise ValueError(f"a weight needs at least 2 dimensions to have fans, got {shape}")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def he_normal(shape, rng: np.random.Generator, *, fan_in: int | None = None, dtype=DTYPE):
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""
    fan_in = compute_fans(shape)[0] if fan_in is None else fan_in
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(shape, rng: np.random.Generator, *, fan_in: int | None = None, dtype=DTYPE):
    """Uniform on ``[-b, b]`` with ``b = sqrt(6 / fan_in)`` (the same variance as `he_normal`)."""
    fan_in = compute_fans(shape)[0] if fan_in is None else fan_in
    bound = np.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def xavier_normal(
    shape, rng: np.random.Generator, *, fan_in=None, fan_out=None, dtype=DTYPE
) -> np.ndarray:
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""
    default_in, default_out = compute_fans(shape)
    fan_in = default_in if fan_in is None else fan_in
    fan_out = default_out if fan_out is None else fan_out
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def xavier_uniform(
    shape, rng: np.random.Generator, *, fan_in=None, fan_out=None, dtype=DTYPE
) -> np.ndarray:
    """Uniform on ``[-b, b]`` with ``b = sqrt(6 / (fan_in + fan_out))``."""
    default_in, default_out = compute_fans(shape)
    fan_in = default_in if fan_in is None else fan_in
    fan_out = default_out if fan_out is None else fan_out
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape, rng: np.random.Generator, *, std: float = 0.01, dtype=DTYPE) -> np.ndarray:
    """Normal with a fixed standard deviation `std` (ignores the fans)."""
    return (rng.standard_normal(shape) * std).astype(dtype)


def zeros(shape, rng: np.random.Generator | None = None, *, dtype=DTYPE) -> np.ndarray:
    """All zeros (biases; for weights it makes every unit learn the same thing)."""
    return np.zeros(shape, dtype=dtype)


INITIALIZERS = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "normal": normal,
    "zeros": zeros,
}
"""Initialisers by name, for the `init=` argument of Dense and Conv2D."""


def initialize(name: str, shape, rng: np.random.Generator, dtype=DTYPE) -> np.ndarray:
    """Call the initialiser called `name` (a key of `INITIALIZERS`)."""
    try:
        fn = INITIALIZERS[name]
    except KeyError:
        known = ", ".join(INITIALIZERS)
        raise ValueError(f"unknown initialiser {name!r}; choose one of: {known}") from None
    return fn(shape, rng, dtype=dtype)
