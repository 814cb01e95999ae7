"""The MLP playground: what it draws is what the model computes, and it learns."""

from dataclasses import replace

import numpy as np
import pytest

from netcore.model import softmax
from ui.charts import playground as charts
from ui.playground import FEATURES, PLANE, Playground, PlaygroundConfig


def _points(pg):
    return {"train": (pg.xy_train, pg.y_train), "test": (pg.xy_test, pg.y_test)}


def test_boundary_picture_is_the_models_prediction_on_the_grid():
    pg = Playground(PlaygroundConfig(dataset="moons", hidden=(8,), activations=("ReLU",)))
    pg.step(30)
    snap = pg.snapshot(resolution=40)

    # Recompute with model.forward directly: grid row r is y = grid[r], column c is x = grid[c].
    gx, gy = np.meshgrid(snap.grid, snap.grid)
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    pg.model.eval()
    probs = softmax(pg.model.forward(pg.features(xy))).reshape(40, 40, -1)
    np.testing.assert_allclose(snap.probs, probs, atol=1e-5)
    assert snap.grid[0] == -PLANE and snap.grid[-1] == PLANE

    # The picture (at grid resolution, so pixels and grid points coincide): row 0 is the
    # top (+y); each pixel has the predicted class's colour, more saturated where surer.
    rgb = charts.boundary_rgb(probs, size=40).astype(float)[::-1]  # back to row 0 = -y
    winner = probs.argmax(axis=-1)
    top = probs.max(axis=-1)
    confidence = np.clip((top - 0.5) / 0.5, 0, 0.999)
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in charts.PALETTE[:2]])
    expected = 255 - (255 - colours[winner]) * (confidence * charts.TINT)[..., None]
    np.testing.assert_allclose(rgb, expected, atol=1.0)
    picture = charts.boundary_picture(probs, None, size=40)
    assert picture.shape == (40, 40, 3) and picture.dtype == np.uint8
    jpeg = charts.jpeg_bytes(picture)
    assert jpeg[:2] == b"\xff\xd8"
    assert charts.data_uri(jpeg).startswith("data:image/jpeg;base64,")
    assert charts.data_uri(charts.png_bytes(picture)).startswith("data:image/png;base64,")


def test_points_are_drawn_where_the_data_are():
    xy = np.array([[-3.0, 3.0], [3.0, -3.0]], dtype=np.float32)
    layer = charts.points_layer({"train": (xy, np.array([0, 1]))}, plane=6.0, size=120)
    assert layer.shape == (120, 120, 4)
    # (-3, 3) is a quarter in from the left and from the top; (3, -3) mirrors it.
    assert layer[30, 30, 3] == 255 and layer[90, 90, 3] == 255
    assert layer[30, 90, 3] == 0 and layer[60, 60, 3] == 0
    assert layer[30, 30, 2] > layer[30, 30, 0]  # class 0 is blue
    assert layer[90, 90, 0] > layer[90, 90, 2]  # class 1 is orange


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

    # One montage picture per layer, tiles at the grid's resolution (6 pixels here): 5 tiles
    # on 4 columns make two rows.
    img = charts.tiles_rgb(snap.tiles[0], snap.tile_ranges[0], columns=4)
    step = 6 + charts.TILE_GAP
    assert img.shape == (2 * step - charts.TILE_GAP, 4 * step - charts.TILE_GAP, 3)
    assert tuple(img[6, 0]) == charts.GAP_RGB  # the gap between rows
    assert charts.montage_width(5, columns=4) > charts.montage_width(3, columns=4)
    # A Tanh neuron's picture uses the fixed range: +1 is the red end, -1 the blue end.
    hot = charts.tiles_rgb(np.ones((1, 4, 4)), (-1.0, 1.0))
    cold = charts.tiles_rgb(-np.ones((1, 4, 4)), (-1.0, 1.0))
    zero = charts.tiles_rgb(np.zeros((1, 4, 4)), (-1.0, 1.0))
    assert hot[2, 2, 0] > hot[2, 2, 2] and cold[2, 2, 2] > cold[2, 2, 0]
    assert zero[2, 2].min() > 240  # white
    # ReLU tiles are scaled to their own maximum: 0.1 everywhere looks like 1.
    np.testing.assert_array_equal(
        charts.tiles_rgb(np.full((1, 4, 4), 0.1), None), charts.tiles_rgb(np.ones((1, 4, 4)), None)
    )
    # Orientation: a neuron that is high at the top of the plane is red at the top.
    up = np.repeat(np.linspace(-1, 1, 8)[:, None], 8, axis=1)[None]  # row 0 = bottom (y low)
    pic = charts.tiles_rgb(up, (-1.0, 1.0))
    assert pic[0, 4, 0] > pic[0, 4, 2] and pic[-1, 4, 2] > pic[-1, 4, 0]


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
    """One frame's Python work for the 2-64-64-2 network on 500 points (loose bound)."""
    import time

    pg = Playground(PlaygroundConfig(hidden=(64, 64), activations=("Tanh", "Tanh")))
    layer = charts.points_layer(_points(pg), PLANE)
    pg.step(10)
    t0 = time.perf_counter()
    for _ in range(5):
        pg.step(10)
        snap = pg.snapshot(resolution=80, tile_resolution=24)
        charts.jpeg_bytes(charts.boundary_picture(snap.probs, layer))
        for tiles, rng in zip(snap.tiles, snap.tile_ranges, strict=True):
            charts.png_bytes(charts.tiles_rgb(tiles, rng))
    per_frame = (time.perf_counter() - t0) / 5
    assert per_frame < 0.5, f"{per_frame * 1000:.0f} ms per frame"
