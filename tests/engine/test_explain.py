"""The cell-by-cell records of the convolution explainer equal netcore's own computations."""

import numpy as np
import pytest

from netcore import explain
from netcore import functional as F


def _setup(seed=0, size=8, k=3, stride=1, padding=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, (size, size)).astype(np.float32) / 10
    w = rng.normal(size=(k, k)).astype(np.float32)
    return x, w


@pytest.mark.parametrize(("stride", "padding", "k"), [(1, 0, 3), (2, 1, 3), (1, 2, 5), (3, 0, 2)])
def test_every_conv_cell_equals_the_loop_reference(stride, padding, k):
    x, w = _setup(size=10, k=k)
    fwd = explain.forward(x, w, bias=0.25, stride=stride, padding=padding, pool=2)
    ref = F.conv2d_naive(
        x[None, None], w[None, None], np.array([0.25], np.float32), stride, padding
    )[0, 0]
    assert fwd.z.shape == ref.shape == (F.conv_output_size(10, k, stride, padding),) * 2
    assert len(fwd.conv_cells) == ref.size
    for cell in fwd.conv_cells:
        # The displayed products add up to the displayed value, which is netcore's value.
        np.testing.assert_allclose(cell.products, cell.window * w, rtol=0, atol=0)
        assert cell.value == pytest.approx(float(cell.products.sum()) + 0.25, abs=1e-5)
        assert cell.value == pytest.approx(float(ref[cell.i, cell.j]), abs=1e-5)
        xp = np.pad(x, padding)
        np.testing.assert_array_equal(cell.window, xp[cell.r0 : cell.r0 + k, cell.c0 : cell.c0 + k])


def test_relu_and_pool_cells_equal_the_loop_reference():
    x, w = _setup(seed=3)
    fwd = explain.forward(x, w, stride=1, padding=1)
    np.testing.assert_array_equal(fwd.a, np.maximum(fwd.z, 0))
    ref, argmax = F.maxpool2d_naive(fwd.a[None, None], 2)
    for cell in fwd.pool_cells:
        assert cell.value == ref[0, 0, cell.i, cell.j]
        assert (cell.wr, cell.wc) == tuple(argmax[0, 0, cell.i, cell.j])
        assert cell.value == cell.window.max()


def test_pool_ties_go_to_the_first_maximum():
    # An all-zero input: every pool window ties at 0; the gradient must go to one cell only.
    fwd = explain.forward(np.zeros((6, 6)), np.eye(3), pool=2)
    bwd = explain.backward(fwd, np.ones_like(fwd.p))
    for cell in fwd.pool_cells:
        assert (cell.wr, cell.wc) == (cell.r0, cell.c0)
    assert bwd.da.sum() == fwd.p.size
    assert np.count_nonzero(bwd.da) == fwd.p.size


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (1, 1), (2, 1), (2, 0)])
def test_backward_cells_equal_the_loop_reference(stride, padding):
    x, w = _setup(seed=5, size=9)
    fwd = explain.forward(x, w, bias=0.1, stride=stride, padding=padding, pool=2)
    dp = np.random.default_rng(1).normal(size=fwd.p.shape).astype(np.float32)
    bwd = explain.backward(fwd, dp)

    da_ref = F.maxpool2d_backward_naive(
        dp[None, None], F.maxpool2d_naive(fwd.a[None, None], 2)[1], (1, 1) + fwd.a.shape
    )[0, 0]
    np.testing.assert_allclose(bwd.da, da_ref, atol=1e-6)
    dz_ref = np.where(fwd.z > 0, da_ref, 0).astype(np.float32)
    np.testing.assert_allclose(bwd.dz, dz_ref, atol=1e-6)
    dx_ref, dw_ref, db_ref = F.conv2d_backward_naive(
        x[None, None], w[None, None], dz_ref[None, None], stride, padding
    )
    for cell in bwd.weight_cells:
        assert cell.value == pytest.approx(float((cell.dz * cell.xs).sum()), abs=1e-5)
        assert cell.value == pytest.approx(float(dw_ref[0, 0, cell.u, cell.v]), abs=1e-5)
    for cell in bwd.input_cells:
        assert cell.value == pytest.approx(sum(t.dz * t.w for t in cell.terms), abs=1e-5)
        assert cell.value == pytest.approx(float(dx_ref[0, 0, cell.r, cell.c]), abs=1e-5)
        for t in cell.terms:  # each term names a real (output cell, kernel weight) pair
            assert t.i * stride + t.u == cell.r + padding
            assert t.j * stride + t.v == cell.c + padding
    assert bwd.dbias == pytest.approx(float(db_ref[0]), abs=1e-5)


def test_check_against_netcore_reports_tiny_differences():
    pytest.importorskip("netcore.layers")
    pytest.importorskip("netcore.activations")
    x, w = _setup(seed=7, size=10)
    fwd = explain.forward(x, w, bias=-0.2, stride=1, padding=1)
    bwd = explain.backward(fwd, np.ones_like(fwd.p))
    diffs = explain.check_against_netcore(fwd, bwd)
    assert len(diffs) == 12
    assert max(diffs.values()) < 1e-5, diffs


def test_bad_settings_raise_a_clear_message():
    with pytest.raises(ValueError, match="does not fit"):
        explain.forward(np.zeros((3, 3)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="too small"):
        explain.forward(np.zeros((4, 4)), np.zeros((3, 3)), pool=3)
    fwd = explain.forward(np.zeros((6, 6)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        explain.backward(fwd, np.zeros((3, 3)))


def test_dense_example_matches_matrix_formulas():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=4), rng.normal(size=(3, 4))
    b, dy = rng.normal(size=3), rng.normal(size=3)
    ex = explain.dense_example(x, w, b, dy)
    np.testing.assert_allclose(ex.y, w @ x + b, rtol=1e-5)
    np.testing.assert_allclose(ex.dweight, np.outer(dy, x), rtol=1e-5)
    np.testing.assert_allclose(ex.dx, w.T @ dy, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ex.dbias, dy, rtol=1e-6)
