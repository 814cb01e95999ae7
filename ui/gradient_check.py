"""The in-app gradient check: every layer of a network against finite differences.

Plain Python and NumPy (no Streamlit); the page `app_pages/gradient_check.py` draws it.

* `check_network` checks each layer on its own (`netcore.gradcheck.check_layer`, float64,
  a couple of samples), within a time budget: a big layer has only a random subset of its
  coordinates checked, and the result says how many.
* `check_whole` checks the whole network with its loss on real samples.
* `train_with_and_without_bug` trains two identical small networks for a few dozen steps,
  one with a layer's backward pass broken (`netcore.gradcheck.BrokenBackward`), and returns
  both loss curves: a bug the check catches in a second, training shows only as "it learns
  worse".
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from netcore.base import DTYPE
from netcore.gradcheck import TOLERANCE, BrokenBackward, check_layer, check_model
from netcore.losses import CrossEntropyLoss
from netcore.model import Sequential
from netcore.optim import SGD
from netcore.spec import build_model, model_to_spec

SMALL_CNN = [
    {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "ReLU"},
    {"type": "MaxPool2D", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 32},
    {"type": "ReLU"},
    {"type": "Dense", "out_features": 10},
]
"""The network checked when the session has none: small enough to check in a few seconds."""

SMALL_MLP = [
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 32},
    {"type": "Tanh"},
    {"type": "Dense", "out_features": 10},
]


def default_network(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Sequential:
    """A small CNN for images (an MLP for vectors) with `n_classes` outputs."""
    import netcore.activations  # noqa: F401  (registers the layer types build_model needs)
    import netcore.layers  # noqa: F401

    spec = copy.deepcopy(SMALL_CNN if len(input_shape) == 3 else SMALL_MLP)
    spec[-1]["out_features"] = int(n_classes)
    return build_model(spec, tuple(input_shape), rng=np.random.default_rng(seed))


@dataclass
class LayerCheck:
    """The check of one layer.

    errors : relative error per checked gradient, e.g. ``{"input": 3e-10, "weight": 1e-9}``
    checked : per gradient, (coordinates checked, coordinates in total)
    """

    index: int
    kind: str
    in_shape: tuple[int, ...]
    errors: dict[str, float]
    checked: dict[str, tuple[int, int]]
    seconds: float
    broken: str | None = None

    @property
    def passed(self) -> bool:
        return all(e < TOLERANCE for e in self.errors.values())

    @property
    def worst(self) -> float:
        return max(self.errors.values()) if self.errors else 0.0

    @property
    def sampled(self) -> bool:
        return any(n < total for n, total in self.checked.values())


def breakable(model: Sequential) -> list[tuple[int, str]]:
    """Every (layer index, gradient name) that `BrokenBackward` can flip."""
    out = []
    for i, layer in enumerate(model.layers):
        out.append((i, "input"))
        out.extend((i, name) for name, _ in layer.named_parameters())
    return out


def _forward_seconds(layer, shape: tuple[int, ...], batch: int) -> float:
    """Time of one float64 forward pass of a copy of `layer` (what each probe costs)."""
    from netcore.gradcheck import default_input, to_float64

    probe = to_float64(copy.deepcopy(layer))
    x = default_input((batch, *shape), np.random.default_rng(0))
    best = float("inf")
    for _ in range(3):  # the fastest of three: one slow call (a GC pause) must not decide
        t0 = time.perf_counter()
        probe.forward(x)
        best = min(best, time.perf_counter() - t0)
    return max(best, 1e-6)


def check_network(
    model: Sequential,
    input_shape: tuple[int, ...],
    *,
    broken: tuple[int, str] | None = None,
    budget_s: float = 0.6,
    batch_size: int = 2,
    seed: int = 0,
    only: tuple[int, ...] | None = None,
) -> list[LayerCheck]:
    """Check every layer's backward pass against finite differences, in float64.

    Parameters
    ----------
    model : the network (not modified: each layer is copied by `check_layer`)
    input_shape : one sample's shape, e.g. ``(1, 28, 28)``
    broken : (layer index, gradient name) to wrap in `BrokenBackward`, or None
    budget_s : rough time per layer; each finite difference costs two forward passes, so a
        layer with more coordinates than fit gets a random sample of them checked
    batch_size : samples per check (random inputs kept away from ReLU's kink and pool ties)
    only : check just these layer indices (e.g. the one with the bug, when the others were
        checked before: each layer's check depends only on that layer and its seed)

    Returns
    -------
    list of LayerCheck, one per layer checked, in order
    """
    shapes = model.output_shapes(tuple(input_shape))
    results = []
    for i, layer in enumerate(model.layers):
        if only is not None and i not in only:
            continue
        in_shape = tuple(input_shape) if i == 0 else tuple(shapes[i - 1])
        target = broken[1] if broken is not None and broken[0] == i else None
        checked_layer = BrokenBackward(layer, target) if target else layer
        sizes = {"input": int(np.prod(in_shape)) * batch_size}
        sizes.update({name: p.size for name, p in layer.named_parameters()})
        per_probe = 2 * _forward_seconds(layer, in_shape, batch_size)
        per_array = budget_s / len(sizes)
        limit = max(8, int(per_array / per_probe))
        max_checks = None if limit >= max(sizes.values()) else limit
        t0 = time.perf_counter()
        errors = check_layer(
            checked_layer,
            in_shape,
            np.random.default_rng(seed + i),
            batch_size=batch_size,
            max_checks=max_checks,
        )
        checked = {k: (min(n, max_checks or n), n) for k, n in sizes.items()}
        results.append(
            LayerCheck(
                i,
                type(layer).__name__,
                in_shape,
                errors,
                checked,
                time.perf_counter() - t0,
                target,
            )
        )
    return results


def _with_bug(model: Sequential, broken: tuple[int, str] | None) -> Sequential:
    """A copy of `model` whose layer ``broken[0]`` has its ``broken[1]`` gradient flipped."""
    m = model.copy()
    if broken is not None:
        i, target = broken
        layers = list(m.layers)
        layers[i] = BrokenBackward(layers[i], target)
        m = Sequential(layers)
    return m


def check_whole(
    model: Sequential,
    input_shape: tuple[int, ...],
    n_classes: int,
    *,
    broken: tuple[int, str] | None = None,
    max_checks: int = 20,
    batch_size: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """Check the whole network with its cross-entropy loss (float64, sampled weights).

    The inputs are random (`netcore.gradcheck.default_input`), not real images: on MNIST's
    black background a freshly initialised conv outputs exactly 0 (its bias), right on
    ReLU's corner, where the slope is undefined and a finite difference reads 1/2.

    Returns ``{"0.weight": err, ...}``: a bug in layer k's input gradient shows up in the
    weights of every layer before k, because backprop carries it down.
    """
    from netcore.gradcheck import default_input

    rng = np.random.default_rng(seed)
    x = default_input((batch_size, *input_shape), rng)
    y = rng.integers(0, n_classes, batch_size)
    return check_model(
        _with_bug(model, broken), CrossEntropyLoss(), x, y, max_checks=max_checks, rng=rng
    )


def train_with_and_without_bug(
    model: Sequential,
    input_shape: tuple[int, ...],
    x: np.ndarray,
    y: np.ndarray,
    broken: tuple[int, str],
    *,
    steps: int = 60,
    batch_size: int = 32,
    lr: float = 0.05,
    seed: int = 0,
    budget_s: float = 8.0,
) -> dict[str, np.ndarray]:
    """Train two copies of `model`'s architecture from the same fresh weights on the same
    batches, one of them with the bug; return both per-step loss curves.

    Parameters
    ----------
    model : the architecture to use (its weights are not used: both start from ``seed``)
    x, y : training data (float32 inputs, int64 labels)
    broken : (layer index, gradient name) to flip in the second copy
    steps, batch_size, lr : plain SGD with momentum 0.9
    budget_s : stop early (both runs at the same step) if the pair takes longer than this

    Returns
    -------
    ``{"step": (n,), "healthy": (n,), "broken": (n,)}``
    """
    spec = model_to_spec(model)
    fresh = build_model(spec, tuple(input_shape), rng=np.random.default_rng(seed))
    nets = {"healthy": fresh.copy(), "broken": _with_bug(fresh, broken)}
    opts = {k: SGD(m.parameters(), lr=lr, momentum=0.9) for k, m in nets.items()}
    losses = {k: [] for k in nets}
    loss_fn = CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = rng.choice(len(y), size=min(batch_size, len(y)), replace=False)
        xb, yb = np.asarray(x[idx], dtype=DTYPE), y[idx]
        for k, net in nets.items():
            net.train()
            loss = loss_fn.forward(net.forward(xb), yb)
            net.backward(loss_fn.backward())
            opts[k].step()
            losses[k].append(float(loss) if np.isfinite(loss) else np.nan)
        if time.perf_counter() - t0 > budget_s:
            break
    n = len(losses["healthy"])
    return {
        "step": np.arange(1, n + 1),
        "healthy": np.asarray(losses["healthy"]),
        "broken": np.asarray(losses["broken"]),
    }
