"""The Build page's layer rows, and their translation to and from a netcore spec.

A *row* is what the student edits: a main layer with its options and, for Dense and Conv2D,
the activation that follows it (``"ReLU"``, ``"Tanh"``, ... or ``"none"``). A *spec* is what
netcore builds (``netcore.spec.build_model``), where an activation is a layer of its own::

    rows  [{"type": "Conv2D", "opts": {"out_channels": 6, ...}, "act": "ReLU"}, ...]
    spec  [{"type": "Conv2D", "out_channels": 6, ...}, {"type": "ReLU"}, ...]

No Streamlit here (tested directly).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

ACTIVATIONS = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid")
"""Activations a Dense or Conv2D row can carry."""

WITH_ACTIVATION = ("Dense", "Conv2D")

ADDABLE = (
    "Conv2D",
    "MaxPool2D",
    "AvgPool2D",
    "BatchNorm2D",
    "Flatten",
    "Dense",
    "BatchNorm1D",
    "Dropout",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Sigmoid",
)
"""Layer types the Add menu offers (Softmax is left out: the loss applies it)."""


@dataclass(frozen=True)
class Option:
    """One editable option: name in the spec, label, limits and default."""

    name: str
    label: str
    lo: float
    hi: float
    default: float
    step: float = 1
    help: str = ""

    @property
    def is_int(self) -> bool:
        return float(self.step).is_integer()


OPTIONS: dict[str, tuple[Option, ...]] = {
    "Conv2D": (
        Option("out_channels", "Filters", 1, 256, 8, help="Number of filters = output channels."),
        Option("kernel_size", "Kernel", 1, 11, 3, help="Side of each square filter."),
        Option("stride", "Stride", 1, 4, 1, help="Step between filter positions."),
        Option("padding", "Padding", 0, 5, 1, help="Zeros added around the input."),
    ),
    "MaxPool2D": (
        Option("kernel_size", "Window", 1, 8, 2, help="Side of the pooling window."),
        Option("stride", "Stride", 1, 8, 2, help="Step between windows (usually = window)."),
    ),
    "AvgPool2D": (
        Option("kernel_size", "Window", 1, 8, 2, help="Side of the pooling window."),
        Option("stride", "Stride", 1, 8, 2, help="Step between windows (usually = window)."),
    ),
    "Dense": (Option("out_features", "Units", 1, 4096, 64, help="Number of output units."),),
    "Dropout": (
        Option(
            "p",
            "Drop rate",
            0.0,
            0.95,
            0.25,
            step=0.05,
            help="Fraction of units zeroed while training.",
        ),
    ),
    "LeakyReLU": (
        Option(
            "negative_slope", "Slope", 0.0, 1.0, 0.01, step=0.01, help="Slope for negative inputs."
        ),
    ),
}


@dataclass
class Row:
    type: str
    opts: dict = field(default_factory=dict)
    act: str | None = None  # only for Dense / Conv2D: an activation name or "none"
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def label(self) -> str:
        o = self.opts
        if self.type == "Conv2D":
            text = f"Conv {o.get('out_channels')}@{o.get('kernel_size')}×{o.get('kernel_size')}"
        elif self.type in ("MaxPool2D", "AvgPool2D"):
            k = o.get("kernel_size")
            text = f"{'Max' if self.type == 'MaxPool2D' else 'Avg'}Pool {k}×{k}"
        elif self.type == "Dense":
            text = f"Dense {o.get('out_features')}"
        elif self.type == "Dropout":
            text = f"Dropout {o.get('p', 0.5):g}"
        else:
            text = self.type
        if self.act and self.act != "none":
            text += f" + {self.act}"
        return text


def default_row(layer_type: str) -> Row:
    opts = {o.name: o.default for o in OPTIONS.get(layer_type, ())}
    if layer_type == "Dropout":
        opts["p"] = 0.25
    act = "ReLU" if layer_type in WITH_ACTIVATION else None
    return Row(layer_type, opts, act)


def engine_default(layer_type: str, option: str):
    """The constructor default of `option` in netcore (None when there is none)."""
    import inspect

    import netcore  # noqa: F401  (registers every layer type)
    from netcore.base import LAYER_TYPES

    cls = LAYER_TYPES.get(layer_type)
    if cls is None:
        return None
    p = inspect.signature(cls).parameters.get(option)
    if p is None or p.default is inspect.Parameter.empty:
        return None
    return p.default


def rows_from_spec(spec: list[dict]) -> list[Row]:
    """Group a spec into rows: a Dense/Conv2D followed by a plain activation becomes one row.

    Options the spec leaves out get netcore's defaults (e.g. padding 0), so the editor shows
    exactly the network the spec builds.
    """
    rows: list[Row] = []
    i = 0
    while i < len(spec):
        entry = dict(spec[i])
        kind = entry.pop("type", "?")
        for opt in OPTIONS.get(kind, ()):
            if entry.get(opt.name) is None:
                default = engine_default(kind, opt.name)
                if default is not None:
                    entry[opt.name] = default
        row = Row(kind, entry)
        if kind in WITH_ACTIVATION:
            row.act = "none"
            nxt = spec[i + 1] if i + 1 < len(spec) else None
            if nxt is not None and nxt.get("type") in ACTIVATIONS and len(nxt) == 1:
                row.act = nxt["type"]
                i += 1
        if kind in ("MaxPool2D", "AvgPool2D") and row.opts.get("stride") is None:
            row.opts["stride"] = row.opts.get("kernel_size", 2)
        rows.append(row)
        i += 1
    return rows


def spec_from_rows(rows: list[Row]) -> tuple[list[dict], list[int]]:
    """The spec of `rows`, and for each spec layer the index of the row it came from."""
    spec, owner = [], []
    for r, row in enumerate(rows):
        entry = {"type": row.type}
        for opt in OPTIONS.get(row.type, ()):
            if opt.name in row.opts:
                v = row.opts[opt.name]
                entry[opt.name] = int(v) if opt.is_int else float(v)
        for k, v in row.opts.items():  # options the editor does not show (bias, eps, ...)
            if k not in entry:
                entry[k] = v
        spec.append(entry)
        owner.append(r)
        if row.type in WITH_ACTIVATION and row.act and row.act != "none":
            spec.append({"type": row.act})
            owner.append(r)
    return spec, owner


_LAYER_RE = re.compile(r"^layer (\d+)\b")


def failing_layer(message: str) -> int | None:
    """The spec index named at the start of a netcore build error (``"layer 3 (Dense) ..."``)."""
    m = _LAYER_RE.match(message or "")
    return int(m.group(1)) if m else None


def explain_error(message: str, spec: list[dict], owner: list[int]) -> tuple[int | None, str]:
    """(row index or None, a message that names the row as the student sees it)."""
    i = failing_layer(message)
    if i is None or i >= len(owner):
        return None, message
    row = owner[i]
    # netcore counts spec layers (activations included); say "row N" as on screen.
    text = _LAYER_RE.sub(f"row {row + 1}", message, count=1)
    return row, text
