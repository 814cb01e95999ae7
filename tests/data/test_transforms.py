"""Normalisation round trips and augmentation (shift, flip) on known images."""

import numpy as np
import pytest

from netcore.datasets import Augment, Normalization, load_dataset, random_flip, random_shift


def test_zero_one_and_standardise():
    raw = np.random.default_rng(0).integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)
    unit = Normalization.fit(raw, "0-1")
    np.testing.assert_allclose(unit(raw), raw / 255.0, rtol=1e-6)
    std = Normalization.fit(raw, "standardise")
    x = std(raw)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-3)
    np.testing.assert_allclose(std.to_unit(x), raw / 255.0, atol=1e-5)
    assert Normalization.from_dict(std.to_dict()) == std
    with pytest.raises(ValueError, match="unknown normalisation"):
        Normalization.fit(raw, "minmax")


def test_shift_moves_a_pixel_and_fills_with_background():
    x = np.zeros((200, 1, 5, 5), dtype=np.float32)
    x[:, 0, 2, 2] = 1.0
    out = random_shift(x, np.random.default_rng(0), max_shift=2, fill=-0.5)
    assert out.shape == x.shape and x[:, 0, 2, 2].min() == 1.0  # input untouched
    for img in out[:, 0]:
        ys, xs = np.nonzero(img == 1.0)
        assert len(ys) == 1  # the dot is moved, never lost (|shift| <= 2 keeps it inside)
        # everything else is the original zero or the border fill
        assert set(np.unique(img).tolist()) <= {-0.5, 0.0, 1.0}
    positions = {tuple(np.argwhere(img == 1.0)[0]) for img in out[:, 0]}
    assert len(positions) == 25  # all 5 x 5 offsets occur in 200 draws


def test_shift_is_exact_translation():
    x = np.random.default_rng(1).random((64, 2, 8, 8)).astype(np.float32)
    out = random_shift(x, np.random.default_rng(2), max_shift=1, fill=0.0)
    for a, b in zip(x, out, strict=True):
        # find the offset by trying all nine and checking the overlap is identical
        matches = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if np.array_equal(
                b[:, max(dy, 0) : 8 + min(dy, 0), max(dx, 0) : 8 + min(dx, 0)],
                a[:, max(-dy, 0) : 8 + min(-dy, 0), max(-dx, 0) : 8 + min(-dx, 0)],
            )
        ]
        assert matches


def test_flip_mirrors_about_half():
    x = np.arange(100 * 3 * 2 * 4, dtype=np.float32).reshape(100, 3, 2, 4)
    out = random_flip(x, np.random.default_rng(0))
    flipped = np.array([np.array_equal(o, a[..., ::-1]) for o, a in zip(out, x, strict=True)])
    same = np.array([np.array_equal(o, a) for o, a in zip(out, x, strict=True)])
    assert np.all(flipped ^ same) and 30 < flipped.sum() < 70


def test_default_augmentation_per_kind():
    digits = load_dataset("mnist_5k")
    assert digits.augment == Augment(max_shift=2, flip=False, fill=(0.0,))
    std = load_dataset("mnist_5k", normalization="standardise")
    (m,), (s,) = std.normalization.mean, std.normalization.std
    assert std.augment.fill == pytest.approx((-m / s,))
    xb = std.X_train[:32]
    out = std.augment(xb, np.random.default_rng(0))
    assert out.shape == xb.shape and out.dtype == np.float32
    # background stays background: the shifted-in border equals a black pixel's value
    assert out.min() == pytest.approx(-m / s)


def test_augment_is_deterministic_with_seeded_rng():
    xb = load_dataset("mnist_5k").X_train[:16]
    aug = Augment(flip=True)
    a = aug(xb, np.random.default_rng(3))
    b = aug(xb, np.random.default_rng(3))
    assert np.array_equal(a, b)
