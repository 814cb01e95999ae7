"""Architectures as plain JSON: build a `Sequential` from a spec, and a spec from a model.

A spec is a list of dicts, one per layer, WITHOUT input sizes::

    [{"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2},
     {"type": "ReLU"},
     {"type": "MaxPool2D", "kernel_size": 2},
     {"type": "Flatten"},
     {"type": "Dense", "out_features": 10}]

`build_model` walks the spec with the shape of one sample, fills in the sizes each layer
needs from the shape that reaches it (``in_channels``, ``in_features``, ``num_features``),
and checks every option, so a student's mistake is reported as "layer 4 (Dense): ..." with
the fix, before any training starts. The spec, the input shape and the weights are all a
saved model needs (see `netcore.serialize`).
"""

from __future__ import annotations

import difflib
import inspect
import math

import numpy as np

from netcore.base import LAYER_TYPES, Layer
from netcore.init import INITIALIZERS
from netcore.model import Sequential

# Sizes that come from the incoming shape: (constructor argument, rank the input must have).
INFERRED = {
    "Dense": ("in_features", 1),
    "Conv2D": ("in_channels", 3),
    "BatchNorm1D": ("num_features", 1),
    "BatchNorm2D": ("num_features", 3),
}

# What each option means and which values it accepts, for the error messages.
_POSITIVE_INT = "a whole number of at least 1"
_OPTION_RULES = {
    "out_features": ("int>=1", "the number of output units, e.g. 10"),
    "out_channels": ("int>=1", "the number of filters, e.g. 6"),
    "kernel_size": ("int>=1", "the side of the square window, e.g. 3"),
    "stride": ("int>=1|None", "the step between windows, e.g. 1"),
    "init": ("init", "a weight initialiser name"),
    "padding": ("int>=0", "zeros added around the image, e.g. 1"),
    "bias": ("bool", "true or false"),
    "p": ("prob", "the fraction of units dropped, between 0 and 1 (e.g. 0.5)"),
    "negative_slope": ("number", "the slope for negative inputs, e.g. 0.01"),
    "eps": ("number>0", "a small positive number, e.g. 1e-5"),
    "momentum": ("prob", "a number between 0 and 1, e.g. 0.1"),
}


def build_model(
    spec: list[dict], input_shape: tuple[int, ...], *, rng: np.random.Generator
) -> Sequential:
    """Build and validate a network from a JSON-able spec.

    Parameters
    ----------
    spec : list of dict
        One dict per layer: ``{"type": <layer class name>, <constructor options>...}``,
        without the sizes that follow from the input (they are inferred).
    input_shape : tuple of int
        One sample, no batch axis: ``(C, H, W)`` for images, ``(D,)`` for vectors.
    rng : np.random.Generator
        Used for the initial weights (and Dropout's masks), so a seed reproduces the model.

    Raises
    ------
    ValueError naming the layer index and type, what is wrong and how to fix it: an unknown
    type, a missing or invalid option, or a shape the layer cannot take.
    """
    shape = _check_input_shape(input_shape)
    if not isinstance(spec, list | tuple) or not spec:
        raise ValueError("the architecture is empty: add at least one layer")
    layers = []
    for i, entry in enumerate(spec):
        layer = _build_layer(i, entry, shape, rng)
        try:
            shape = tuple(int(s) for s in layer.output_shape(shape))
        except ValueError as err:
            raise ValueError(
                f"layer {i} ({type(layer).__name__}) gets input {_fmt(shape)}: "
                f"{_strip_name(str(err), type(layer).__name__)}"
            ) from None
        layers.append(layer)
    return Sequential(layers)


def model_to_spec(model: Sequential) -> list[dict]:
    """The spec that rebuilds `model`'s architecture (the inferred sizes left out)."""
    spec = []
    for layer in model:
        name = type(layer).__name__
        entry = {"type": name}
        entry.update(layer.config())
        inferred = INFERRED.get(name)
        if inferred:
            entry.pop(inferred[0], None)
        spec.append(entry)
    return spec


def validate_spec(spec: list[dict], input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Check a spec without keeping the model; returns each layer's output shape.

    Raises the same ValueError as `build_model`.
    """
    model = build_model(spec, input_shape, rng=np.random.default_rng(0))
    return model.output_shapes(input_shape)


# -- one layer -------------------------------------------------------------------------
def _build_layer(i: int, entry: dict, shape: tuple[int, ...], rng) -> Layer:
    if not isinstance(entry, dict):
        raise ValueError(f"layer {i}: expected a dict like {{'type': 'ReLU'}}, got {entry!r}")
    name = entry.get("type")
    if not isinstance(name, str) or not name:
        raise ValueError(f"layer {i}: missing 'type' (one of {', '.join(sorted(LAYER_TYPES))})")
    cls = LAYER_TYPES.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, list(LAYER_TYPES), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(
            f"layer {i}: unknown layer type {name!r}; {hint}"
            f"known types: {', '.join(sorted(LAYER_TYPES))}"
        )
    where = f"layer {i} ({name})"
    options = {k: v for k, v in entry.items() if k != "type"}
    params = inspect.signature(cls).parameters
    inferred = INFERRED.get(name)
    inferred_arg = inferred[0] if inferred else None
    allowed = [p for p in params if p not in ("self", "rng", inferred_arg)]
    unknown = [k for k in options if k not in params or k == "rng"]
    if unknown:
        raise ValueError(
            f"{where}: unknown option {unknown[0]!r}; allowed: {', '.join(allowed) or 'none'}"
        )
    for pname, p in params.items():
        if pname in ("self", "rng", inferred_arg) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty and pname not in options:
            meaning = _OPTION_RULES.get(pname, ("", "required"))[1]
            raise ValueError(f"{where}: missing option {pname!r} ({meaning})")
    for key, value in options.items():
        problem = _check_option(key, value)
        if problem:
            raise ValueError(f"{where}: {key}={value!r} is not valid; it must be {problem}")

    if inferred:
        # The size this layer needs comes from the shape that reaches it.
        rank = inferred[1]
        if len(shape) != rank:
            raise ValueError(f"{where} gets input {_fmt(shape)}: {_rank_fix(name, rank)}")
        value = shape[0]
        if inferred_arg in options and options[inferred_arg] != value:
            raise ValueError(
                f"{where}: {inferred_arg}={options[inferred_arg]!r} but the input has {value}; "
                f"remove {inferred_arg!r}, it is worked out from the previous layer"
            )
        options[inferred_arg] = value
    if "rng" in params:
        options["rng"] = rng
    try:
        return cls(**options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None


def _check_option(key: str, value) -> str | None:
    """None when `value` is acceptable for option `key`, else what it should be."""
    rule, meaning = _OPTION_RULES.get(key, (None, ""))
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
    is_num = (is_int or isinstance(value, float | np.floating)) and math.isfinite(value)
    if rule is None:
        return None
    if rule == "int>=1" and not (is_int and value >= 1):
        return f"{_POSITIVE_INT} ({meaning})"
    if rule == "int>=1|None" and not (value is None or (is_int and value >= 1)):
        return f"{_POSITIVE_INT} or null ({meaning})"
    if rule == "int>=0" and not (is_int and value >= 0):
        return f"a whole number of at least 0 ({meaning})"
    if rule == "init" and value not in INITIALIZERS:
        return f"one of {', '.join(sorted(INITIALIZERS))}"
    if rule == "bool" and not isinstance(value, bool):
        return meaning
    if rule == "prob" and not (is_num and 0 <= value < 1):
        return meaning
    if rule == "number" and not is_num:
        return f"a number ({meaning})"
    if rule == "number>0" and not (is_num and value > 0):
        return meaning
    return None


def _rank_fix(name: str, rank: int) -> str:
    if rank == 1:
        return f"{name} needs a flat vector per sample; add a Flatten layer before it"
    return (
        f"{name} needs an image (channels, height, width) per sample; it cannot come after "
        "Flatten or Dense (move it before them)"
    )


def _check_input_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input shape must be a tuple of sizes, got {input_shape!r}") from None
    if not shape or any(s < 1 for s in shape) or len(shape) not in (1, 3):
        raise ValueError(
            f"input shape {input_shape!r} is not valid: use (features,) for vectors or "
            "(channels, height, width) for images, all sizes at least 1"
        )
    return shape


def _strip_name(message: str, name: str) -> str:
    """Drop a leading "Conv2D: " from a layer's message: the prefix already names it."""
    return message[len(name) + 2 :] if message.startswith(name + ": ") else message


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# -- ready-made architectures ------------------------------------------------------------
PRESETS: dict[str, list[dict]] = {
    # Flatten, two hidden layers of ReLU units (784-128-64-10 on MNIST).
    "mlp": [
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 128},
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 64},
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 10},
    ],
    # LeNet-5 (LeCun et al. 1998) as usually taught today: ReLU and max-pooling instead of
    # the original tanh and subsampling. On 1x28x28 the first conv pads by 2, which makes
    # MNIST look like the original 32x32 input: 61,706 parameters.
    "lenet5": [
        {"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Conv2D", "out_channels": 16, "kernel_size": 5},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 120},
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 84},
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 10},
    ],
    # A small VGG-style net: blocks of two 3x3 convs (padding 1 keeps the size) and a 2x2
    # max-pool; narrow (16 and 32 filters) so that it trains live on a laptop CPU.
    "vgg-small": [
        {"type": "Conv2D", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "Conv2D", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Conv2D", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "Conv2D", "out_channels": 32, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 128},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.5},
        {"type": "Dense", "out_features": 10},
    ],
}
"""Ready-made specs, written for 1x28x28 input and 10 classes. Use `preset_spec` to get one
fitted to another input shape or number of classes."""

PRESET_DESCRIPTIONS = {
    "mlp": "Multilayer perceptron: Flatten, Dense 128, ReLU, Dense 64, ReLU, Dense (classes).",
    "lenet5": "LeNet-5: two 5x5 conv + max-pool blocks (6 and 16 filters), then Dense 120-84.",
    "vgg-small": "Small VGG: two blocks of two 3x3 convs + max-pool (16, 32 filters), "
    "Dense 128, Dropout.",
}


def preset_spec(name: str, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """A preset architecture fitted to `input_shape` and `num_classes`.

    * ``mlp`` works for any input (vectors or images).
    * ``lenet5``: the first conv pads by 2 when the image is smaller than 32 pixels (so
      28x28 MNIST gives the classic 28-14-10-5 sizes; a 32x32 image is used unpadded, as in
      the paper). On small images the second conv is padded too and a pool that no longer
      fits is left out.
    * ``vgg-small``: each 2x2 pool is left out when the map is already smaller than 2.

    Raises ValueError for an unknown name, a conv preset on vector input, or num_classes < 2.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    shape = _check_input_shape(input_shape)
    if not (isinstance(num_classes, int | np.integer) and num_classes >= 2):
        raise ValueError(f"num_classes must be a whole number of at least 2, got {num_classes!r}")
    spec = [dict(layer) for layer in PRESETS[name]]
    spec[-1]["out_features"] = int(num_classes)
    if name == "mlp":
        return spec
    if len(shape) != 3:
        raise ValueError(
            f"the {name} preset needs image input (channels, height, width), got "
            f"{_fmt(shape)}; use the mlp preset for vector data"
        )
    return _fit_conv_preset(spec, shape)


def _fit_conv_preset(spec: list[dict], shape: tuple[int, int, int]) -> list[dict]:
    """Adjust paddings and drop pools so that every conv and pool fits the image."""
    side = min(shape[1], shape[2])
    fitted = []
    first_conv = True
    for layer in spec:
        layer = dict(layer)
        if layer["type"] == "Conv2D":
            k = layer["kernel_size"]
            if first_conv and k == 5:
                layer["padding"] = 2 if side < 32 else 0
            elif side + 2 * layer.get("padding", 0) < k:
                layer["padding"] = k // 2  # "same" padding keeps the map size
            first_conv = False
            side = side + 2 * layer.get("padding", 0) - k + 1
        elif layer["type"] == "MaxPool2D":
            if side < layer["kernel_size"]:
                continue
            side //= layer["kernel_size"]
        fitted.append(layer)
    return fitted
