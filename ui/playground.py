"""The MLP playground's engine room: a small network learning a 2-D toy set, step by step.

Plain Python and NumPy, no Streamlit: the page keeps one `Playground` in the session and, on
every frame of its live fragment, calls ``step(n)`` then ``snapshot()``. Training a
2-64-64-2 network on 500 points is light (a fraction of a millisecond per batch), so it runs
inside the fragment itself, N batches per frame, with no background thread to manage.

    pg = Playground(PlaygroundConfig(dataset="spiral", hidden=(16, 16)))
    pg.step(20)
    snap = pg.snapshot(resolution=80)   # boundary grid, neuron tiles, losses
    pg.apply(replace(pg.config, lr=0.003))   # live: no reset; architecture changes do reset

Inputs are engineered features of the point (x, y): any of ``x, y, x², y², xy, sin x,
sin y`` (`FEATURES`), each standardised with the training points' mean and spread so that
every feature starts on an equal footing.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

import netcore.activations  # noqa: F401  (registers the activation layers for build_model)
import netcore.layers  # noqa: F401  (registers Dense)
from netcore.base import DTYPE
from netcore.losses import CrossEntropyLoss
from netcore.model import Sequential
from netcore.optim import make_optimizer
from netcore.spec import build_model

PLANE = 6.0
"""The plane shown is [-PLANE, PLANE]^2."""

SCALE = 4.5
"""The toy sets lie in about [-1, 1]^2; times SCALE puts them in [-4.5, 4.5]^2, a range
where sin x and sin y make about one and a half waves across the data."""

FEATURES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x": lambda x, y: x,
    "y": lambda x, y: y,
    "x²": lambda x, y: x * x,
    "y²": lambda x, y: y * y,
    "xy": lambda x, y: x * y,
    "sin x": lambda x, y: np.sin(x),
    "sin y": lambda x, y: np.sin(y),
}
"""Input features a point (x, y) can be described by (the first layer sees these)."""

ACTIVATIONS = ("Tanh", "ReLU", "LeakyReLU", "Sigmoid", "Linear")
"""Per hidden layer; "Linear" means no activation (the layer stays a plain W x + b)."""

DATASETS = ("spiral", "circles", "moons", "xor", "blobs")
OPTIMIZERS = ("SGD", "Adam")
REGULARIZATIONS = ("none", "L1", "L2")

MAX_LAYERS = 8
MAX_NEURONS = 128
"""Generous bounds that keep one frame under ~0.2 s on two cores (not a teaching limit)."""


@dataclass(frozen=True)
class PlaygroundConfig:
    """Everything the playground can be set to. Frozen: change it with `dataclasses.replace`.

    Fields marked *live* take effect while training runs; the others rebuild the data or the
    network (a reset).
    """

    dataset: str = "spiral"
    n_points: int = 500
    n_classes: int = 2
    noise: float = 0.1
    test_ratio: float = 0.3
    seed: int = 0
    features: tuple[str, ...] = ("x", "y")
    hidden: tuple[int, ...] = (16, 16)
    activations: tuple[str, ...] = ("Tanh", "Tanh")
    optimizer: str = "Adam"  # live
    lr: float = 0.01  # live
    regularization: str = "none"  # live
    reg_rate: float = 1e-3  # live
    batch_size: int = 32  # live

    def problems(self) -> list[str]:
        """Every invalid field, one sentence each saying how to fix it ([] if all is well)."""
        out = []
        if self.dataset not in DATASETS:
            out.append(f"unknown data set {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if not self.features:
            out.append("choose at least one input feature (x and y are the usual start)")
        bad = [f for f in self.features if f not in FEATURES]
        if bad:
            out.append(f"unknown feature(s) {bad}; choose from {', '.join(FEATURES)}")
        if len(self.hidden) > MAX_LAYERS:
            out.append(f"at most {MAX_LAYERS} hidden layers here; remove some")
        if any(not 1 <= h <= MAX_NEURONS for h in self.hidden):
            out.append(f"every hidden layer needs between 1 and {MAX_NEURONS} neurons")
        if len(self.activations) != len(self.hidden):
            out.append("give one activation per hidden layer")
        if any(a not in ACTIVATIONS for a in self.activations):
            out.append(f"activations must be among {', '.join(ACTIVATIONS)}")
        if not 0.05 <= self.test_ratio <= 0.9:
            out.append("the test share must be between 5% and 90% of the points")
        if not 2 <= self.n_classes <= 6:
            out.append("choose between 2 and 6 classes")
        if self.noise < 0:
            out.append("noise cannot be negative")
        if self.n_points < 20:
            out.append("use at least 20 points")
        if self.lr <= 0:
            out.append("the learning rate must be positive")
        if self.batch_size < 1:
            out.append("the batch size must be at least 1")
        if self.optimizer not in OPTIMIZERS:
            out.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.regularization not in REGULARIZATIONS:
            out.append(f"regularisation must be one of {', '.join(REGULARIZATIONS)}")
        return out

    def data_key(self) -> tuple:
        return (self.dataset, self.n_points, self.n_classes, self.noise, self.test_ratio, self.seed)

    def model_key(self) -> tuple:
        return (*self.data_key(), self.features, self.hidden, self.activations)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("features", "hidden", "activations"):
            d[k] = list(d[k])
        return d


def make_points(config: PlaygroundConfig) -> tuple[np.ndarray, np.ndarray]:
    """The toy set's points, scaled by `SCALE`, and their int64 labels."""
    from netcore.datasets.toy import make_toy

    xy, labels = make_toy(
        config.dataset,
        n_points=config.n_points,
        noise=config.noise,
        seed=config.seed,
        n_classes=config.n_classes,
    )
    return (np.asarray(xy) * SCALE).astype(DTYPE), np.asarray(labels, dtype=np.int64)


def build_mlp(
    n_inputs: int, hidden, activations, n_classes: int, rng: np.random.Generator
) -> Sequential:
    """An MLP: ``[Dense(h) -> activation]`` per hidden layer, then ``Dense(n_classes)``.

    ``activation == "Linear"`` adds no layer. The loss (softmax + cross-entropy) is separate.
    """
    spec = []
    for h, act in zip(hidden, activations, strict=True):
        spec.append({"type": "Dense", "out_features": int(h)})
        if act != "Linear":
            spec.append({"type": act})
    spec.append({"type": "Dense", "out_features": int(n_classes)})
    return build_model(spec, (n_inputs,), rng=rng)


@dataclass
class Snapshot:
    """What one frame draws (plain arrays; copies, safe to keep).

    grid : (R,) coordinates of the grid's columns and rows (the same for x and y)
    probs : (R, R, K) class probabilities at each grid point, row = y, column = x
    tiles : list per hidden layer of (n_neurons, r, r) neuron outputs on a coarser grid
    tile_ranges : per hidden layer, (lo, hi) of the activation's range or None (unbounded)
    """

    grid: np.ndarray
    probs: np.ndarray
    tile_grid: np.ndarray
    tiles: list[np.ndarray]
    tile_ranges: list[tuple[float, float] | None]
    epoch: float
    steps: int
    train_loss: float
    test_loss: float
    train_acc: float
    test_acc: float
    history: dict[str, np.ndarray]
    step_ms: float


@dataclass
class History:
    """Losses after each frame, indexed by epoch (fractional: samples seen / train size)."""

    epoch: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in asdict(self).items()}


_RANGES = {"Tanh": (-1.0, 1.0), "Sigmoid": (0.0, 1.0)}


class _BlasThreads:
    """Run small matrix products on one BLAS thread while the playground computes.

    NumPy's OpenBLAS starts a thread per core and keeps it spinning after each call. For the
    playground's small products (64x64 weights) that buys nothing and, measured on this
    2-core machine under load, made a frame cost 10-25x more CPU (10 updates: 41 ms of CPU
    instead of 1.7 ms), taking the cores from the browser and from other sessions.
    OpenBLAS has one process-wide setting, so nested and concurrent users are counted and
    the original value is restored when the last one leaves. Without OpenBLAS this does
    nothing.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None
        self._get = self._set = None
        try:
            with open("/proc/self/maps") as maps:
                path = next((ln.split()[-1] for ln in maps if "openblas" in ln), None)
            if path:
                lib = ctypes.CDLL(path)
                for prefix, suffix in (
                    ("scipy_openblas", "64_"),
                    ("openblas", ""),
                    ("openblas", "64_"),
                ):
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and set_ is not None:
                        self._get, self._set = get, set_
                        break
        except (OSError, StopIteration):  # no /proc (not Linux) or no loadable library
            pass

    @contextlib.contextmanager
    def one(self):
        if self._set is None:
            yield
            return
        with self._lock:
            if self._users == 0:
                self._saved = int(self._get())
                self._set(1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._saved:
                    self._set(self._saved)


blas = _BlasThreads()


class Playground:
    """One MLP, its data and its optimizer; trained in small slices by the page.

    Raises ValueError (with every problem) for an invalid configuration.
    """

    def __init__(self, config: PlaygroundConfig):
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.config = config
        self._build_data()
        self._build_model()

    # -- building -------------------------------------------------------------------------
    def _build_data(self) -> None:
        from netcore.datasets import train_test_split

        c = self.config
        xy, labels = make_points(c)
        self.n_classes = int(labels.max()) + 1
        self.xy_train, self.xy_test, self.y_train, self.y_test = train_test_split(
            xy, labels, test_ratio=c.test_ratio, seed=c.seed
        )

    def _build_model(self) -> None:
        c = self.config
        raw = self._raw_features(self.xy_train)
        # Standardise each feature with the training points' statistics (also for the grid).
        self.mean = raw.mean(axis=0)
        self.std = np.where(raw.std(axis=0) > 1e-6, raw.std(axis=0), 1.0).astype(DTYPE)
        self.x_train = self.features(self.xy_train)
        self.x_test = self.features(self.xy_test)
        self.rng = np.random.default_rng(c.seed)
        self.model = build_mlp(len(c.features), c.hidden, c.activations, self.n_classes, self.rng)
        self.loss_fn = CrossEntropyLoss()
        self._make_optimizers()
        self.steps = 0
        self.samples_seen = 0
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.history = History()
        self.step_ms = 0.0
        self._record()

    def _make_optimizers(self) -> None:
        """Weights get the regulariser, biases do not (as in the usual textbook penalty)."""
        c = self.config
        named = self.model.named_parameters()
        weights = [p for n, p in named if n.endswith("weight")]
        biases = [p for n, p in named if not n.endswith("weight")]
        l1 = c.reg_rate if c.regularization == "L1" else 0.0
        l2 = c.reg_rate if c.regularization == "L2" else 0.0
        self.optimizers = [make_optimizer(c.optimizer, weights, lr=c.lr, weight_decay=l2, l1=l1)]
        if biases:
            self.optimizers.append(make_optimizer(c.optimizer, biases, lr=c.lr))
        self._opt_name = c.optimizer

    def _raw_features(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.stack([FEATURES[f](x, y) for f in self.config.features], axis=1).astype(DTYPE)

    def features(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) points -> (N, n_features) standardised network inputs."""
        return ((self._raw_features(xy) - self.mean) / self.std).astype(DTYPE)

    # -- changing settings ----------------------------------------------------------------
    def apply(self, config: PlaygroundConfig) -> bool:
        """Adopt a new configuration; returns True when it needed a reset (new data/network).

        Learning rate, regularisation, batch size and optimizer change in place, so they can
        be moved while training runs.
        """
        problems = config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        old, self.config = self.config, config
        if config.data_key() != old.data_key():
            self._build_data()
            self._build_model()
            return True
        if config.model_key() != old.model_key():
            self._build_model()
            return True
        if config.optimizer != self._opt_name:
            self._make_optimizers()  # fresh moment estimates; the weights stay
        l1 = config.reg_rate if config.regularization == "L1" else 0.0
        l2 = config.reg_rate if config.regularization == "L2" else 0.0
        self.optimizers[0].weight_decay, self.optimizers[0].l1 = l2, l1
        for opt in self.optimizers:
            opt.lr = config.lr
        return False

    def reset(self) -> None:
        """New initial weights from the seed; same data."""
        self._build_model()

    # -- training -------------------------------------------------------------------------
    def _next_batch(self) -> np.ndarray:
        b = min(self.config.batch_size, len(self.y_train))
        if self._pos + b > len(self._order):  # a new epoch: reshuffle
            self._order = self.rng.permutation(len(self.y_train))
            self._pos = 0
        idx = self._order[self._pos : self._pos + b]
        self._pos += b
        return idx

    def step(self, n: int = 1) -> None:
        """Train on `n` mini-batches, then record the train and test loss once."""
        with blas.one():
            self._step(n)

    def _step(self, n: int) -> None:
        t0 = time.perf_counter()
        model, loss_fn = self.model, self.loss_fn
        model.train()
        for _ in range(n):
            idx = self._next_batch()
            logits = model.forward(self.x_train[idx])
            loss_fn.forward(logits, self.y_train[idx])
            model.backward(loss_fn.backward())
            for opt in self.optimizers:
                opt.step()
            self.samples_seen += len(idx)
        self.steps += n
        self.step_ms = (time.perf_counter() - t0) * 1000 / max(n, 1)
        self._record()

    @property
    def epoch(self) -> float:
        return self.samples_seen / len(self.y_train)

    def _loss_acc(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        if len(y) == 0:
            return float("nan"), float("nan")
        self.model.eval()
        logits = self.model.forward(x)
        loss = float(self.loss_fn.forward(logits, y))
        acc = float(np.mean(np.argmax(logits, axis=1) == y))
        self.model.train()
        return loss, acc

    def _record(self) -> None:
        self._train = self._loss_acc(self.x_train, self.y_train)
        self._test = self._loss_acc(self.x_test, self.y_test)
        h = self.history
        h.epoch.append(self.epoch)
        h.train_loss.append(self._train[0])
        h.test_loss.append(self._test[0])

    # -- what the page draws --------------------------------------------------------------
    def predict_proba(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) points -> (N, K) class probabilities (eval mode)."""
        return self.model.predict_proba(self.features(np.asarray(xy, dtype=DTYPE)), 4096)

    def snapshot(self, resolution: int = 80, tile_resolution: int = 20) -> Snapshot:
        """The boundary grid, every hidden neuron's output on a coarser grid, and the losses.

        One forward pass over a ``resolution``^2 grid gives the class probabilities; the
        hidden activations are captured on a ``tile_resolution``^2 grid.
        """
        with blas.one():
            return self._snapshot(resolution, tile_resolution)

    def _snapshot(self, resolution: int, tile_resolution: int) -> Snapshot:
        grid = np.linspace(-PLANE, PLANE, resolution, dtype=DTYPE)
        gx, gy = np.meshgrid(grid, grid)  # row = y, column = x
        probs = self.predict_proba(np.stack([gx.ravel(), gy.ravel()], axis=1))
        probs = probs.reshape(resolution, resolution, -1)

        tgrid = np.linspace(-PLANE, PLANE, tile_resolution, dtype=DTYPE)
        tx, ty = np.meshgrid(tgrid, tgrid)
        tiles, ranges = self.hidden_outputs(np.stack([tx.ravel(), ty.ravel()], axis=1))
        tiles = [t.T.reshape(-1, tile_resolution, tile_resolution) for t in tiles]
        h = self.history
        return Snapshot(
            grid=grid,
            probs=probs,
            tile_grid=tgrid,
            tiles=tiles,
            tile_ranges=ranges,
            epoch=self.epoch,
            steps=self.steps,
            train_loss=self._train[0],
            test_loss=self._test[0],
            train_acc=self._train[1],
            test_acc=self._test[1],
            history=h.arrays(),
            step_ms=self.step_ms,
        )

    def hidden_outputs(self, xy: np.ndarray) -> tuple[list[np.ndarray], list]:
        """Each hidden layer's output (after its activation) for the points ``xy``.

        Returns a list of (N, n_neurons) arrays, one per hidden layer, and each layer's
        activation range ((lo, hi) or None when unbounded).
        """
        self.model.eval()
        self.model.forward(self.features(np.asarray(xy, dtype=DTYPE)), capture=True)
        self.model.train()
        acts = self.model.activations
        outs, ranges, k = [], [], 0
        for act in self.config.activations:
            k += 1 if act == "Linear" else 2  # Dense (+ activation layer)
            outs.append(acts[k - 1])
            ranges.append(_RANGES.get(act))
        return outs, ranges
