"""A network at a glance: per layer its output shape, parameter count and FLOPs.

`Sequential.summary(input_shape)` returns a `ModelSummary`; the Build page shows its rows
as a table and its totals under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netcore.base import Layer


@dataclass
class ModelSummary:
    """What `Sequential.summary` returns: one dict per layer plus totals.

    Each row has ``index``, ``type``, ``description``, ``output_shape`` (tuple, no batch
    axis), ``params`` (count) and ``flops`` (per sample, one forward pass, multiply-add = 2).
    Iterating over a summary iterates over its rows; ``str(summary)`` is a text table.
    """

    rows: list[dict]
    input_shape: tuple[int, ...]
    total_params: int = field(init=False)
    total_flops: int = field(init=False)

    def __post_init__(self):
        self.total_params = sum(r["params"] for r in self.rows)
        self.total_flops = sum(r["flops"] for r in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.rows[-1]["output_shape"] if self.rows else self.input_shape

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]

    def __str__(self) -> str:
        head = ("#", "layer", "description", "output", "params", "FLOPs")
        body = [
            (
                str(r["index"]),
                r["type"],
                r["description"],
                _fmt(r["output_shape"]),
                f"{r['params']:,}",
                f"{r['flops']:,}",
            )
            for r in self.rows
        ]
        body.append(
            (
                "",
                "total",
                f"input {_fmt(self.input_shape)}",
                "",
                f"{self.total_params:,}",
                f"{self.total_flops:,}",
            )
        )
        widths = [max(len(row[c]) for row in [head, *body]) for c in range(len(head))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            for row in [head, *body]
        ]
        return "\n".join(line.rstrip() for line in lines)


def describe(layer: Layer) -> str:
    """A short human description of a layer, e.g. ``6 filters 5x5, stride 1, padding 2``."""
    cfg = layer.config()
    name = type(layer).__name__
    if name == "Dense":
        return f"{cfg.get('in_features')} → {cfg.get('out_features')}"
    if name == "Conv2D":
        k = cfg.get("kernel_size")
        text = f"{cfg.get('out_channels')} filters {k}x{k}"
        return text + f", stride {cfg.get('stride', 1)}, padding {cfg.get('padding', 0)}"
    if name in ("MaxPool2D", "AvgPool2D"):
        k = cfg.get("kernel_size")
        stride = cfg.get("stride") or k
        return f"{k}x{k} window, stride {stride}"
    if name == "Dropout":
        return f"drop {cfg.get('p', 0.5):g} of units while training"
    if name in ("BatchNorm1D", "BatchNorm2D"):
        return f"normalise {cfg.get('num_features')} features"
    return ", ".join(f"{k}={v}" for k, v in cfg.items())


def _fmt(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
