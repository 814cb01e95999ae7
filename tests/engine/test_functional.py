"""The fast conv/pool building blocks agree with the loop references, and the loop
references themselves agree with finite differences."""

import numpy as np
import pytest

from netcore import functional as F
from netcore.layers import AvgPool2D, Conv2D, MaxPool2D


def test_conv_output_size_formula():
    assert F.conv_output_size(28, 5, 1, 2) == 28
    assert F.conv_output_size(28, 5) == 24
    assert F.conv_output_size(7, 3, 2, 0) == 3
    assert F.conv_output_size(8, 3, 2, 0) == 3  # the last column does not fill a step
    assert F.conv_output_size(5, 7, 1, 1) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((5, 7, 1, 0), "does not fit"),
        ((5, 0, 1, 0), "kernel size"),
        ((5, 3, 0, 0), "stride"),
        ((5, 3, 1, -1), "padding"),
    ],
)
def test_conv_output_size_rejects_impossible(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        F.conv_output_size(*args)


def test_im2col_col2im_are_adjoint():
    # <im2col(x), g> == <x, col2im(g)> for any x, g: col2im is the exact transpose.
    rng = np.random.default_rng(0)
    for shape, k, s in [((2, 3, 7, 6), 3, 1), ((1, 2, 9, 8), 2, 3), ((2, 1, 6, 6), 3, 2)]:
        x = rng.standard_normal(shape)
        cols = F.im2col(x, k, k, s)
        g = rng.standard_normal(cols.shape)
        lhs = np.sum(cols * g)
        rhs = np.sum(x * F.col2im(g, shape, k, k, s))
        assert lhs == pytest.approx(rhs, rel=1e-12)


def test_im2col_layout_matches_definition():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5))
    k, s = 2, 2
    cols = F.im2col(x, k, k, s)
    ho, wo = F.conv_output_size(6, k, s), F.conv_output_size(5, k, s)
    assert cols.shape == (3 * k * k, ho * wo * 2)
    for n in range(2):
        for oh in range(ho):
            for ow in range(wo):
                patch = x[n, :, oh * s : oh * s + k, ow * s : ow * s + k].reshape(-1)
                np.testing.assert_array_equal(cols[:, (oh * wo + ow) * 2 + n], patch)


def test_im2col_reads_any_memory_layout():
    # The fast layers hand each other channel-major arrays; the result must not depend
    # on the layout, only on the values.
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 7, 6))
    x_cm = F.channel_major(x.shape, x.dtype)
    x_cm[...] = x
    assert not x_cm.flags.c_contiguous
    np.testing.assert_array_equal(F.im2col(x_cm, 3, 3, 2), F.im2col(x, 3, 3, 2))
    padded = F.pad2d(x, 2)
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))))


CONV_CASES = [
    # (N, C, H, W, F, k, stride, padding)
    (2, 1, 8, 8, 3, 3, 1, 0),
    (2, 3, 7, 6, 4, 3, 1, 1),
    (1, 2, 9, 8, 3, 3, 2, 0),
    (3, 2, 8, 9, 2, 2, 3, 1),
    (2, 4, 5, 5, 2, 5, 1, 2),
    (1, 3, 11, 7, 5, 4, 2, 2),
    (2, 2, 6, 6, 3, 1, 1, 0),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_layer_matches_loop_reference(case):
    n, c, h, w, f, k, s, p = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    conv = Conv2D(c, f, k, s, p, rng=rng)
    conv.bias.data[:] = rng.standard_normal(f)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    y = conv.forward(x)
    y_ref = F.conv2d_naive(x, conv.weight.data, conv.bias.data, s, p)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)

    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = conv.backward(dy)
    dx_ref, dw_ref, db_ref = F.conv2d_backward_naive(x, conv.weight.data, dy, s, p)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(conv.weight.grad, dw_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(conv.bias.grad, db_ref, rtol=1e-4, atol=1e-4)


def test_conv_random_shapes_float64_exact():
    rng = np.random.default_rng(7)
    for _ in range(15):
        c, f = rng.integers(1, 4, size=2)
        k = int(rng.integers(1, 5))
        s = int(rng.integers(1, 4))
        p = int(rng.integers(0, 3))
        h = int(rng.integers(max(1, k - 2 * p), 10))
        w = int(rng.integers(max(1, k - 2 * p), 10))
        conv = Conv2D(int(c), int(f), k, s, p, rng=rng)
        conv.weight.data = conv.weight.data.astype(np.float64)
        conv.bias.data = rng.standard_normal(int(f))
        x = rng.standard_normal((2, int(c), h, w))
        y = conv.forward(x)
        np.testing.assert_allclose(y, F.conv2d_naive(x, conv.weight.data, conv.bias.data, s, p))
        dy = rng.standard_normal(y.shape)
        dx = conv.backward(dy)
        dx_ref, dw_ref, db_ref = F.conv2d_backward_naive(x, conv.weight.data, dy, s, p)
        np.testing.assert_allclose(dx, dx_ref, atol=1e-12)
        np.testing.assert_allclose(conv.weight.grad, dw_ref, atol=1e-12)
        np.testing.assert_allclose(conv.bias.grad, db_ref, atol=1e-12)


def _numeric_grad(fn, x, eps=1e-6):
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = fn()
        flat[i] = old - eps
        minus = fn()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return g


def test_naive_conv_backward_matches_finite_differences():
    # The reference itself must be right, or the fast layer is tested against a bug.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((2, 2, 3, 3))
    b = rng.standard_normal(2)
    s, p = 2, 1
    g = rng.standard_normal(F.conv2d_naive(x, w, b, s, p).shape)

    def loss():
        return float(np.sum(F.conv2d_naive(x, w, b, s, p) * g))

    dx, dw, db = F.conv2d_backward_naive(x, w, g, s, p)
    np.testing.assert_allclose(dx, _numeric_grad(loss, x), atol=1e-7)
    np.testing.assert_allclose(dw, _numeric_grad(loss, w), atol=1e-7)
    np.testing.assert_allclose(db, _numeric_grad(loss, b), atol=1e-7)


POOL_CASES = [
    # (N, C, H, W, k, stride)
    (2, 3, 8, 8, 2, None),
    (2, 2, 7, 9, 2, None),  # odd sizes: last row/column dropped
    (1, 2, 7, 7, 3, 2),  # overlapping windows
    (2, 1, 9, 8, 3, 1),
    (1, 3, 8, 7, 2, 3),  # stride larger than the window: gaps
    (2, 2, 6, 6, 3, None),
    (1, 1, 5, 5, 5, None),
]


def _tied_input(rng, shape):
    """Many exact ties, like MNIST: mostly zeros plus a few repeated small integers."""
    x = rng.integers(0, 3, size=shape).astype(np.float32)
    x[rng.random(shape) < 0.5] = 0.0
    return x


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("tied", [False, True])
def test_maxpool_matches_loop_reference(case, tied):
    n, c, h, w, k, s = case
    rng = np.random.default_rng(11)
    shape = (n, c, h, w)
    x = _tied_input(rng, shape) if tied else rng.standard_normal(shape).astype(np.float32)
    pool = MaxPool2D(k, s)
    y = pool.forward(x)
    y_ref, argmax = F.maxpool2d_naive(x, k, s)
    np.testing.assert_array_equal(y, y_ref)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = pool.backward(dy)
    dx_ref = F.maxpool2d_backward_naive(dy, argmax, x.shape)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("channel_major", [True, False])
def test_maxpool_2x2_any_layout_and_mode_matches_loop_reference(training, channel_major):
    # The 2x2 fast path finds the winners in a training forward; after an evaluation
    # forward the backward finds them the general way. Both, on either memory layout.
    rng = np.random.default_rng(14)
    x = _tied_input(rng, (3, 4, 6, 8))
    if channel_major:
        x_cm = F.channel_major(x.shape, x.dtype)
        x_cm[...] = x
        x = x_cm
    pool = MaxPool2D(2)
    pool.training = training
    y = pool.forward(x)
    y_ref, argmax = F.maxpool2d_naive(x, 2)
    np.testing.assert_array_equal(y, y_ref)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(
        pool.backward(dy), F.maxpool2d_backward_naive(dy, argmax, x.shape)
    )


def test_maxpool_ties_route_to_first_maximum_only():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)  # every window is a four-way tie
    x[0, 0, 3, 3] = -1.0
    pool = MaxPool2D(2)
    pool.forward(x)
    dx = pool.backward(np.ones((1, 1, 2, 2), dtype=np.float32))
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 0] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0  # top-left wins
    np.testing.assert_array_equal(dx[0, 0], expected)
    # The total gradient is conserved: one window, one recipient.
    assert dx.sum() == 4.0


def test_maxpool_tie_after_a_larger_value():
    # First maximum in row-major order, even when the tie comes later in the window.
    x = np.array([[[[0.0, 2.0], [2.0, 1.0]]]], dtype=np.float32)
    pool = MaxPool2D(2)
    assert pool.forward(x)[0, 0, 0, 0] == 2.0
    dx = pool.backward(np.ones((1, 1, 1, 1), dtype=np.float32))
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool_matches_loop_reference(case):
    n, c, h, w, k, s = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w))
    pool = AvgPool2D(k, s)
    y = pool.forward(x)
    np.testing.assert_allclose(y, F.avgpool2d_naive(x, k, s), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        pool.backward(dy), F.avgpool2d_backward_naive(dy, x.shape, k, s), atol=1e-12
    )


def test_naive_pool_backwards_match_finite_differences():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 5, 5))
    k, s = 3, 2
    y, argmax = F.maxpool2d_naive(x, k, s)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        F.maxpool2d_backward_naive(g, argmax, x.shape),
        _numeric_grad(lambda: float(np.sum(F.maxpool2d_naive(x, k, s)[0] * g)), x),
        atol=1e-7,
    )
    np.testing.assert_allclose(
        F.avgpool2d_backward_naive(g, x.shape, k, s),
        _numeric_grad(lambda: float(np.sum(F.avgpool2d_naive(x, k, s) * g)), x),
        atol=1e-7,
    )


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 0)])
def test_conv_big_batch_goes_in_pieces_and_matches_reference(stride, padding, monkeypatch):
    # Batches above KEEP_PATCHES_UP_TO are convolved a few output rows at a time and
    # the backward pass rebuilds the patches; the numbers must not change.
    from netcore import conv as conv_module

    monkeypatch.setattr(conv_module, "PIECE_VALUES", 5000)  # several pieces, one partial
    rng = np.random.default_rng(12)
    n = conv_module.KEEP_PATCHES_UP_TO + 35
    conv = Conv2D(2, 3, 3, stride, padding, rng=rng)
    conv.weight.data = conv.weight.data.astype(np.float64)
    conv.bias.data = rng.standard_normal(3)
    x = rng.standard_normal((n, 2, 5, 6))
    y = conv.forward(x)
    assert conv._cols is None  # nothing batch-sized kept
    np.testing.assert_allclose(
        y, F.conv2d_naive(x, conv.weight.data, conv.bias.data, stride, padding)
    )
    dy = rng.standard_normal(y.shape)
    dx = conv.backward(dy)
    dx_ref, dw_ref, db_ref = F.conv2d_backward_naive(x, conv.weight.data, dy, stride, padding)
    np.testing.assert_allclose(dx, dx_ref, atol=1e-11)
    np.testing.assert_allclose(conv.weight.grad, dw_ref, atol=1e-10)
    np.testing.assert_allclose(conv.bias.grad, db_ref, atol=1e-10)
    # and a training-sized batch right after still works (buffers re-used or re-made)
    small = x[:5]
    np.testing.assert_allclose(conv.forward(small), y[:5], atol=1e-12)
    conv.needs_input_grad = False
    assert conv.backward(dy[:5]) is None
    np.testing.assert_allclose(
        conv.weight.grad,
        F.conv2d_backward_naive(small, conv.weight.data, dy[:5], stride, padding)[1],
        atol=1e-11,
    )


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_input_grad_equals_col2im(stride):
    rng = np.random.default_rng(13)
    n, c, h, w, k, f = 2, 3, 7, 6, 3, 4
    ho, wo = F.conv_output_size(h, k, stride), F.conv_output_size(w, k, stride)
    weight = rng.standard_normal((f, c, k, k))
    g = rng.standard_normal((f, ho * wo * n))
    np.testing.assert_allclose(
        F.conv_input_grad(g, weight, (n, c, h, w), stride),
        F.col2im(weight.reshape(f, -1).T @ g, (n, c, h, w), k, k, stride),
        atol=1e-12,
    )
