"""Normalisation and training-time augmentation of image batches.

Normalisation maps pixels 0-255 to the numbers a network trains on well::

    x = (pixel / 255 - mean[c]) / std[c]

* ``"0-1"``: ``mean = 0``, ``std = 1``, so ``x`` lies in ``[0, 1]``;
* ``"standardise"``: per-channel ``mean`` and ``std`` of the *training* images, so each channel
  has mean 0 and variance 1 (the test images use the training statistics: the test set must not
  leak into anything we fit).

Augmentation makes new training images from old ones at every step, so the network cannot
memorise exact pixel positions: a shift of up to 2 pixels for everything, a horizontal flip
for photos. Digits are never flipped (a mirrored 2 is not a 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("0-1", "standardise")


@dataclass(frozen=True)
class Normalization:
    """``x = (pixel / 255 - mean[c]) / std[c]`` per channel ``c``.

    Plain tuples (not arrays) so that the object is hashable and can be saved as JSON next
    to a trained model (`to_dict` / `from_dict`).
    """

    scheme: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, raw_train: np.ndarray, scheme: str = "0-1") -> Normalization:
        """Choose the normalisation for training images ``raw_train: (N, C, H, W) uint8``."""
        if scheme not in SCHEMES:
            raise ValueError(f"unknown normalisation {scheme!r}; choose one of {SCHEMES}")
        n_channels = raw_train.shape[1]
        if scheme == "0-1":
            return cls("0-1", (0.0,) * n_channels, (1.0,) * n_channels)
        mean, std = [], []
        for m, s in _channel_stats(raw_train):
            mean.append(round(m / 255.0, 6))
            std.append(round(max(s / 255.0, 1e-3), 6))
        return cls("standardise", tuple(mean), tuple(std))

    def _per_channel(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1,) + (1,) * (ndim - 2)  # broadcast over (N, C, H, W) or (N, C, ...)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(shape)
        std = np.asarray(self.std, dtype=np.float32).reshape(shape)
        return mean, std

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Pixels ``(N, C, H, W)`` uint8 (or floats 0-255) -> float32 ``(N, C, H, W)``."""
        mean, std = self._per_channel(raw.ndim)
        # One scale and one shift per channel, done in place on one float32 copy.
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        x = raw.astype(np.float32)
        x *= scale
        x -= mean / std
        return x

    def from_unit(self, x01: np.ndarray) -> np.ndarray:
        """Images with values in ``[0, 1]`` ``(N, C, H, W)`` -> normalised float32."""
        mean, std = self._per_channel(x01.ndim)
        return ((np.asarray(x01, dtype=np.float32) - mean) / std).astype(np.float32)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Inverse: normalised ``(N, C, H, W)`` -> values in ``[0, 1]`` (clipped), for display."""
        mean, std = self._per_channel(x.ndim)
        return np.clip(x * std + mean, 0.0, 1.0).astype(np.float32)

    def background(self) -> tuple[float, ...]:
        """The normalised value of a black pixel, per channel (what shifted-in pixels get)."""
        return tuple(0.0 - float(m / s) for m, s in zip(self.mean, self.std, strict=True))

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(str(d["scheme"]), tuple(map(float, d["mean"])), tuple(map(float, d["std"])))


def _channel_stats(raw: np.ndarray, chunk: int = 256) -> list[tuple[float, float]]:
    """Exact mean and standard deviation of each channel of ``raw: (N, C, H, W)``, 0-255 units.

    Integer sums of pixels and of squared pixels, a chunk of images at a time: exact (no float
    rounding over 50 million values) and without a float64 copy of the whole set.
    """
    n_channels = raw.shape[1]
    s1 = np.zeros(n_channels, dtype=np.float64)
    s2 = np.zeros(n_channels, dtype=np.float64)
    for start in range(0, len(raw), chunk):
        block = raw[start : start + chunk].astype(
            np.int32
        )  # 255**2 fits; small blocks stay in cache
        s1 += block.sum(axis=(0, 2, 3), dtype=np.int64)
        s2 += np.square(block).sum(axis=(0, 2, 3), dtype=np.int64)
    count = raw.size // n_channels
    mean = s1 / count
    var = np.maximum(s2 / count - mean**2, 0.0)
    return [(float(m), float(v) ** 0.5) for m, v in zip(mean, var, strict=True)]


def random_shift(
    xb: np.ndarray, rng: np.random.Generator, max_shift: int = 2, fill=0.0
) -> np.ndarray:
    """Move each image by its own random whole-pixel offset in ``[-max_shift, max_shift]``.

    Parameters
    ----------
    xb : np.ndarray, (N, C, H, W)
    rng : np.random.Generator
    max_shift : int
    fill : float or sequence of float (one per channel)
        Value of the pixels that enter from the border (the background colour).

    Returns
    -------
    np.ndarray, (N, C, H, W), a new array (``xb`` is not changed).
    """
    n, c, h, w = xb.shape
    s = int(max_shift)
    if s <= 0:
        return xb.copy()
    # Pad once with the background, then cut each image's window out of the padded batch.
    padded = np.empty((n, c, h + 2 * s, w + 2 * s), dtype=xb.dtype)
    padded[...] = np.asarray(fill, dtype=xb.dtype).reshape(-1, 1, 1)
    padded[:, :, s : s + h, s : s + w] = xb
    dy = rng.integers(-s, s + 1, size=n)
    dx = rng.integers(-s, s + 1, size=n)
    out = np.empty_like(xb)
    # At most (2s+1)^2 distinct offsets: one slice copy per offset, not one per image.
    code = (dy + s) * (2 * s + 1) + (dx + s)
    for k in np.unique(code):
        idx = np.flatnonzero(code == k)
        oy, ox = s - (k // (2 * s + 1) - s), s - (k % (2 * s + 1) - s)
        out[idx] = padded[idx, :, oy : oy + h, ox : ox + w]
    return out


def random_flip(xb: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right with probability `p`. ``xb: (N, C, H, W)``; new array."""
    out = xb.copy()
    flip = rng.random(xb.shape[0]) < p
    out[flip] = xb[flip][..., ::-1]
    return out


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation: ``augment(xb, rng) -> new batch`` (same shape).

    A small class rather than a closure so that it can be compared, shown and pickled to a
    worker process.
    """

    max_shift: int = 2
    flip: bool = False
    fill: tuple[float, ...] = (0.0,)

    def __call__(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.flip:
            xb = random_flip(xb, rng)
        return random_shift(xb, rng, self.max_shift, self.fill)


def default_augment(kind: str, normalization: Normalization) -> Augment:
    """Shift for every kind of image; add a horizontal flip only for photos."""
    return Augment(max_shift=2, flip=(kind == "photos"), fill=normalization.background())
