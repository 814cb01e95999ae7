"""One serialisable object for a training run: `RunConfig`, plus the server's limits.

Everything that decides what a run does (dataset, architecture, hyperparameters, seed) lives in
a `RunConfig`. It round-trips through plain JSON (`to_dict` / `from_dict`), so the same object
is saved next to the weights in the run store, offered as a download, and can later be put in a
URL. `from_dict` validates every field and raises `ValueError` with one line per problem.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field, fields

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
"""Optimizer names the Train page offers (keys into netcore.optim)."""

SCHEDULES = ("constant", "step", "cosine", "warmup_cosine")
"""Learning-rate schedules: constant, step decay (x0.1 at 50% and 75%), cosine, warm-up + cosine."""

CONFIG_VERSION = 1


@dataclass
class RunConfig:
    """Everything needed to reproduce a training run.

    Attributes
    ----------
    dataset : str
        Dataset key from ``netcore.datasets.list_datasets()``, e.g. ``"mnist_5k"``.
    arch : list of dict
        Architecture spec, one dict per layer, e.g. ``{"type": "Conv2D", "out_channels": 6,
        "kernel_size": 5}``; built by ``netcore.model.build_model(arch, input_shape)``.
    input_shape : tuple of int
        Shape of one sample, no batch axis, e.g. ``(1, 28, 28)``.
    class_names : list of str
        Name of each class, index = label.
    optimizer, lr, batch_size, epochs, weight_decay, momentum, seed, schedule, augment
        Training hyperparameters.
    name : str
        A label the user gave the run (optional).
    """

    dataset: str = "mnist_5k"
    arch: list = field(default_factory=list)
    input_shape: tuple = (1, 28, 28)
    class_names: list = field(default_factory=lambda: [str(i) for i in range(10)])
    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 5
    weight_decay: float = 0.0
    momentum: float = 0.9
    seed: int = 0
    schedule: str = "constant"
    augment: bool = False
    name: str = ""

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict (tuples become lists), with a format version."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["arch"] = copy.deepcopy(self.arch)
        d["version"] = CONFIG_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Build and validate a config from a dict (e.g. parsed JSON).

        Unknown keys are ignored (newer files stay loadable); missing keys take defaults.
        Raises ``ValueError`` listing every invalid field.
        """
        if not isinstance(d, dict):
            raise ValueError("a run configuration must be a JSON object (a dict)")
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        problems = []
        for key, kind in (("lr", float), ("weight_decay", float), ("momentum", float)):
            if key in kwargs:
                try:
                    kwargs[key] = kind(kwargs[key])
                except (TypeError, ValueError):
                    problems.append(f"{key}: expected a number, got {kwargs[key]!r}")
                    kwargs.pop(key)
        for key in ("batch_size", "epochs", "seed"):
            if key in kwargs:
                v = kwargs[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
                    problems.append(f"{key}: expected a whole number, got {v!r}")
                    kwargs.pop(key)
                else:
                    kwargs[key] = int(v)
        if "input_shape" in kwargs:
            try:
                kwargs["input_shape"] = tuple(int(s) for s in kwargs["input_shape"])
            except (TypeError, ValueError):
                problems.append(
                    f"input_shape: expected a list of whole numbers, got {kwargs['input_shape']!r}"
                )
                kwargs.pop("input_shape")
        if "augment" in kwargs:
            kwargs["augment"] = bool(kwargs["augment"])
        if "class_names" in kwargs:
            if not isinstance(kwargs["class_names"], (list, tuple)):
                problems.append("class_names: expected a list of names")
                kwargs.pop("class_names")
            else:
                kwargs["class_names"] = [str(c) for c in kwargs["class_names"]]
        cfg = cls(**kwargs)
        problems += cfg.problems()
        if problems:
            raise ValueError("invalid run configuration:\n- " + "\n- ".join(problems))
        return cfg

    # -- validation --------------------------------------------------------------------
    def problems(self, limits: Limits | None = None) -> list[str]:
        """Every reason this config cannot run, as readable sentences (empty list = valid)."""
        limits = limits or Limits.from_env()
        out = []
        if not isinstance(self.dataset, str) or not self.dataset:
            out.append("dataset: choose a dataset")
        if not isinstance(self.arch, list) or not all(
            isinstance(layer, dict) and isinstance(layer.get("type"), str) for layer in self.arch
        ):
            out.append('arch: expected a list of layers like {"type": "Dense", ...}')
        if not self.input_shape or any(s <= 0 for s in self.input_shape):
            out.append(f"input_shape: sizes must be positive, got {self.input_shape}")
        if self.optimizer not in OPTIMIZERS:
            out.append(f"optimizer: {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        if not (0 < self.lr <= 10):
            out.append(f"lr: the learning rate must be in (0, 10], got {self.lr}")
        if not (1 <= self.batch_size <= 4096):
            out.append(f"batch_size: must be between 1 and 4096, got {self.batch_size}")
        if not (1 <= self.epochs <= limits.max_epochs):
            out.append(
                f"epochs: must be between 1 and {limits.max_epochs} on this server, "
                f"got {self.epochs}"
            )
        if not (0 <= self.weight_decay <= 1):
            out.append(f"weight_decay: must be between 0 and 1, got {self.weight_decay}")
        if not (0 <= self.momentum < 1):
            out.append(f"momentum: must be in [0, 1), got {self.momentum}")
        if not (0 <= self.seed < 2**32):
            out.append(f"seed: must be between 0 and 2**32 - 1, got {self.seed}")
        if self.schedule not in SCHEDULES:
            out.append(f"schedule: {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        return out

    def replace(self, **changes) -> RunConfig:
        """A copy with some fields changed (the architecture list is copied too)."""
        d = self.to_dict()
        d.update(changes)
        d.pop("version", None)
        names = {f.name for f in fields(self)}
        cfg = RunConfig(**{k: v for k, v in d.items() if k in names})
        cfg.input_shape = tuple(cfg.input_shape)
        return cfg


@dataclass(frozen=True)
class Limits:
    """What one session may ask of a shared server (a classroom of thirty on two cores).

    Read from the environment so a teacher can tune them without code changes:
    ``NETCORE_MAX_JOBS`` (jobs computing at once), ``NETCORE_MAX_LIVE_JOBS`` (jobs alive,
    computing or queued), ``NETCORE_MAX_EPOCHS``, ``NETCORE_MAX_PARAMS``.
    """

    max_jobs: int = 2
    max_live_jobs: int = 40
    max_epochs: int = 50
    max_params: int = 2_000_000

    @classmethod
    def from_env(cls) -> Limits:
        def _int(name: str, default: int) -> int:
            try:
                return max(1, int(os.environ.get(name, default)))
            except ValueError:
                return default

        return cls(
            max_jobs=_int("NETCORE_MAX_JOBS", cls.max_jobs),
            max_live_jobs=_int("NETCORE_MAX_LIVE_JOBS", cls.max_live_jobs),
            max_epochs=_int("NETCORE_MAX_EPOCHS", cls.max_epochs),
            max_params=_int("NETCORE_MAX_PARAMS", cls.max_params),
        )
