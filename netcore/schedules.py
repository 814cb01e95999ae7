"""Learning-rate schedules: the learning rate as a function of the training step.

A schedule is an object with ``lr_at(step, base_lr) -> float``; ``step`` counts finished
optimizer steps from 0. The `Trainer` asks it before every step and sets ``optimizer.lr``,
so changing the base rate mid-run (``trainer.base_lr = ...``) rescales the whole curve from
that step on. Schedules count steps (mini-batches), not epochs: multiply by
``trainer.steps_per_epoch`` to think in epochs.
"""

from __future__ import annotations

import math


class Schedule:
    """Base class; subclasses override `lr_at`."""

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def config(self) -> dict:
        """Constructor arguments plus ``type``, as JSON (see `make_schedule`)."""
        return {"type": type(self).__name__, **vars(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class ConstantLR(Schedule):
    """The base learning rate at every step."""

    def lr_at(self, step: int, base_lr: float) -> float:
        return float(base_lr)


class StepLR(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps: ``base * gamma**(t // size)``."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"step_size must be a whole number of steps >= 1, got {step_size!r}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.step_size = step_size
        self.gamma = float(gamma)

    def lr_at(self, step: int, base_lr: float) -> float:
        return float(base_lr) * self.gamma ** (step // self.step_size)


class CosineLR(Schedule):
    """Optional linear warm-up, then a half cosine from the base rate down to ``min_lr``.

    ``warmup_steps`` steps rise linearly from ``base/warmup_steps`` to ``base``; the
    following ``total_steps - warmup_steps`` steps follow
    ``min_lr + (base - min_lr) * (1 + cos(pi * progress)) / 2``; after ``total_steps`` the
    rate stays at ``min_lr``.
    """

    def __init__(self, total_steps: int, min_lr: float = 0.0, warmup_steps: int = 0):
        if not (isinstance(total_steps, int) and total_steps >= 1):
            raise ValueError(f"total_steps must be a whole number >= 1, got {total_steps!r}")
        if not (isinstance(warmup_steps, int) and 0 <= warmup_steps < total_steps):
            raise ValueError(
                f"warmup_steps must be a whole number in [0, total_steps), got {warmup_steps!r}"
            )
        if min_lr < 0:
            raise ValueError(f"min_lr must be at least 0, got {min_lr!r}")
        self.total_steps = total_steps
        self.min_lr = float(min_lr)
        self.warmup_steps = warmup_steps

    def lr_at(self, step: int, base_lr: float) -> float:
        if step < self.warmup_steps:
            return float(base_lr) * (step + 1) / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + (float(base_lr) - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


SCHEDULES = {"ConstantLR": ConstantLR, "StepLR": StepLR, "CosineLR": CosineLR}


def make_schedule(config: dict | None) -> Schedule:
    """Rebuild a schedule from `Schedule.config` output; None gives `ConstantLR`."""
    if config is None:
        return ConstantLR()
    kwargs = dict(config)
    name = kwargs.pop("type", None)
    cls = SCHEDULES.get(name)
    if cls is None:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"{name}: {err}") from None
