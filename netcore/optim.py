"""Optimizers: turn the gradients in ``p.grad`` into a step on ``p.data``.

The update rules are PyTorch's (same defaults, same order of operations), so a student
can compare runs. For a parameter ``w`` with gradient ``g``, learning rate ``lr``, and
``t`` the number of steps taken so far including this one:

SGD (momentum ``mu``, weight decay ``wd``)::

    g = g + wd * w                     (L2 penalty folded into the gradient)
    b = mu * b + g                     (b starts at 0, so the first b is g)
    g = g + mu * b   if nesterov else   g = b
    w = w - lr * g

Adam (``beta1``, ``beta2``, ``eps``)::

    g = g + wd * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    w = w - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

AdamW: as Adam without the L2 term; instead the weights decay directly first
(Loshchilov & Hutter): ``w = w * (1 - lr * wd)``.

RMSprop (``alpha``, ``eps``, momentum ``mu``)::

    g = g + wd * w
    v = alpha * v + (1 - alpha) * g**2
    u = g / (sqrt(v) + eps)
    b = mu * b + u;  w = w - lr * b     if mu > 0, else   w = w - lr * u

L1 regularisation (not in PyTorch's optimizers; the MLP playground needs it): every
optimizer takes ``l1``, which adds ``l1 * sign(w)`` to the gradient next to the L2 term,
i.e. the gradient of the penalty ``l1 * sum(|w|)``. Both penalties apply to every parameter
the optimizer was given (biases too, as in PyTorch); pass only the weights to regularise
only them.

Updates are done in place with scratch arrays allocated once, because on a small MLP a
training step takes well under a millisecond and allocations would show. ``p.grad`` is
never modified.
"""

from __future__ import annotations

import math

import numpy as np

from netcore.base import Parameter


class Optimizer:
    """Base class: holds the parameters, the learning rate and a step counter.

    Parameters
    ----------
    params : iterable of Parameter (e.g. ``model.parameters()``)
    lr : float, learning rate; may be changed between steps (``opt.lr = 0.01``).
    weight_decay : float, L2 penalty coefficient (see the module docstring).
    l1 : float, L1 penalty coefficient.
    """

    def __init__(self, params, lr: float, *, weight_decay: float = 0.0, l1: float = 0.0):
        self.params: list[Parameter] = list(params)
        if not self.params:
            raise ValueError("the optimizer got no parameters: the model has nothing to train")
        for name, value in (("lr", lr), ("weight_decay", weight_decay), ("l1", l1)):
            _check_nonneg(name, value)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.l1 = float(l1)
        self.step_count = 0
        # One scratch array per parameter for the regularised gradient and temporaries;
        # a second set only when needed (L1, Nesterov).
        self._tmp = [np.empty_like(p.data) for p in self.params]
        self._tmp2: list[np.ndarray] | None = None

    def step(self) -> None:
        """Update every parameter from its ``.grad``."""
        self.step_count += 1
        for i, p in enumerate(self.params):
            self._update(i, p.data, self._grad(i, p))

    def _grad(self, i: int, p: Parameter) -> np.ndarray:
        """The gradient with the L2/L1 penalties added (a scratch array if any is on)."""
        if not (self.weight_decay or self.l1):
            return p.grad
        g = self._tmp[i]
        if self.weight_decay:
            np.multiply(p.data, self.weight_decay, out=g)
            g += p.grad
        else:
            np.copyto(g, p.grad)
        if self.l1:
            # g += l1 * sign(w), through a second scratch to stay allocation-free
            s = self._scratch(i)
            np.sign(p.data, out=s)
            s *= self.l1
            g += s
        return g

    def _scratch(self, i: int) -> np.ndarray:
        if self._tmp2 is None:
            self._tmp2 = self._zeros()
        return self._tmp2[i]

    def _zeros(self) -> list[np.ndarray]:
        return [np.zeros_like(p.data) for p in self.params]

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient to 0 (not needed here: backward sets, never accumulates)."""
        for p in self.params:
            p.grad[...] = 0

    # -- state --------------------------------------------------------------------------
    def hyperparameters(self) -> dict:
        """The settings as plain JSON values, e.g. for a run's saved configuration."""
        return {
            "type": type(self).__name__,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "l1": self.l1,
        }

    def _slots(self) -> dict[str, list[np.ndarray]]:
        """The per-parameter state arrays by name (momentum buffers, moments)."""
        return {}

    def state_dict(self) -> dict:
        """Hyperparameters, the step count and copies of the per-parameter state."""
        state = {"hyperparameters": self.hyperparameters(), "step_count": self.step_count}
        for name, arrays in self._slots().items():
            state[name] = [a.copy() for a in arrays]
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore `state_dict` output (same parameters in the same order)."""
        slots = self._slots()
        for name, arrays in slots.items():
            saved = state.get(name)
            if (
                saved is None
                or len(saved) != len(arrays)
                or any(np.shape(s) != a.shape for s, a in zip(saved, arrays, strict=True))
            ):
                raise ValueError(f"optimizer state {name!r} does not match these parameters")
        for name, arrays in slots.items():
            for a, s in zip(arrays, state[name], strict=True):
                a[...] = s
        self.step_count = int(state.get("step_count", 0))
        for key, value in state.get("hyperparameters", {}).items():
            if key != "type" and hasattr(self, key):
                setattr(self, key, tuple(value) if isinstance(value, list) else value)


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``SGD(params, lr, momentum=0, nesterov=False, weight_decay=0, l1=0)``; the rule is in
    the module docstring.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        l1: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay=weight_decay, l1=l1)
        _check_nonneg("momentum", momentum)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.buf = self._zeros() if momentum else []

    def _update(self, i, w, g):
        if self.momentum:
            if not self.buf:  # momentum switched on mid-run: start from zero velocity
                self.buf = self._zeros()
            b = self.buf[i]
            b *= self.momentum
            b += g
            if self.nesterov:
                d = self._scratch(i)
                np.multiply(b, self.momentum, out=d)
                d += g
            else:
                d = b
        else:
            d = g
        # _tmp[i] may hold g, but g is no longer needed: reuse it for lr * d
        step = self._tmp[i]
        np.multiply(d, self.lr, out=step)
        w -= step

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _slots(self):
        return {"buf": self.buf} if self.momentum else {}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is an L2 term in the
    gradient, exactly like PyTorch's ``Adam`` (use `AdamW` for decoupled decay)."""

    decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        l1: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay=0.0, l1=l1)
        _check_nonneg("weight_decay", weight_decay)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        self.betas = (float(b1), float(b2))
        self.eps = float(eps)
        # Adam folds L2 into the gradient (base class); AdamW decays the weights directly.
        self._decay = float(weight_decay)
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self._denom = [np.empty_like(p.data) for p in self.params]

    @property
    def weight_decay(self) -> float:
        return 0.0 if self.decoupled else self._decay

    @weight_decay.setter
    def weight_decay(self, value: float) -> None:
        self._decay = float(value)

    def step(self) -> None:
        self.step_count += 1
        b1, b2 = self.betas
        # Bias corrections: m and v start at 0, so early averages are too small.
        step_size = self.lr / (1 - b1**self.step_count)
        sqrt_bc2 = math.sqrt(1 - b2**self.step_count)
        decay = 1 - self.lr * self._decay if self.decoupled else 1.0
        for i, p in enumerate(self.params):
            g = self._grad(i, p)
            m, v, denom = self.m[i], self.v[i], self._denom[i]
            np.multiply(g, 1 - b1, out=denom)  # denom is a free scratch until below
            m *= b1
            m += denom
            np.multiply(g, g, out=denom)
            denom *= 1 - b2
            v *= b2
            v += denom
            # denom = sqrt(v) / sqrt(1 - b2^t) + eps   (PyTorch's order of operations)
            np.sqrt(v, out=denom)
            denom /= sqrt_bc2
            denom += self.eps
            if decay != 1.0:
                p.data *= decay
            upd = self._tmp[i]
            np.divide(m, denom, out=upd)
            upd *= step_size
            p.data -= upd

    def hyperparameters(self):
        return {
            "type": type(self).__name__,
            "lr": self.lr,
            "betas": list(self.betas),
            "eps": self.eps,
            "weight_decay": self._decay,
            "l1": self.l1,
        }

    def _slots(self):
        return {"m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w *= 1 - lr * weight_decay`` before each step."""

    decoupled = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        l1: float = 0.0,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, l1=l1)


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root-mean-square of its history."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        *,
        l1: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay=weight_decay, l1=l1)
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        _check_nonneg("momentum", momentum)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.square_avg = [np.zeros_like(p.data) for p in self.params]
        self.buf = self._zeros() if momentum else []
        self._denom = [np.empty_like(p.data) for p in self.params]

    def _update(self, i, w, g):
        v, denom = self.square_avg[i], self._denom[i]
        v *= self.alpha
        np.multiply(g, g, out=denom)
        denom *= 1 - self.alpha
        v += denom
        np.sqrt(v, out=denom)
        denom += self.eps
        # g may be the scratch _tmp[i] (penalties on); dividing in place is then fine
        u = self._tmp[i]
        np.divide(g, denom, out=u)
        if self.momentum:
            if not self.buf:
                self.buf = self._zeros()
            b = self.buf[i]
            b *= self.momentum
            b += u
            np.multiply(b, self.lr, out=u)
        else:
            u *= self.lr
        w -= u

    def hyperparameters(self):
        return {
            **super().hyperparameters(),
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
        }

    def _slots(self):
        slots = {"square_avg": self.square_avg}
        if self.momentum:
            slots["buf"] = self.buf
        return slots


OPTIMIZERS = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop}
"""Optimizer classes by name, for building one from a saved configuration."""


def make_optimizer(name: str, params, **hyperparameters) -> Optimizer:
    """``make_optimizer("Adam", model.parameters(), lr=1e-3)``; ValueError for unknown names."""
    cls = OPTIMIZERS.get(name)
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return cls(params, **hyperparameters)


def _check_nonneg(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number of at least 0, got {value!r}")
