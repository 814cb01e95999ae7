"""The MLP playground: what it draws is what the model computes, and it learns."""

from dataclasses import replace

import numpy as np
import pytest

from netcore.model import softmax
from ui.charts import playground as charts
from ui.playground import FEATURES, PLANE, Playground, PlaygroundConfig


def _points(pg):
    return {"train": (pg.xy_train, pg.y_train), "test": (pg.xy_test, pg.y_test)}


def test_boundary_figure_is_the_models_prediction_on_the_grid():
    pg = Playground(PlaygroundConfig(dataset="moons", hidden=(8,), activations=("ReLU",)))
    pg.step(30)
    snap = pg.snapshot(resolution=40)
    fig = charts.boundary_figure(snap.grid, snap.probs, _points(pg))
    heat = fig.data[0]
    z = np.asarray(heat.z)

    # Recompute with model.forward directly: grid row r is y = grid[r], column c is x = grid[c].
    gx, gy = np.meshgrid(snap.grid, snap.grid)
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pg.model.eval()
    probs = softmax(pg.model.forward(pg.features(xy))).reshape(40, 40, -1)
    np.testing.assert_allclose(snap.probs, probs, atol=1e-5)
    np.testing.assert_array_equal(np.floor(z).astype(int), probs.argmax(axis=-1))
    np.testing.assert_array_equal(np.asarray(heat.x), snap.grid)
    assert snap.grid[0] == -PLANE and snap.grid[-1] == PLANE
    # The points drawn are the data, split by class and by train/test.
    drawn = sum(len(t.x) for t in fig.data[1:])
    assert drawn == len(pg.y_train) + len(pg.y_test)


def test_boundary_colour_encodes_class_and_confidence():
    probs = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.2, 0.8]]], dtype=np.float32)
    z = charts.boundary_z(probs)
    assert z[0, 0] == pytest.approx(0.0)  # a toss-up: white
    assert z[0, 1] == pytest.approx(0.999)  # sure of class 0
    assert 1.99 < z[1, 0] < 2.0  # sure of class 1
    assert z[1, 1] == pytest.approx(1.6, abs=1e-6)


def test_spiral_is_learned_to_95_percent_with_a_fixed_seed():
    pg = Playground(PlaygroundConfig(dataset="spiral", n_points=500, noise=0.1, seed=0))
    for _ in range(40):  # at most 1,000 mini-batch updates
        pg.step(25)
        if pg.snapshot(resolution=10).train_acc > 0.95:
            break
    snap = pg.snapshot(resolution=10)
    assert snap.train_acc > 0.95, snap.train_acc
    assert snap.steps <= 1000
    assert snap.epoch == pytest.approx(snap.steps * 32 / len(pg.y_train), rel=0.05)
    assert snap.history["train_loss"][-1] < snap.history["train_loss"][0] / 3


def test_features_beat_depth_on_circles():
    linear = PlaygroundConfig(dataset="circles", hidden=(), activations=(), lr=0.03)
    plain = Playground(linear)
    squares = Playground(replace(linear, features=("x", "y", "x²", "y²")))
    for pg in (plain, squares):
        pg.step(300)
    assert plain.snapshot(10).train_acc < 0.8  # a straight line cannot separate rings
    assert squares.snapshot(10).train_acc > 0.95  # x² + y² = r² makes them separable


def test_hidden_tiles_are_each_neurons_output():
    pg = Playground(PlaygroundConfig(hidden=(5, 3), activations=("Tanh", "ReLU")))
    pg.step(5)
    snap = pg.snapshot(resolution=20, tile_resolution=6)
    assert [t.shape for t in snap.tiles] == [(5, 6, 6), (3, 6, 6)]
    assert snap.tile_ranges == [(-1.0, 1.0), None]
    # Tile pixel (row r, column c) is the neuron's output at (x = grid[c], y = grid[r]).
    x, y = snap.tile_grid[4], snap.tile_grid[1]
    outs, _ = pg.hidden_outputs(np.array([[x, y]], dtype=np.float32))
    np.testing.assert_allclose(snap.tiles[0][:, 1, 4], outs[0][0], atol=1e-6)
    np.testing.assert_allclose(snap.tiles[1][:, 1, 4], outs[1][0], atol=1e-6)
    assert np.all(snap.tiles[1] >= 0)  # ReLU outputs

    z, blocks = charts.neuron_tiles(snap.tiles, snap.tile_ranges, columns=4)
    assert z.dtype == np.uint8
    assert [b[2] for b in blocks] == [5, 3]
    # Neuron 0 of layer 1, flipped so that +y is up; Tanh keeps its fixed range.
    expected = np.rint((snap.tiles[0][0][::-1] + 1) * charts.TILE_LEVELS / 2)
    np.testing.assert_allclose(z[0:6, 0:6], expected, atol=1)
    assert (z == charts.GAP).any()
    fig = charts.tiles_figure(snap.tiles, snap.tile_ranges, ["Tanh", "ReLU"], columns=4)
    assert len(fig.data) == 1  # one montage, not facets


def test_live_settings_change_without_reset():
    pg = Playground(PlaygroundConfig(optimizer="SGD", lr=0.1))
    pg.step(10)
    w_before = pg.model.parameters()[0].data.copy()
    changed = replace(pg.config, lr=0.003, regularization="L2", reg_rate=0.01, batch_size=8)
    assert pg.apply(changed) is False
    assert pg.steps == 10
    np.testing.assert_array_equal(pg.model.parameters()[0].data, w_before)
    weights_opt, bias_opt = pg.optimizers
    assert weights_opt.lr == bias_opt.lr == 0.003
    assert weights_opt.weight_decay == 0.01 and bias_opt.weight_decay == 0.0
    pg.step(1)
    assert pg.samples_seen == 10 * 32 + 8
    pg.apply(replace(pg.config, regularization="L1"))
    assert weights_opt.l1 == 0.01 and weights_opt.weight_decay == 0.0

    # The architecture or the data changing means a new network.
    assert pg.apply(replace(pg.config, hidden=(4,), activations=("ReLU",))) is True
    assert pg.steps == 0
    assert pg.apply(replace(pg.config, noise=0.3)) is True


def test_l1_makes_weights_sparser_than_l2():
    base = PlaygroundConfig(dataset="moons", hidden=(16,), activations=("Tanh",), lr=0.01)
    l1 = Playground(replace(base, regularization="L1", reg_rate=0.01))
    none = Playground(base)
    for pg in (l1, none):
        pg.step(600)
    w_l1 = l1.model.parameters()[0].data
    w_none = none.model.parameters()[0].data
    assert np.mean(np.abs(w_l1) < 0.02) > np.mean(np.abs(w_none) < 0.02) + 0.2


def test_every_feature_and_bad_configs():
    pg = Playground(
        PlaygroundConfig(features=tuple(FEATURES), hidden=(4,), activations=("Sigmoid",))
    )
    assert pg.x_train.shape[1] == len(FEATURES)
    np.testing.assert_allclose(pg.x_train.mean(axis=0), 0, atol=1e-5)  # standardised
    bad = PlaygroundConfig(features=(), hidden=(0,), activations=("Tanh", "Tanh"), lr=-1)
    problems = bad.problems()
    assert len(problems) == 4
    with pytest.raises(ValueError, match="feature"):
        Playground(bad)


def test_frame_work_is_small():
    """One frame's Python work for the 2-64-64-2 network on 500 points (reported, loose bound)."""
    import time

    pg = Playground(PlaygroundConfig(hidden=(64, 64), activations=("Tanh", "Tanh")))
    pg.step(10)
    t0 = time.perf_counter()
    for _ in range(5):
        pg.step(10)
        snap = pg.snapshot(resolution=80)
        charts.boundary_figure(snap.grid, snap.probs, _points(pg))
        charts.tiles_figure(snap.tiles, snap.tile_ranges, ["Tanh", "Tanh"])
        charts.loss_figure(snap.history)
    per_frame = (time.perf_counter() - t0) / 5
    assert per_frame < 0.5, f"{per_frame * 1000:.0f} ms per frame"
