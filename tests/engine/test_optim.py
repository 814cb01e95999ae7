"""Optimizers against hand-computed values and a plain float64 transcription of PyTorch's
update rules; learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netcore import SGD, Adam, AdamW, ConstantLR, CosineLR, Parameter, RMSprop, StepLR
from netcore.optim import make_optimizer
from netcore.schedules import make_schedule


def param(values, grad):
    p = Parameter(np.array(values, dtype=np.float32))
    p.grad = np.array(grad, dtype=np.float32)
    return p


# -- hand-computed single steps ------------------------------------------------------------
def test_sgd_by_hand():
    p = param([1.0], [0.5])
    SGD([p], lr=0.1).step()
    assert p.data[0] == pytest.approx(0.95)


def test_sgd_momentum_by_hand():
    p = param([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.step()  # b = 0.5, w = 1 - 0.05
    assert p.data[0] == pytest.approx(0.95)
    opt.step()  # b = 0.9 * 0.5 + 0.5 = 0.95, w = 0.95 - 0.095
    assert p.data[0] == pytest.approx(0.855)


def test_sgd_nesterov_by_hand():
    p = param([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    opt.step()  # b = 0.5, d = 0.5 + 0.9 * 0.5 = 0.95
    assert p.data[0] == pytest.approx(0.905)
    opt.step()  # b = 0.95, d = 0.5 + 0.855 = 1.355
    assert p.data[0] == pytest.approx(0.7695)


def test_sgd_weight_decay_and_l1_by_hand():
    p = param([1.0, -2.0, 0.0], [0.5, 0.5, 0.5])
    SGD([p], lr=0.1, weight_decay=0.1).step()  # g = 0.5 + 0.1 w
    np.testing.assert_allclose(p.data, [1 - 0.06, -2 - 0.1 * (0.5 - 0.2), -0.05], rtol=1e-6)
    q = param([1.0, -2.0, 0.0], [0.0, 0.0, 0.0])
    SGD([q], lr=0.1, l1=0.1).step()  # g = 0.1 sign(w): zero stays zero
    np.testing.assert_allclose(q.data, [0.99, -1.99, 0.0], rtol=1e-6)


def test_adam_by_hand():
    p = param([1.0], [0.5])
    opt = Adam([p], lr=0.1)
    opt.step()  # bias-corrected first step: lr * g / |g|
    assert p.data[0] == pytest.approx(0.9, abs=1e-6)
    p.grad[:] = 0.25
    opt.step()
    m = 0.9 * 0.05 + 0.1 * 0.25  # 0.07
    v = 0.999 * 0.00025 + 0.001 * 0.0625  # 0.00031225
    expected = 0.9 - 0.1 * (m / 0.19) / (math.sqrt(v / (1 - 0.999**2)) + 1e-8)
    assert expected == pytest.approx(0.806782, abs=1e-6)
    assert p.data[0] == pytest.approx(expected, abs=1e-6)


def test_adamw_by_hand():
    p = param([1.0], [0.5])
    AdamW([p], lr=0.1, weight_decay=0.1).step()  # w *= 1 - 0.01, then - 0.1
    assert p.data[0] == pytest.approx(0.89, abs=1e-6)


def test_rmsprop_by_hand():
    p = param([1.0], [0.5])
    RMSprop([p], lr=0.01).step()  # v = 0.01 * 0.25, u = 0.5 / 0.05 = 10
    assert p.data[0] == pytest.approx(0.9, abs=1e-6)


# -- many steps against a plain float64 transcription -------------------------------------
def reference(kind, w, grads, lr, **h):
    """PyTorch's update rules written out plainly in float64 (no in-place tricks)."""
    w = w.astype(np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    b = np.zeros_like(w)
    wd, l1 = h.get("weight_decay", 0.0), h.get("l1", 0.0)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        g = g + l1 * np.sign(w)
        if kind == "AdamW":
            w = w * (1 - lr * wd)  # decoupled decay
        else:
            g = g + wd * w  # L2 in the gradient
        if kind == "SGD":
            mu = h.get("momentum", 0.0)
            if mu:
                b = mu * b + g
                g = g + mu * b if h.get("nesterov") else b
            w = w - lr * g
        elif kind in ("Adam", "AdamW"):
            b1, b2 = h.get("betas", (0.9, 0.999))
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + h.get("eps", 1e-8))
        elif kind == "RMSprop":
            a, mu = h.get("alpha", 0.99), h.get("momentum", 0.0)
            v = a * v + (1 - a) * g * g
            u = g / (np.sqrt(v) + h.get("eps", 1e-8))
            if mu:
                b = mu * b + u
                u = b
            w = w - lr * u
    return w


CASES = [
    ("SGD", 0.05, {}),
    ("SGD", 0.05, {"momentum": 0.9}),
    ("SGD", 0.05, {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", 0.05, {"momentum": 0.9, "l1": 0.01}),
    ("Adam", 0.01, {}),
    ("Adam", 0.01, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    ("AdamW", 0.01, {"weight_decay": 0.1}),
    ("AdamW", 0.01, {"weight_decay": 0.1, "l1": 0.001}),
    ("RMSprop", 0.01, {}),
    ("RMSprop", 0.01, {"momentum": 0.9, "weight_decay": 0.01, "alpha": 0.9}),
]


@pytest.mark.parametrize(("kind", "lr", "hyper"), CASES)
def test_matches_reference_over_many_steps(kind, lr, hyper):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(25)]
    p = Parameter(w0.copy())
    opt = make_optimizer(kind, [p], lr=lr, **hyper)
    for g in grads:
        p.grad = g.copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, g)  # the gradient is never modified
    expected = reference(kind, w0, grads, lr, **hyper)
    np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-6)
    assert p.data.dtype == np.float32


def test_learning_rate_can_change_between_steps():
    p = param([1.0], [1.0])
    opt = SGD([p], lr=0.1)
    opt.step()
    opt.lr = 0.01
    opt.step()
    assert p.data[0] == pytest.approx(1 - 0.1 - 0.01)


def test_updates_are_in_place():
    p = param([1.0, 2.0], [1.0, 1.0])
    data = p.data
    for opt in (SGD([p], 0.1, momentum=0.9), Adam([p]), AdamW([p]), RMSprop([p])):
        opt.step()
        assert p.data is data


def test_state_dict_resumes_identically():
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(5).astype(np.float32) for _ in range(6)]
    a = Parameter(np.ones(5, np.float32))
    opt_a = Adam([a], lr=0.1)
    for g in grads[:3]:
        a.grad = g
        opt_a.step()
    state = opt_a.state_dict()
    b = Parameter(a.data.copy())
    opt_b = Adam([b], lr=0.5)
    opt_b.load_state_dict(state)
    assert opt_b.lr == 0.1 and opt_b.step_count == 3
    for g in grads[3:]:
        a.grad = b.grad = g
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="does not match"):
        Adam([Parameter(np.ones(4, np.float32))]).load_state_dict(state)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SGD(p, lr=-1),
        lambda p: SGD(p, lr=0.1, nesterov=True),
        lambda p: SGD(p, lr=0.1, momentum=-0.5),
        lambda p: Adam(p, betas=(1.0, 0.999)),
        lambda p: Adam(p, weight_decay=-1),
        lambda p: RMSprop(p, alpha=1.5),
        lambda p: SGD([], lr=0.1),
        lambda p: SGD(p, lr=float("nan")),
    ],
)
def test_invalid_hyperparameters_are_refused(make):
    with pytest.raises(ValueError):
        make([Parameter(np.ones(2, np.float32))])


def test_make_optimizer_unknown_name():
    with pytest.raises(ValueError, match="SGD"):
        make_optimizer("Adagrad", [Parameter(np.ones(2, np.float32))], lr=0.1)


# -- schedules -------------------------------------------------------------------------------
def test_constant_and_step_schedules():
    assert ConstantLR().lr_at(1000, 0.3) == 0.3
    s = StepLR(step_size=10, gamma=0.5)
    assert [s.lr_at(t, 0.1) for t in (0, 9, 10, 19, 20, 35)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.0125]
    )


def test_cosine_schedule_with_warmup():
    s = CosineLR(total_steps=110, min_lr=0.001, warmup_steps=10)
    assert s.lr_at(0, 0.1) == pytest.approx(0.01)  # warm-up from base / warmup_steps
    assert s.lr_at(9, 0.1) == pytest.approx(0.1)
    assert s.lr_at(10, 0.1) == pytest.approx(0.1)
    assert s.lr_at(60, 0.1) == pytest.approx(0.001 + (0.1 - 0.001) / 2)  # half way
    assert s.lr_at(110, 0.1) == pytest.approx(0.001)
    assert s.lr_at(500, 0.1) == pytest.approx(0.001)
    lrs = [s.lr_at(t, 0.1) for t in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))  # decreasing


def test_schedule_config_round_trip_and_errors():
    for s in (ConstantLR(), StepLR(5, 0.3), CosineLR(100, 0.01, 5)):
        again = make_schedule(s.config())
        assert type(again) is type(s) and again.config() == s.config()
        assert [again.lr_at(t, 0.2) for t in range(0, 120, 7)] == [
            s.lr_at(t, 0.2) for t in range(0, 120, 7)
        ]
    assert isinstance(make_schedule(None), ConstantLR)
    for bad in ({"type": "Nope"}, {"type": "StepLR", "step_size": 0}, {"type": "StepLR"}):
        with pytest.raises(ValueError):
            make_schedule(bad)
    with pytest.raises(ValueError):
        CosineLR(10, warmup_steps=10)


def test_momentum_and_penalties_can_be_switched_on_mid_run():
    p = param([1.0], [0.5])
    opt = SGD([p], lr=0.1)
    opt.step()
    opt.momentum, opt.weight_decay, opt.l1 = 0.9, 0.1, 0.1
    opt.step()  # fresh velocity: b = g = 0.5 + 0.1 * 0.95 + 0.1
    assert p.data[0] == pytest.approx(0.95 - 0.1 * (0.5 + 0.095 + 0.1))
    r = param([1.0], [0.5])
    rms = RMSprop([r], lr=0.01)
    rms.step()
    rms.momentum = 0.5
    rms.step()
    assert np.isfinite(r.data).all() and r.data[0] < 0.9
