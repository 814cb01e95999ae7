"""Chart builders and helpers of the look-inside views, on small arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from netcore.metrics import (
    accuracy,
    confusion_matrix,
    misclassified_by_confidence,
    normalize_rows,
    precision_recall,
)
from ui.charts.evaluate import (
    confusion_figure,
    gallery_figure,
    precision_recall_figure,
    runs_figure,
    to_display,
)
from ui.charts.feature_maps import (
    activation_figure,
    channel_figure,
    input_figure,
    probabilities_figure,
)
from ui.charts.filters import filters_figure
from ui.charts.weights import (
    curves_figure,
    distribution_figure,
    histogram_figure,
    layer_bars_figure,
)
from ui.inspect import (
    activation_tiles,
    filter_tiles,
    filters_rgb,
    histogram,
    montage,
    scale_tiles,
    shared_edges,
)


# -- metrics ------------------------------------------------------------------------------
def test_confusion_matrix_matches_a_loop():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    cm = confusion_matrix(y, p, 4)
    ref = np.zeros((4, 4), int)
    for a, b in zip(y, p, strict=True):
        ref[a, b] += 1
    np.testing.assert_array_equal(cm, ref)
    assert cm.sum() == 200
    assert accuracy(y, p) == pytest.approx(np.trace(ref) / 200)


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_precision_recall_by_hand():
    # true:  0 0 1 1 1 2     pred: 0 1 1 1 0 0
    cm = confusion_matrix(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 1, 1, 0, 0]), 3)
    pr = precision_recall(cm)
    # class 0: predicted 3 times, right once -> P = 1/3; 2 true, 1 found -> R = 1/2
    np.testing.assert_allclose(pr["precision"][:2], [1 / 3, 2 / 3])
    np.testing.assert_allclose(pr["recall"], [1 / 2, 2 / 3, 0])
    assert np.isnan(pr["precision"][2])  # class 2 never predicted: undefined, not 0
    np.testing.assert_array_equal(pr["support"], [2, 3, 1])
    np.testing.assert_allclose(pr["f1"][0], 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    rows = normalize_rows(np.array([[2, 2], [0, 0]]))
    np.testing.assert_allclose(rows[0], [0.5, 0.5])
    assert np.isnan(rows[1]).all()


def test_misclassified_sorted_by_confidence():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.7, 0.3]])
    y = np.array([0, 0, 1, 0, 1])  # wrong: 1 (0.8), 2 (0.6), 3 (0.95), 4 (0.7)
    np.testing.assert_array_equal(misclassified_by_confidence(probs, y), [3, 1, 4, 2])


# -- montage and tiles --------------------------------------------------------------------
def test_montage_places_tiles_with_nan_gaps():
    tiles = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)
    m = montage(tiles, ncols=3, gap=1)
    assert (m.nrows, m.ncols) == (2, 3)
    assert m.z.shape == (2 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(m.z[0:2, 4:7], tiles[1])
    np.testing.assert_array_equal(m.z[3:5, 0:3], tiles[3])
    assert np.isnan(m.z[2]).all() and np.isnan(m.z[:, 3]).all()  # the gaps
    assert np.isnan(m.z[3:5, 8:11]).all()  # the unused sixth cell
    index = m.tile_index()
    assert index[0, 0] == 0 and index[4, 6] == 4 and index[2, 0] == -1


def test_scale_tiles_shared_and_per_tile():
    tiles = np.array([[[1.0, -4.0]], [[0.5, 0.25]]], dtype=np.float32)
    same, zmax = scale_tiles(tiles, per_tile=False, signed=True)
    assert zmax == 4.0 and same is not None
    per, one = scale_tiles(tiles, per_tile=True, signed=True)
    assert one == 1.0
    np.testing.assert_allclose(per[0], [[0.25, -1.0]])
    np.testing.assert_allclose(per[1], [[1.0, 0.5]])
    _, zeros = scale_tiles(np.zeros((2, 2, 2)), per_tile=False, signed=True)
    assert zeros == 1.0  # a valid colour range even for all-zero maps


def test_filter_tiles_modes():
    w = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(filter_tiles(w, "average"), w.mean(axis=1))
    np.testing.assert_array_equal(filter_tiles(w, "channel", 2), w[:, 2])
    np.testing.assert_array_equal(filter_tiles(w, "all")[4], w[1, 1])
    with pytest.raises(ValueError, match="input channel 3"):
        filter_tiles(w, "channel", 3)


def test_filters_rgb_zero_is_grey():
    w = np.zeros((2, 3, 1, 1), dtype=np.float32)
    w[0, 0] = 1.0  # pure positive red
    w[1, 2] = -0.5  # negative blue, half as strong
    rgb = filters_rgb(w, per_filter=False)
    np.testing.assert_allclose(rgb[0, 0, 0], [255, 127.5, 127.5])
    np.testing.assert_allclose(rgb[1, 0, 0], [127.5, 127.5, 127.5 - 63.75])
    per = filters_rgb(w, per_filter=True)
    np.testing.assert_allclose(per[1, 0, 0], [127.5, 127.5, 0])


def test_activation_tiles_wraps_vectors():
    tiles, kind = activation_tiles(np.arange(25, dtype=np.float32))
    assert kind == "units" and tiles.shape[0] == 1
    assert np.nansum(tiles) == sum(range(25))
    assert np.isnan(tiles).sum() == tiles.size - 25


def test_histogram_edges_symmetric_and_clip():
    e = shared_edges(np.array([-0.5, 2.0]), np.array([1.0]), bins=4)
    np.testing.assert_allclose(e, [-2, -1, 0, 1, 2])
    np.testing.assert_array_equal(histogram(np.array([-9.0, 0.5, 9.0]), e), [1, 0, 1, 1])


# -- filter chart -------------------------------------------------------------------------
def test_filters_figure_shared_range_is_zero_centred():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 1, 5, 5)).astype(np.float32)
    fig = filters_figure(w, layer_name="0 · Conv2D")
    hm = fig.data[0]
    peak = float(np.abs(w).max())
    assert hm.zmid == 0 and hm.zmin == pytest.approx(-peak) and hm.zmax == pytest.approx(peak)
    z = np.asarray(hm.z)
    np.testing.assert_allclose(z[0:5, 0:5], w[0, 0])  # first filter, real values
    np.testing.assert_allclose(z[0:5, 6:11], w[1, 0])  # second one after a 1-pixel gap
    sub = fig.layout.title.subtitle.text
    assert "6 filters 5×5" in fig.layout.title.text
    assert "shared range" in sub and "white = 0" in sub
    assert [t.text for t in fig.data[1:]][0][:3] == ("0", "1", "2")  # filter numbers


def test_filters_figure_per_filter_keeps_real_values_on_hover():
    w = np.zeros((2, 1, 3, 3), dtype=np.float32)
    w[0, 0, 1, 1] = 0.2
    w[1, 0, 0, 0] = -4.0
    fig = filters_figure(w, per_filter=True)
    hm = fig.data[0]
    assert (hm.zmin, hm.zmax, hm.zmid) == (-1.0, 1.0, 0)
    z = np.asarray(hm.z)
    assert z[1, 1] == pytest.approx(1.0) and z[0, 4] == pytest.approx(-1.0)
    cd = np.asarray(hm.customdata)
    assert cd[1, 1, -1] == pytest.approx(0.2) and cd[0, 4, -1] == pytest.approx(-4.0)
    assert cd[0, 4, 0] == 1  # hover names filter 1
    assert "own largest |w|" in fig.layout.title.subtitle.text


def test_filters_figure_all_channels_and_rgb():
    w = np.random.default_rng(2).normal(size=(4, 3, 3, 3)).astype(np.float32)
    fig = filters_figure(w, mode="all")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4 * 4 - 1, 3 * 4 - 1)  # rows = filters, columns = input channels
    np.testing.assert_allclose(z[4:7, 8:11], w[1, 2])
    rgb = filters_figure(w, rgb=True)
    assert rgb.data[0].type == "image"
    assert np.asarray(rgb.data[0].z).shape == (3, 4 * 4 - 1, 3)


# -- feature-map charts -------------------------------------------------------------------
def test_activation_figure_relu_output_uses_sequential_scale_from_zero():
    a = np.abs(np.random.default_rng(3).normal(size=(16, 8, 8))).astype(np.float32)
    fig = activation_figure(a, layer_name="1 · ReLU")
    hm = fig.data[0]
    assert hm.zmin == 0 and hm.zmid is None and hm.zmax == pytest.approx(a.max())
    z = np.asarray(hm.z)
    np.testing.assert_allclose(z[0:8, 9:17], a[1])
    assert "16 channels of 8×8" in fig.layout.title.text
    assert fig.data[1].text[15] == "15"  # channel numbers printed on the tiles


def test_activation_figure_signed_output_is_zero_centred():
    a = np.array([[[1.0, -3.0], [0.0, 2.0]]], dtype=np.float32)
    hm = activation_figure(a).data[0]
    assert hm.zmid == 0 and hm.zmin == -3.0 and hm.zmax == 3.0


def test_activation_figure_dense_units():
    a = np.linspace(-1, 2, 10, dtype=np.float32)
    fig = activation_figure(a, layer_name="6 · Dense")
    assert "10 units" in fig.layout.title.text
    z = np.asarray(fig.data[0].z)
    assert np.nansum(z) == pytest.approx(a.sum(), rel=1e-5)
    assert "unit" in fig.data[0].hovertemplate


def test_probabilities_and_input_figures():
    p = np.array([0.1, 0.7, 0.2])
    fig = probabilities_figure(p, ["cat", "dog", "bird"], true_label=2)
    np.testing.assert_allclose(fig.data[0].x, [10, 70, 20])
    assert fig.data[0].marker.color[1] != fig.data[0].marker.color[0]  # predicted highlighted
    assert "dog" in fig.layout.title.text and "✓" in fig.data[0].y[2]
    x = np.random.default_rng(4).normal(size=(3, 8, 8)).astype(np.float32)
    fig = input_figure(x, source="test image #3")
    assert fig.data[0].zmid == 0  # normalised inputs are signed
    assert "test image #3, 3×8×8" in fig.layout.title.subtitle.text
    grey = input_figure(np.full((1, 4, 4), 0.5, dtype=np.float32))
    assert grey.data[0].zmin == 0 and "4×4" in grey.layout.title.subtitle.text
    ch = channel_figure(np.ones((5, 5)), title="channel 3")
    assert np.asarray(ch.data[0].z).shape == (5, 5)


# -- evaluate charts ----------------------------------------------------------------------
def test_confusion_figure_counts_and_normalised():
    cm = np.array([[8, 2], [1, 9]])
    fig = confusion_figure(cm, ["a", "b"], normalized=False)
    np.testing.assert_array_equal(fig.data[0].z, cm)
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.xaxis.title.text
    norm = confusion_figure(cm, ["a", "b"], normalized=True)
    np.testing.assert_allclose(np.asarray(norm.data[0].z), [[80, 20], [10, 90]])
    assert norm.data[0].zmax == 100


def test_precision_recall_figure_percentages():
    pr = precision_recall(np.array([[3, 1], [0, 0]]))
    fig = precision_recall_figure(pr, ["a", "b"])
    np.testing.assert_allclose(fig.data[0].y, [100, 0])  # b predicted once, wrongly
    assert list(fig.data[1].y) == [75, None]  # no image of b: its recall is undefined, no bar
    notes = [(a.x, a.text) for a in fig.layout.annotations]
    assert notes == [("b", "n/a")]


def test_gallery_figure_labels_in_order():
    imgs = np.random.default_rng(5).integers(0, 255, (3, 28, 28), dtype=np.uint8)
    fig = gallery_figure(
        imgs,
        np.array([7, 4, 9]),
        np.array([1, 9, 4]),
        np.array([0.9, 0.8, 0.6]),
        [str(i) for i in range(10)],
    )
    assert fig.data[0].type == "image"
    assert list(fig.data[1].text) == ["7→1 90%", "4→9 80%", "9→4 60%"]
    assert to_display(imgs).shape == (3, 28, 28, 3)
    chw = np.random.default_rng(6).random((2, 3, 8, 8)).astype(np.float32)
    d = to_display(chw)
    assert d.shape == (2, 8, 8, 3) and d.min() >= 0 and d.max() == pytest.approx(255)


def test_runs_figure_overlays_and_logs():
    curves = {
        "run a": (np.arange(5), np.array([2, 1, 0.5, 0.3, 0.2])),
        "run b": (np.arange(3), np.ones(3)),
    }
    fig = runs_figure(curves, metric="loss", log_y=True, smoothing=0.6)
    assert fig.layout.yaxis.type == "log"
    named = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in named] == ["run a", "run b"]
    assert named[0].line.color != named[1].line.color


# -- weight charts ------------------------------------------------------------------------
def test_histogram_figure_shares_sum_to_100():
    edges = np.linspace(-1, 1, 5)
    fig = histogram_figure(edges, np.array([0, 5, 5, 0]), np.array([1, 1, 1, 1]), name="0.weight")
    start, now = fig.data
    assert sum(now.y) == pytest.approx(100) and sum(start.y) == pytest.approx(100)
    np.testing.assert_allclose(now.x, [-0.75, -0.25, 0.25, 0.75])
    assert fig.layout.barmode == "overlay"


def test_distribution_figure_one_column_per_step():
    counts = np.array([[0, 4, 4, 0], [2, 2, 2, 2], [1, 3, 3, 1]])
    fig = distribution_figure(
        np.array([0, 10, 20]), np.linspace(-2, 2, 5), counts, what="gradient", name="2.weight"
    )
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4, 3)  # bins x steps
    np.testing.assert_allclose(z.sum(axis=0), 100)
    np.testing.assert_allclose(z[:, 1], 25)


def test_curves_figure_log_axis_and_reference():
    fig = curves_figure(
        np.arange(4),
        {"0.weight": np.array([1e-1, 1e-2, 0.0, 1e-3]), "2.weight": np.ones(4)},
        title="gradient norm",
        y_title="|g|",
        reference=1e-3,
    )
    assert fig.layout.yaxis.type == "log"
    assert np.isnan(fig.data[0].y[2])  # zero cannot sit on a log axis
    assert fig.layout.shapes[0].y0 == 1e-3
    dead = curves_figure(
        np.arange(2),
        {"1 · ReLU": np.array([0.1, 0.5])},
        title="dead",
        y_title="dead units",
        log_y=False,
        percent=True,
    )
    np.testing.assert_allclose(dead.data[0].y, [10, 50])
    bars = layer_bars_figure(
        ["0.weight", "2.weight"], np.array([1e-4, 1e-1]), title="t", y_title="|g|"
    )
    assert bars.layout.yaxis.type == "log"


# -- added: clicks, small kernels, unvalidated figures -------------------------------------
def test_activation_figure_click_targets_sit_on_tile_centres():
    a = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    fig = activation_figure(a, layer_name="1 · ReLU", clickable=True)
    targets = fig.data[-1]
    assert targets.type == "scatter" and targets.mode == "markers"
    # Tiles of 4x4 with 1-pixel gaps, one row: centres at x = 1.5, 6.5, 11.5; y = 1.5.
    np.testing.assert_allclose(targets.x, [1.5, 6.5, 11.5])
    np.testing.assert_allclose(targets.y, [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(targets.customdata, [0, 1, 2])
    assert targets.marker.opacity == 0 and targets.selected.marker.opacity == 1
    assert "click to enlarge" in targets.hovertemplate
    labels = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
    assert labels and labels[0].unselected.textfont.color == labels[0].textfont.color
    # A Dense layer's strip has no channels to click, and is tall enough for its colour bar.
    strip = activation_figure(np.ones(84, dtype=np.float32), clickable=True)
    assert all(t.type != "scatter" or t.mode != "markers" for t in strip.data)
    assert strip.layout.height >= 190


def test_filters_figure_small_kernels_carry_no_numbers():
    w = np.random.default_rng(7).normal(size=(8, 4, 3, 3)).astype(np.float32)
    fig = filters_figure(w)
    assert len(fig.data) == 1  # heatmap only: a number would hide a ninth of each 3x3 kernel
    assert "8 filters 3×3, mean over 4 input channels" in fig.layout.title.text
    one = filters_figure(w[2:3], mode="all", title="Filter 2 of layer 3", subtitle="white = 0")
    assert one.layout.title.text == "Filter 2 of layer 3"
    assert one.layout.title.subtitle.text == "white = 0"
    np.testing.assert_allclose(np.asarray(one.data[0].z)[0:3, 4:7], w[2, 1])


def test_unvalidated_figures_serialise_their_values():
    import base64
    import json

    import plotly.io as pio

    a = np.array([[[1.0, -2.0], [0.5, 0.0]]], dtype=np.float32)
    spec = json.loads(pio.to_json(activation_figure(a), validate=False))
    hm = spec["data"][0]
    assert hm["zmin"] == -2.0 and hm["zmid"] == 0
    z = hm["z"]
    values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
    np.testing.assert_allclose(values, a.ravel())
    assert spec["layout"]["template"]["layout"]["paper_bgcolor"] == "white"


def test_dead_relu_fractions_on_one_batch():
    from netcore.activations import ReLU
    from netcore.layers import Dense
    from netcore.model import Sequential
    from ui.inspect import dead_relu_fractions

    dense = Dense(2, 3, rng=np.random.default_rng(0))
    w, b = (p for _, p in dense.named_parameters())
    w.data[...] = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]
    b.data[...] = [0.0, -10.0, 0.0]  # unit 1 is negative for every input in [0, 1]
    model = Sequential([dense, ReLU()])
    x = np.random.default_rng(1).random((16, 2)).astype(np.float32)
    assert dead_relu_fractions(model, x) == {1: pytest.approx(1 / 3)}
    assert np.array_equal(w.data, [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])  # model untouched
