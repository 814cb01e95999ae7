"""Two-dimensional toy sets for the MLP playground.

Each generator returns

* ``X``: float32 ``(n_points, 2)``, scaled to lie within about ``[-1, 1]`` (the playground draws
  the square ``[-1.5, 1.5]``, so noisy points still show);
* ``y``: int64 ``(n_points,)`` class labels ``0 .. n_classes-1``, balanced (class sizes differ
  by at most one) and in random order.

``noise`` is the standard deviation of Gaussian jitter, in the same units as ``X`` (for the
spiral, of the angle; see `spiral`). The same ``seed`` always gives the same points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _class_sizes(n_points: int, n_classes: int) -> np.ndarray:
    """Split `n_points` into `n_classes` sizes differing by at most one."""
    sizes = np.full(n_classes, n_points // n_classes)
    sizes[: n_points % n_classes] += 1
    return sizes


def _finish(parts: list[np.ndarray], rng: np.random.Generator, noise: float):
    """Stack per-class point arrays, add jitter, shuffle; -> (X float32, y int64)."""
    X = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(parts)])
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order]


def spiral(n_points: int = 300, noise: float = 0.1, seed: int = 0, n_classes: int = 3):
    """`n_classes` interleaved spiral arms, each turning once around the centre.

    Here ``noise`` jitters the angle (``2 * noise`` radians of standard deviation) rather than
    the position: near the centre, where the arms are close, a point moves less, so the arms
    stay recognisable at the noise levels the other sets use.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(_class_sizes(n_points, n_classes)):
        r = np.linspace(0.05, 1.0, n)  # radius grows along the arm
        theta = 2 * np.pi * (r + k / n_classes)  # arms start at evenly spaced angles
        theta = theta + 2 * noise * rng.standard_normal(n)
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return _finish(parts, rng, 0.0)


def circles(n_points: int = 300, noise: float = 0.05, seed: int = 0, n_classes: int = 2):
    """Concentric rings; ring ``k`` has radius ``(k + 1) / n_classes``."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(_class_sizes(n_points, n_classes)):
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = (k + 1) / n_classes
        parts.append(radius * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _finish(parts, rng, noise)


def moons(n_points: int = 300, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles (two classes)."""
    rng = np.random.default_rng(seed)
    n0, n1 = _class_sizes(n_points, 2)
    a0, a1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n1)
    upper = np.stack([np.cos(a0), np.sin(a0)], axis=1)
    lower = np.stack([1 - np.cos(a1), 0.5 - np.sin(a1)], axis=1)
    # The pair spans x in [-1, 2], y in [-0.5, 1]: centre it and shrink it into [-1, 1].
    centre, scale = np.array([0.5, 0.25]), 1.5
    return _finish([(upper - centre) / scale, (lower - centre) / scale], rng, noise)


def xor(n_points: int = 300, noise: float = 0.05, seed: int = 0):
    """Four quadrants: class 1 where ``x * y > 0``; a small gap keeps the axes clear."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(_class_sizes(n_points, 2)):
        pts = rng.uniform(0.1, 1.0, (n, 2))  # away from the axes
        signs = rng.choice([-1.0, 1.0], size=n)
        # Class 1: same signs (quadrants I and III); class 0: opposite signs (II and IV).
        pts[:, 0] *= signs
        pts[:, 1] *= signs if k == 1 else -signs
        parts.append(pts)
    return _finish(parts, rng, noise)


def blobs(n_points: int = 300, noise: float = 0.15, seed: int = 0, n_classes: int = 3):
    """Gaussian clusters with centres evenly spaced on a circle of radius 0.6."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(_class_sizes(n_points, n_classes)):
        angle = 2 * np.pi * k / n_classes + np.pi / 2
        centre = 0.6 * np.array([np.cos(angle), np.sin(angle)])
        parts.append(np.tile(centre, (n, 1)))
    return _finish(parts, rng, noise)


@dataclass(frozen=True)
class ToySet:
    """One generator with what the playground needs to draw its controls."""

    name: str
    title: str
    make: Callable
    default_noise: float
    default_classes: int = 2
    max_classes: int = 2  # 2 for moons and xor: they are two-class by nature


MAX_CLASSES = 6


TOY_SETS: dict[str, ToySet] = {
    "spiral": ToySet("spiral", "Spiral", spiral, 0.1, 3, 6),
    "circles": ToySet("circles", "Circles", circles, 0.05, 2, 6),
    "moons": ToySet("moons", "Moons", moons, 0.1),
    "xor": ToySet("xor", "XOR", xor, 0.05),
    "blobs": ToySet("blobs", "Gaussian blobs", blobs, 0.15, 3, 6),
}


def make_toy(
    name: str,
    n_points: int = 300,
    noise: float | None = None,
    seed: int = 0,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make toy set `name` (one of `TOY_SETS`).

    Parameters
    ----------
    name : {"spiral", "circles", "moons", "xor", "blobs"}
    n_points : int
        Total number of points (at least 2 per class).
    noise : float, optional
        Jitter standard deviation; default: the set's own.
    seed : int
    n_classes : int, optional
        2 to 6, for spiral, circles and blobs; moons and xor ignore it (always 2 classes).

    Returns
    -------
    X : float32 (n_points, 2)
    y : int64 (n_points,)
    """
    if name not in TOY_SETS:
        raise ValueError(f"unknown toy set {name!r}; choose one of {', '.join(TOY_SETS)}")
    toy = TOY_SETS[name]
    noise = toy.default_noise if noise is None else float(noise)
    k = toy.default_classes if n_classes is None else int(n_classes)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    if not 2 <= k <= MAX_CLASSES:
        raise ValueError(f"toy sets take 2 to {MAX_CLASSES} classes, got {k}")
    k = min(k, toy.max_classes)  # moons and xor are two-class by nature: the choice is ignored
    if n_points < 2 * k:
        raise ValueError(f"{name} needs at least {2 * k} points for {k} classes")
    kwargs = {"n_points": int(n_points), "noise": noise, "seed": int(seed)}
    if toy.max_classes > 2:
        kwargs["n_classes"] = k
    return toy.make(**kwargs)
