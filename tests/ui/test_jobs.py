"""The background training job on the real engine: start, pause, step, resume, stop, learning
rate changes, divergence, the compute-slot queue, the registry of live jobs, the run store."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from netcore.datasets import load_dataset
from netcore.spec import preset_spec
from ui.config import RunConfig
from ui.jobs import ComputeSlots, JobRegistry, LimitError, snapshot_plan
from ui.runstore import RunStore
from ui.training import load_model_file, make_job


@pytest.fixture(scope="module")
def small_ds():
    """MNIST subset cut to 512 training / 128 test images: an MLP epoch is 8 batches."""
    return load_dataset("mnist_5k", train_size=512, test_size=128)


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


def mlp_config(ds, **kw) -> RunConfig:
    base = {
        "dataset": "mnist_5k",
        "arch": preset_spec("mlp", ds.input_shape, ds.n_classes),
        "input_shape": tuple(ds.input_shape),
        "class_names": list(ds.class_names),
        "batch_size": 64,
        "epochs": 2,
        "lr": 1e-3,
    }
    base.update(kw)
    return RunConfig(**base)


def wait_for(cond, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_job_trains_to_the_end_and_saves_the_run(small_ds, store):
    cfg = mlp_config(small_ds, epochs=3)
    job = make_job(cfg, store, dataset=small_ds)
    job.start()
    assert job.join(30)
    snap = job.snapshot()
    assert snap.status == "finished"
    assert snap.step == snap.total_steps == 3 * 8
    h = snap.history
    assert len(h) == 24 and len(h.epochs) == 3
    assert np.all(np.isfinite(h.array("loss")))
    # It learned something: validation accuracy well above chance (10 classes).
    assert h.epochs[-1]["val_accuracy"] > 0.5
    # The store holds everything a reload needs.
    meta = store.read_meta(job.run_id)
    assert meta["status"] == "finished" and meta["step"] == 24
    assert meta["metrics"]["val_accuracy"] == pytest.approx(h.epochs[-1]["val_accuracy"])
    assert RunConfig.from_dict(store.read_config(job.run_id)) == cfg
    assert store.read_history(job.run_id)["steps"]["loss"] == h.steps["loss"]
    model, info = load_model_file(store.model_path(job.run_id))
    assert info["config"] == cfg
    final = job.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, final[name])
    # Snapshots: the initial weights, then spread through training, ending at the last step.
    steps = store.snapshot_steps(job.run_id)
    assert steps[0] == 0 and steps[-1] == 24 and len(steps) >= 10
    assert [s for s, _, _ in job.snapshots()] == steps
    _, _, first = store.read_snapshot(job.run_id, 0)
    assert not np.array_equal(first["1.weight"], final["1.weight"])


def test_pause_step_resume_and_stop(small_ds, store):
    job = make_job(mlp_config(small_ds, epochs=20), store, dataset=small_ds)
    job.start(paused=True)
    wait_for(lambda: job.status == "paused", what="paused")
    time.sleep(0.1)
    assert job.snapshot().step == 0
    job.step_once()
    wait_for(lambda: job.snapshot().step == 1, what="one step")
    time.sleep(0.1)
    assert job.snapshot().step == 1 and job.status == "paused"
    job.step_once(3)
    wait_for(lambda: job.snapshot().step == 4, what="three steps")
    job.resume()
    wait_for(lambda: job.snapshot().step > 10, what="training after resume")
    assert job.status == "running"
    job.pause()
    wait_for(lambda: job.status == "paused", what="pause")
    s1 = job.snapshot().step
    time.sleep(0.2)
    assert job.snapshot().step == s1
    job.stop("Stopped by you.")
    assert job.join(10)
    snap = job.snapshot()
    assert snap.status == "stopped" and snap.stop_reason == "Stopped by you."
    assert store.read_meta(job.run_id)["status"] == "stopped"


def test_learning_rate_changes_mid_run(small_ds, store):
    job = make_job(mlp_config(small_ds, epochs=20), store, dataset=small_ds)
    job.start()
    wait_for(lambda: job.snapshot().step >= 5, what="a few steps")
    job.set_lr(0.0123)
    wait_for(lambda: job.snapshot().lr == pytest.approx(0.0123), what="new lr")
    job.stop()
    job.join(10)
    lrs = job.snapshot().history.array("lr")
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(0.0123)


def test_diverged_run_stops_with_an_explanation(small_ds, store):
    cfg = mlp_config(small_ds, optimizer="sgd", lr=10.0, momentum=0.9, epochs=20)
    job = make_job(cfg, store, dataset=small_ds)
    job.start()
    assert job.join(30)
    snap = job.snapshot()
    assert snap.status == "diverged"
    assert "learning rate" in snap.stop_reason.lower()
    assert snap.step < snap.total_steps
    assert store.read_meta(job.run_id)["status"] == "diverged"
    # The weights kept are finite (the engine rolls back the step that blew up).
    assert all(np.isfinite(v).all() for v in job.state_dict().values())


def test_a_bad_architecture_stops_with_a_message(small_ds, store):
    cfg = mlp_config(small_ds, arch=[{"type": "Dense", "out_features": 10}])  # no Flatten
    job = make_job(cfg, store, dataset=small_ds)
    job.start()
    assert job.join(10)
    snap = job.snapshot()
    assert snap.status == "stopped" and "Flatten" in snap.stop_reason


def test_compute_slots_cap_and_serve_in_order():
    slots = ComputeSlots(2)
    a, b, c, d = (object() for _ in range(4))
    assert slots.acquire(a) and slots.acquire(b)
    order = []

    def wait(token, name):
        slots.acquire(token)
        order.append(name)

    tc = threading.Thread(target=wait, args=(c, "c"))
    tc.start()
    wait_for(lambda: slots.position(c) == 1, what="c queued")
    td = threading.Thread(target=wait, args=(d, "d"))
    td.start()
    wait_for(lambda: slots.position(d) == 2, what="d queued")
    assert slots.busy == 2 and slots.waiting == 2
    slots.release()
    tc.join(5)
    assert order == ["c"] and slots.position(d) == 1
    slots.release()
    td.join(5)
    assert order == ["c", "d"] and slots.waiting == 0
    # An aborted wait gives up without taking a slot.
    assert not slots.acquire(object(), abort=lambda: True)


def test_queued_jobs_wait_their_turn_and_all_finish(small_ds, store):
    slots = ComputeSlots(1)
    jobs = [
        make_job(mlp_config(small_ds, epochs=3), store, dataset=small_ds, slots=slots)
        for _ in range(3)
    ]
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], sum(j.status == "running" for j in jobs))
            time.sleep(0.002)

    w = threading.Thread(target=watch)
    w.start()
    for j in jobs:
        j.start()
    seen_queue = False
    end = time.monotonic() + 60
    while any(j.active for j in jobs) and time.monotonic() < end:
        seen_queue |= any(j.snapshot().queue_position for j in jobs)
        time.sleep(0.005)
    stop.set()
    w.join()
    assert all(j.status == "finished" for j in jobs)
    assert peak[0] <= 1
    assert seen_queue
    assert slots.busy == 0 and slots.waiting == 0


def test_registry_limits_and_orphans(small_ds, store):
    reg = JobRegistry(ComputeSlots(2), max_live=2, grace_s=0.2)
    j1 = make_job(mlp_config(small_ds, epochs=50), store, dataset=small_ds)
    reg.add(j1, "s1")
    j1.start()
    j2 = make_job(mlp_config(small_ds, epochs=50), store, dataset=small_ds)
    with pytest.raises(LimitError, match="already have a run"):
        reg.add(j2, "s1")
    reg.add(j2, "s2")
    j2.start()
    j3 = make_job(mlp_config(small_ds), store, dataset=small_ds)
    with pytest.raises(LimitError, match="busy"):
        reg.add(j3, "s3")
    # A second tab attaches; the first closing does not stop the run.
    assert reg.attach(j1.run_id, "s1-tab2") is j1
    reg.release_session("s1")
    time.sleep(0.4)
    assert j1.active
    # The last tab closing stops it after the grace period, unless a reload re-attaches.
    reg.release_session("s1-tab2")
    reg.release_session("s2")
    reg.attach(j2.run_id, "s2-reloaded")
    assert j1.join(10)
    assert j1.status == "stopped" and "no browser tab" in j1.snapshot().stop_reason
    wait_for(lambda: reg.get(j1.run_id) is None, what="orphan dropped")
    assert j2.active
    reg.stop_all()
    assert not j2.active


def test_snapshot_plan_is_spread_and_starts_at_zero():
    plan = snapshot_plan(1000, n=20)
    assert plan[0] == 0 and plan[-1] == 1000 and len(plan) <= 20
    assert plan == sorted(set(plan))
    assert snapshot_plan(5) == [0, 1, 2, 3, 4, 5]


def test_model_file_round_trip_and_bad_files(small_ds):
    from ui.training import build_from_config, model_bytes

    cfg = mlp_config(small_ds)
    model = build_from_config(cfg)
    data = model_bytes(model, cfg)
    back, info = load_model_file(data)
    assert info["config"] == cfg
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)
    for bad in (b"", b"not a model", data[: len(data) // 2]):
        with pytest.raises(ValueError):
            load_model_file(bad)


def test_lenet_job_records_statistics_and_times_its_run(store):
    """A CNN run records weight statistics (a recorded step runs the layers one by one)
    and reports the wall time of its steps (start-up excluded) for an honest speed."""
    ds = load_dataset("mnist_5k", train_size=256, test_size=64)
    cfg = mlp_config(ds, arch=preset_spec("lenet5", ds.input_shape, ds.n_classes), epochs=1)
    job = make_job(cfg, store, dataset=ds)
    job.start()
    assert job.join(60)
    snap = job.snapshot()
    assert snap.status == "finished", snap.stop_reason
    stats = snap.history.stats
    assert stats["steps"][0] == 1 and len(stats["steps"]) >= 1
    assert 0 < snap.elapsed_s <= snap.run_s
    assert store.read_meta(job.run_id)["run_s"] == pytest.approx(snap.run_s)


def test_history_copy_stays_put_while_training_goes_on(small_ds):
    from ui.training import EngineStepper

    stepper = EngineStepper(mlp_config(small_ds, epochs=3), small_ds)
    for _ in range(10):
        stepper.step()
    copy = stepper.history_copy()
    for _ in range(5):
        stepper.step()
    assert len(copy) == 10 and copy.steps["loss"] == stepper.trainer.history.steps["loss"][:10]
    assert copy.stats["steps"][0] == 1  # statistics are read when asked for


def test_stats_pacer_keeps_recording_cheap():
    from types import SimpleNamespace

    from ui.training import _StatsPacer

    monitor = SimpleNamespace(every=5)
    pacer = _StatsPacer(monitor, total_steps=3000, budget=0.05)
    for _ in range(10):
        pacer.observe(0.001, recorded=False)
    for _ in range(3):
        pacer.observe(0.003, recorded=True)  # a record costs two extra steps
    assert monitor.every == 40  # 2 extra steps / 0.05
    for _ in range(3):
        pacer.observe(0.101, recorded=True)  # never fewer than ~30 records per run
    assert monitor.every == 100
    cheap = SimpleNamespace(every=5)
    pacer = _StatsPacer(cheap, total_steps=3000, budget=0.05)
    for _ in range(10):
        pacer.observe(0.020, recorded=False)
    for _ in range(3):
        pacer.observe(0.0204, recorded=True)  # a CNN barely notices: keep the interval
    assert cheap.every == 5
