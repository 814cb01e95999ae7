"""NetCore: convolutional networks and multilayer perceptrons from scratch in NumPy.

Everything a network does (forward, backward, weight updates) is written here with NumPy
alone, to be read. The public API, re-exported from the submodules::

    from netcore import Sequential, build_model, Dense, ReLU, CrossEntropyLoss, Adam, fit

* layers: `netcore.layers` (Dense, Flatten, Dropout, Conv2D, MaxPool2D, AvgPool2D,
  BatchNorm1D, BatchNorm2D) and `netcore.activations` (ReLU, LeakyReLU, Sigmoid, Tanh,
  Softmax);
* losses: `netcore.losses` (CrossEntropyLoss, MSELoss);
* networks: `netcore.model` (Sequential), `netcore.summary` (per-layer table),
  `netcore.spec` (build_model from a JSON spec, presets), `netcore.serialize`
  (save_model / load_model, no pickle);
* training: `netcore.optim` (SGD, Adam, AdamW, RMSprop), `netcore.schedules`,
  `netcore.train` (Trainer, fit), `netcore.history` (History: curves, JSON, CSV),
  `netcore.monitor` (weight/gradient statistics).
"""

__version__ = "0.1.0"  # defined first: submodules read it while the package initialises

from netcore.base import DTYPE, LAYER_TYPES, Layer, Parameter, register  # noqa: E402
from netcore.layers import (  # noqa: E402  (importing registers every layer type)
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
from netcore.losses import CrossEntropyLoss, MSELoss  # noqa: E402
from netcore.model import ModelSummary, Sequential  # noqa: E402
from netcore.monitor import Monitor  # noqa: E402
from netcore.optim import SGD, Adam, AdamW, Optimizer, RMSprop, make_optimizer  # noqa: E402
from netcore.schedules import ConstantLR, CosineLR, StepLR, make_schedule  # noqa: E402
from netcore.serialize import (  # noqa: E402
    load_model,
    load_weights_into,
    model_to_bytes,
    read_model_file,
    save_model,
)
from netcore.spec import (  # noqa: E402
    PRESETS,
    build_model,
    model_to_spec,
    preset_spec,
    validate_spec,
)
from netcore.train import History, StepEvent, Trainer, fit  # noqa: E402

__all__ = [
    "DTYPE",
    "LAYER_TYPES",
    "Layer",
    "Parameter",
    "register",
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "CrossEntropyLoss",
    "MSELoss",
    "ModelSummary",
    "Sequential",
    "build_model",
    "model_to_spec",
    "preset_spec",
    "PRESETS",
    "validate_spec",
    "save_model",
    "load_model",
    "load_weights_into",
    "model_to_bytes",
    "read_model_file",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "make_optimizer",
    "ConstantLR",
    "StepLR",
    "CosineLR",
    "make_schedule",
    "Trainer",
    "fit",
    "History",
    "StepEvent",
    "Monitor",
    "__version__",
]
