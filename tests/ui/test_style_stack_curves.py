"""Chart style helpers, the Build page's row <-> spec translation, and the learning curves."""

from __future__ import annotations

import numpy as np
import pytest

from netcore.spec import PRESETS, build_model
from netcore.train import History
from ui.charts.architecture import stack_figure
from ui.charts.curves import accuracy_figure, loss_figure, lr_figure, step_table
from ui.charts.dataset import class_counts_figure, sample_grid_figure
from ui.charts.style import decimate, signed_range, smooth
from ui.stack import default_row, explain_error, rows_from_spec, spec_from_rows


def test_smooth_matches_tensorboard_debiased_ema():
    y = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    out = smooth(y, 0.5)
    # s1 = 0.5*1 / (1-0.5) = 1; s2 = (0.25 + 1) / 0.75 = 5/3; ...
    assert out[0] == pytest.approx(1.0) and out[1] == pytest.approx(5 / 3)
    assert np.isnan(out[3]) and np.isfinite(out[4])
    np.testing.assert_array_equal(smooth(y, 0.0), y)
    const = smooth(np.full(100, 2.0), 0.9)
    np.testing.assert_allclose(const, 2.0)


def test_decimate_keeps_spikes_and_order():
    x = np.arange(100_000)
    y = np.zeros(100_000)
    y[54_321] = 50.0
    y[777] = -3.0
    xs, ys = decimate(x, y, 2000)
    assert len(xs) <= 2000 and np.all(np.diff(xs) > 0)
    assert ys.max() == 50.0 and ys.min() == -3.0
    xs, ys = decimate(x[:10], y[:10], 2000)
    assert len(xs) == 10


def test_signed_range_is_centred_on_zero():
    r = signed_range(np.array([-0.5, 2.0, np.nan]))
    assert r["zmid"] == 0 and r["zmin"] == -2.0 and r["zmax"] == 2.0


@pytest.mark.parametrize("name", list(PRESETS))
def test_rows_round_trip_every_preset(name):
    spec = PRESETS[name]
    rows = rows_from_spec(spec)
    back, owner = spec_from_rows(rows)
    assert len(owner) == len(back)
    build_model(back, (1, 28, 28), rng=np.random.default_rng(0))
    # Activations are folded into their Dense/Conv row; everything else is kept, and the
    # rebuilt spec makes the same network.
    assert [e["type"] for e in back] == [e["type"] for e in spec]
    a = build_model(back, (1, 28, 28), rng=np.random.default_rng(0))
    b = build_model(spec, (1, 28, 28), rng=np.random.default_rng(0))
    assert a.output_shapes((1, 28, 28)) == b.output_shapes((1, 28, 28))
    assert len(rows) < len(spec)


def test_bad_stack_error_names_the_row():
    rows = rows_from_spec(PRESETS["lenet5"])
    rows.insert(0, default_row("Dense"))  # a Dense on an image: needs a Flatten first
    spec, owner = spec_from_rows(rows)
    with pytest.raises(ValueError) as err:
        build_model(spec, (1, 28, 28), rng=np.random.default_rng(0))
    row, text = explain_error(str(err.value), spec, owner)
    assert row == 0 and text.startswith("row 1") and "Flatten" in text


def _history(n=300, epochs=3):
    h = History()
    rng = np.random.default_rng(0)
    for i in range(1, n + 1):
        for k, v in (("step", i), ("epoch", 1 + (i - 1) * epochs // n), ("loss", 2 * np.exp(-i / 80)
                     + 0.1 * rng.random()), ("accuracy", min(1, i / n + 0.1)), ("lr", 1e-3),
                     ("time", i * 0.01)):  # fmt: skip
            h.steps[k].append(float(v))
    for e in range(1, epochs + 1):
        h.epochs.append({"epoch": e, "step": e * n // epochs, "train_loss": 1.0 / e,
                         "train_accuracy": 0.5 + e / 10, "val_loss": 1.1 / e,
                         "val_accuracy": 0.5 + e / 11, "time": e})  # fmt: skip
    return h


def test_curves_hold_the_data():
    h = _history()
    fig = loss_figure(h, smoothing=0.6, log_y=True)
    names = [t.name for t in fig.data]
    assert "training loss" in names and "validation loss" in names
    val = next(t for t in fig.data if t.name == "validation loss")
    assert list(val.x) == [100, 200, 300]
    assert fig.layout.yaxis.type == "log"
    acc = accuracy_figure(h, smoothing=0.0)
    assert max(next(t for t in acc.data if t.name == "training accuracy").y) == pytest.approx(100)
    assert len(lr_figure(h).data) == 1
    assert len(step_table(h)["loss"]) == 300
    empty = loss_figure(None)
    assert len(empty.data) == 0 and empty.layout.annotations


def test_curve_figures_are_valid_plotly():
    """The live curves skip Plotly's validation when built; every property must be valid."""
    import plotly.graph_objects as go

    h = _history()
    for fig in (
        loss_figure(h, smoothing=0.6, log_y=True),
        accuracy_figure(h, smoothing=0.0),
        lr_figure(h),
        loss_figure(None),
        lr_figure(None),
    ):
        go.Figure(fig.to_dict())  # raises on an unknown or invalid property


def test_dataset_and_stack_figures():
    pixels = np.random.default_rng(0).integers(0, 255, (30, 1, 28, 28), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10)
    fig = sample_grid_figure(pixels, labels, ["zero", "one", "two"], per_class=8)
    assert list(fig.layout.yaxis.ticktext) == ["zero", "one", "two"]
    assert fig.data[0].z.shape == (3 * 28 + 2 * 2, 8 * 28 + 7 * 2, 3)
    bars, table = class_counts_figure(labels, labels[:6], ["zero", "one", "two"])
    assert list(table["train"]) == [10, 10, 10] and list(table["test"]) == [6, 0, 0]
    boxes = [{"label": "Dense 10", "type": "Dense", "shape": (10,), "error": False, "params": 7850}]
    assert stack_figure((1, 28, 28), boxes).layout.shapes
