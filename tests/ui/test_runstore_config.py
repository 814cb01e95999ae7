"""The run store (files, ids, eviction) and RunConfig (round trip, validation)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ui.config import Limits, RunConfig
from ui.runstore import RunStore, is_run_id, new_run_id


def test_run_ids_are_safe_and_unique():
    ids = {new_run_id() for _ in range(200)}
    assert len(ids) == 200 and all(is_run_id(i) for i in ids)
    for bad in ("../etc", "20250101-120000-xyzxyz", "", None, "a/b", "20250101-120000-1a2b3c/.."):
        assert not is_run_id(bad)


def test_store_round_trip_and_rejects_bad_ids(tmp_path):
    store = RunStore(tmp_path)
    rid = new_run_id()
    store.create(rid, RunConfig().to_dict())
    store.write_history(rid, {"steps": {"loss": [1.0, float("nan"), float("inf")]}})
    store.write_snapshot(rid, 7, 0.5, {"0.weight": np.ones((2, 3), np.float32)})
    assert store.exists(rid)
    assert store.read_meta(rid)["status"] == "ready"
    # JSON has no NaN: a diverged value is stored as null.
    assert store.read_history(rid)["steps"]["loss"] == [1.0, None, None]
    step, epoch, state = store.read_snapshot(rid, 7)
    assert (step, epoch) == (7, 0.5) and state["0.weight"].shape == (2, 3)
    assert store.snapshot_steps(rid) == [7]
    assert [r["run_id"] for r in store.list_runs()] == [rid]
    with pytest.raises(ValueError):
        store.path("../../etc")
    assert not store.exists("../../etc")
    # No temporary files are left behind.
    assert not [p for p in (tmp_path / rid).rglob(".tmp-*")]


def test_eviction_keeps_protected_and_newest(tmp_path):
    store = RunStore(tmp_path)
    ids = []
    for _ in range(4):
        rid = new_run_id()
        store.create(rid, RunConfig().to_dict())
        store.write_snapshot(rid, 0, 0.0, {"w": np.zeros(50_000, np.float32)})  # ~200 KB
        ids.append(rid)
        time.sleep(0.01)
    oldest, live = ids[0], ids[1]
    deleted = store.evict(protect={oldest}, max_bytes=450_000)
    assert oldest not in deleted and store.exists(oldest)
    assert live in deleted  # the oldest unprotected goes first
    assert store.exists(ids[-1])
    assert sum(store.size(r) for r in ids if store.exists(r)) <= 450_000 + 210_000


def test_config_round_trip_through_json():
    cfg = RunConfig(
        arch=[{"type": "Flatten"}, {"type": "Dense", "out_features": 10}],
        input_shape=(1, 28, 28),
        optimizer="sgd",
        lr=0.05,
        epochs=3,
        augment=True,
        name="mine",
    )
    back = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and isinstance(back.input_shape, tuple)
    assert RunConfig.from_dict({**cfg.to_dict(), "future_field": 1}) == cfg


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"lr": -1}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"schedule": "exp"}, "schedule"),
        ({"arch": [{"kind": "Dense"}]}, "arch"),
        ({"input_shape": [1, -28, 28]}, "input_shape"),
    ],
)
def test_config_validation_names_the_field(change, word):
    with pytest.raises(ValueError, match=word):
        RunConfig.from_dict({**RunConfig().to_dict(), **change})


def test_limits_from_environment(monkeypatch):
    monkeypatch.setenv("NETCORE_MAX_JOBS", "3")
    monkeypatch.setenv("NETCORE_MAX_EPOCHS", "7")
    monkeypatch.setenv("NETCORE_MAX_PARAMS", "oops")
    lim = Limits.from_env()
    assert lim.max_jobs == 3 and lim.max_epochs == 7 and lim.max_params == Limits.max_params
    assert RunConfig(epochs=8).problems(lim)
