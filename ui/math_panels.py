"""Collapsible "the math" panels: forward and backward formulas with the current shapes."""

from __future__ import annotations


def layer_math(layer_type: str, *, in_shape=None, out_shape=None, param_shapes=None) -> None:
    """Render the math panel of one layer type (filled in by the teaching-tools work)."""


def view_math(view: str, **context) -> None:
    """Render the math panel of one view, e.g. ``view="feature_maps"``."""
