"""Trainer, fit, History and the training statistics."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from netcore import (
    SGD,
    Adam,
    CrossEntropyLoss,
    History,
    MSELoss,
    StepLR,
    Trainer,
    build_model,
    fit,
)
from netcore.monitor import BINS, Histogram

MLP = [
    {"type": "Dense", "out_features": 16},
    {"type": "ReLU"},
    {"type": "Dense", "out_features": 2},
]


def quadrants(n=400, seed=0):
    """XOR of the signs of two coordinates: not linearly separable."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(np.int64)
    return X, y


def make_trainer(seed=0, *, lr=0.1, epochs=2, batch_size=32, n=100, opt=SGD, **kw):
    X, y = quadrants(n)
    model = build_model(MLP, (2,), rng=np.random.default_rng(seed))
    optimizer = opt(model.parameters(), lr=lr)
    return Trainer(model, CrossEntropyLoss(), optimizer, X, y, batch_size=batch_size,
                   epochs=epochs, rng=np.random.default_rng(seed + 1), **kw)  # fmt: skip


def curves(history: History) -> dict:
    return {k: v for k, v in history.to_dict()["steps"].items() if k != "time"}


def weights(trainer):
    return [p.data.copy() for p in trainer.model.parameters()]


# -- the loop ----------------------------------------------------------------------------------
def test_sizes_and_partial_last_batch():
    seen = []

    def record(xb, rng):
        seen.append(len(xb))
        return xb

    t = make_trainer(n=100, batch_size=32, epochs=3, augment=record)
    assert t.steps_per_epoch == 4 and t.total_steps == 12
    events = []
    while (event := t.step()) is not None:
        events.append(event)
    assert len(events) == 12 and t.step_count == 12 and t.epoch == 3
    assert seen == [32, 32, 32, 4] * 3
    assert t.done and t.stop_reason == "finished" and t.progress == 1.0
    assert [e.step for e in events] == list(range(1, 13))
    assert [e.epoch for e in events] == [1] * 4 + [2] * 4 + [3] * 4
    assert [e.epoch_metrics is not None for e in events] == [False, False, False, True] * 3
    assert events[-1].done and events[-1].stop_reason == "finished"
    assert t.history.steps["epoch"] == [1] * 4 + [2] * 4 + [3] * 4


def test_every_sample_once_per_epoch_in_a_new_order():
    X = np.arange(50, dtype=np.float32)[:, None].repeat(2, axis=1)
    y = np.zeros(50, np.int64)
    orders = []
    model = build_model(MLP, (2,), rng=np.random.default_rng(0))
    t = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), 0.0), X, y, batch_size=8,
                epochs=2, rng=np.random.default_rng(0),
                augment=lambda xb, rng: orders.append(xb[:, 0].copy()) or xb)  # fmt: skip
    while not t.done:
        t.step()
    first, second = np.concatenate(orders[:7]), np.concatenate(orders[7:])
    assert sorted(first) == sorted(second) == list(range(50))
    assert not np.array_equal(first, second)


def test_same_seed_same_history_and_weights():
    a, b = make_trainer(3, epochs=3), make_trainer(3, epochs=3)
    while not a.done:
        a.step()
    while not b.done:
        b.step()
    assert curves(a.history) == curves(b.history)
    assert all(np.array_equal(p, q) for p, q in zip(weights(a), weights(b), strict=True))
    c = make_trainer(4, epochs=3)
    while not c.done:
        c.step()
    assert curves(c.history) != curves(a.history)


def test_pausing_continues_exactly():
    straight = make_trainer(5, epochs=3)
    while not straight.done:
        straight.step()
    paused = make_trainer(5, epochs=3)
    for _ in range(5):
        paused.step()
    # while paused, the user looks at the model: predictions, a copy, an evaluation
    paused.model.predict_proba(quadrants(30, seed=9)[0])
    paused.model.copy()
    paused.evaluate(*quadrants(30, seed=8))
    while not paused.done:
        paused.step()
    assert curves(paused.history) == curves(straight.history)
    pairs = zip(weights(paused), weights(straight), strict=True)
    assert all(np.array_equal(p, q) for p, q in pairs)


def test_mlp_learns_xor_quadrants():
    X, y = quadrants(600)
    Xv, yv = quadrants(200, seed=1)
    model = build_model(
        [{"type": "Dense", "out_features": 32}, {"type": "Tanh"},
         {"type": "Dense", "out_features": 2}], (2,), rng=np.random.default_rng(0))  # fmt: skip
    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=0.02), X, y,
                  X_val=Xv, y_val=yv, batch_size=32, epochs=40,
                  rng=np.random.default_rng(1))  # fmt: skip
    assert history.epochs[-1]["val_accuracy"] > 0.93
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"] / 2
    assert (model.predict(Xv) == yv).mean() == pytest.approx(history.epochs[-1]["val_accuracy"])


def test_epoch_metrics_with_validation():
    Xv, yv = quadrants(70, seed=2)
    t = make_trainer(epochs=2, X_val=Xv, y_val=yv, eval_batch_size=16)
    while not t.done:
        t.step()
    assert len(t.history.epochs) == 2
    last = t.history.epochs[-1]
    assert set(last) == set(History.EPOCH_KEYS)
    assert last["epoch"] == 2 and last["step"] == t.step_count
    assert t.model.training  # evaluation restored training mode
    loss, acc = t.evaluate(Xv, yv)
    assert last["val_loss"] == pytest.approx(loss) and last["val_accuracy"] == pytest.approx(acc)
    steps = t.history.steps
    n_first = t.steps_per_epoch
    # the epoch's training loss is the sample-weighted mean of its step losses
    sizes = [32, 32, 32, 4]
    mean = sum(s * l for s, l in zip(sizes, steps["loss"][n_first:], strict=True)) / 100
    assert last["train_loss"] == pytest.approx(mean)
    assert 0 <= last["train_accuracy"] <= 1 and last["time"] >= t.history.epochs[0]["time"]


def test_trainer_puts_the_model_in_training_mode():
    X, y = quadrants(20)
    model = build_model(MLP, (2,), rng=np.random.default_rng(0)).eval()
    Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), 0.1), X, y,
            rng=np.random.default_rng(0))  # fmt: skip
    assert model.training


def test_without_validation_the_val_metrics_are_none():
    t = make_trainer(epochs=1)
    while not t.done:
        t.step()
    assert t.history.epochs[0]["val_loss"] is None and t.history.epochs[0]["val_accuracy"] is None


def test_callback_can_stop_fit():
    X, y = quadrants(100)
    model = build_model(MLP, (2,), rng=np.random.default_rng(0))
    seen = []
    history = fit(model, CrossEntropyLoss(), SGD(model.parameters(), 0.1), X, y, epochs=5,
                  batch_size=10, rng=np.random.default_rng(0),
                  callback=lambda e: seen.append(e.step) or e.step < 7)  # fmt: skip
    assert seen == list(range(1, 8)) and len(history) == 7


def test_stop_and_add_epochs():
    t = make_trainer(epochs=1)
    t.step()
    t.stop()
    assert t.done and t.stop_reason == "stopped by user" and t.step() is None
    t.add_epochs(1)
    assert not t.done and t.epochs == 2
    while not t.done:
        t.step()
    assert t.step_count == 8 and t.stop_reason == "finished"


def test_schedule_and_base_lr_change():
    t = make_trainer(lr=0.1, epochs=3, schedule=StepLR(step_size=4, gamma=0.5))
    for _ in range(6):
        t.step()
    t.base_lr = 1.0  # the user moves the slider: the schedule continues from the new base
    while not t.done:
        t.step()
    assert t.history.steps["lr"] == pytest.approx([0.1] * 4 + [0.05] * 2 + [0.5] * 2 + [0.25] * 4)


def test_divergence_stops_with_a_reason_and_clean_history():
    X, y = quadrants(200)
    X = X * 1e3
    model = build_model(MLP, (2,), rng=np.random.default_rng(0))
    t = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=1e6, momentum=0.9),
                X, y, batch_size=16, epochs=50, rng=np.random.default_rng(0))  # fmt: skip
    events = []
    while not t.done:
        events.append(t.step())
    assert t.diverged and t.stop_reason == t.diverged
    assert "diverged" in t.stop_reason and "learning rate" in t.stop_reason
    assert not math.isfinite(events[-1].loss) and events[-1].done
    losses = t.history.array("loss")
    assert len(losses) == t.step_count == len(events) - 1
    assert np.isfinite(losses).all()
    assert all(np.isfinite(p.data).all() for p in model.parameters())  # rolled back
    assert t.step() is None


def test_regression_targets_have_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = X @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = build_model([{"type": "Dense", "out_features": 1}], (3,), rng=rng)
    history = fit(model, MSELoss(), SGD(model.parameters(), 0.05), X, y, epochs=30,
                  batch_size=8, rng=rng, X_val=X, y_val=y)  # fmt: skip
    assert np.isnan(history.array("accuracy")).all()
    assert history.epochs[-1]["train_accuracy"] is None
    assert history.epochs[-1]["val_loss"] < 0.01
    assert json.loads(json.dumps(history.to_dict()))["steps"]["accuracy"][0] is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"X_val": np.zeros((3, 2), np.float32), "y_val": np.zeros(2, np.int64)}, "3 inputs"),
        ({"X_val": np.zeros((3, 2), np.float32), "y_val": np.array([0, 1, 2])}, "labels go"),
        ({"X_val": np.zeros((3, 5), np.float32), "y_val": np.zeros(3, np.int64)}, "same dataset"),
    ],
)
def test_bad_settings_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_trainer(**kwargs)


# -- history ---------------------------------------------------------------------------------
def test_history_json_and_csv():
    t = make_trainer(epochs=2, stats_every=3)
    while not t.done:
        t.step()
    data = json.loads(json.dumps(t.history.to_dict()))
    again = History.from_dict(data)
    assert again.to_dict() == t.history.to_dict()
    np.testing.assert_array_equal(again.array("loss"), t.history.array("loss"))
    rows = list(csv.reader(io.StringIO(t.history.to_csv())))
    assert rows[0] == list(History.STEP_KEYS) and len(rows) == 1 + t.step_count
    assert float(rows[1][2]) == t.history.steps["loss"][0]
    rows = list(csv.reader(io.StringIO(t.history.to_csv("epochs"))))
    assert rows[0] == list(History.EPOCH_KEYS) and len(rows) == 3 and rows[1][4] == ""
    snap = t.history.snapshot()
    assert snap.to_dict() == t.history.to_dict()
    with pytest.raises(ValueError):
        History.from_dict({"steps": {"loss": [1.0]}})
    with pytest.raises(ValueError):
        t.history.to_csv("batches")


# -- training statistics ---------------------------------------------------------------------
def test_statistics_are_recorded_every_k_steps():
    t = make_trainer(epochs=3, stats_every=5, lr=0.05)
    while not t.done:
        t.step()
    stats = t.history.stats
    assert stats["every"] == 5 and stats["steps"] == [1, 6, 11]
    assert set(stats["params"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    w = stats["params"]["0.weight"]
    for key in ("weight_norm", "grad_norm", "update_norm", "update_ratio"):
        assert len(w[key]) == 3 and all(np.isfinite(w[key]))
    assert len(w["weight_hist"]["edges"]) == BINS + 1
    assert all(sum(row) == 16 * 2 for row in w["weight_hist"]["counts"])
    assert all(sum(row) == 16 * 2 for row in w["grad_hist"]["counts"])
    assert list(stats["dead_relu"]) == ["1"] and len(stats["dead_relu"]["1"]) == 3
    assert json.loads(json.dumps(stats)) == stats


def test_update_norm_is_the_actual_step():
    t = make_trainer(stats_every=1, lr=0.1)
    before = weights(t)
    t.step()
    stats = t.history.stats["params"]
    for (name, p), w0 in zip(t.model.named_parameters(), before, strict=True):
        assert stats[name]["weight_norm"][0] == pytest.approx(np.linalg.norm(w0), rel=1e-5)
        # plain SGD: the update is lr * gradient
        assert stats[name]["update_norm"][0] == pytest.approx(
            np.linalg.norm(p.data - w0), rel=1e-4, abs=1e-7
        )
        assert stats[name]["update_norm"][0] == pytest.approx(
            0.1 * stats[name]["grad_norm"][0], rel=1e-4, abs=1e-7
        )


def test_statistics_on_a_cnn_with_a_fused_relu_pool_pair():
    # A recorded step runs the layers one by one (no ReLU + MaxPool2D fusion); its
    # backward must walk the same layers, and the training must not change.
    spec = [
        {"type": "Conv2D", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 2},
    ]
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].sum(axis=(1, 2)) > 0).astype(np.int64)
    runs = []
    for stats_every in (None, 2):
        model = build_model(spec, (1, 6, 6), rng=np.random.default_rng(0))
        kw = {} if stats_every is None else {"stats_every": stats_every}
        t = Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y,
                    batch_size=8, epochs=2, rng=np.random.default_rng(1), **kw)  # fmt: skip
        while not t.done:
            t.step()
        runs.append(t)
    assert list(runs[1].history.stats["dead_relu"]) == ["1"]
    np.testing.assert_allclose(
        runs[1].history.array("loss"), runs[0].history.array("loss"), rtol=1e-5
    )


def test_dead_relu_fraction():
    t = make_trainer(stats_every=1)
    hidden = t.model[0]
    hidden.bias.data[:8] = -100.0  # inputs are in [-1, 1]: these 8 of 16 units never fire
    hidden.bias.data[8:] = 100.0  # and these always do
    t.step()
    assert t.history.stats["dead_relu"]["1"] == [0.5]


def test_histogram_widening_is_exact():
    rng = np.random.default_rng(0)
    first = rng.uniform(-1, 1, 1000)
    h = Histogram(first)
    h.add(first)
    h.add(rng.uniform(-2, 2, 500))
    wide = rng.uniform(-9, 9, 500)
    h.add(wide)
    assert h.limit >= 9 and len(h.counts) == 3
    edges = h.edges
    for values, row in ((first, h.counts[0]), (wide, h.counts[2])):
        expected, _ = np.histogram(values, bins=edges)
        assert row == expected.tolist()
    zero = Histogram(np.zeros(5))  # a zero-initialised bias still gets a range
    zero.add(np.zeros(5))
    assert zero.limit > 0 and sum(zero.counts[0]) == 5


def test_data_that_does_not_fit_the_network_is_explained():
    model = build_model(MLP, (3,), rng=np.random.default_rng(0))
    X, y = quadrants(20)
    with pytest.raises(ValueError, match="does not fit the network: layer 0 \\(Dense\\)"):
        Trainer(model, CrossEntropyLoss(), SGD(model.parameters(), 0.1), X, y,
                rng=np.random.default_rng(0))  # fmt: skip
