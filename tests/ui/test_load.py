"""A classroom on two cores: several jobs train at once, and the UI side must still answer fast.
Plus: a hundred start/stop cycles leave no thread and no memory behind."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc

import numpy as np
import pytest

from netcore.datasets import load_dataset
from netcore.spec import preset_spec
from ui.charts.curves import accuracy_figure, loss_figure
from ui.config import RunConfig
from ui.jobs import ComputeSlots, JobRegistry
from ui.runstore import RunStore
from ui.training import make_job


@pytest.fixture(scope="module")
def ds():
    return load_dataset("mnist_5k", train_size=1024, test_size=256)


def config(ds, arch: str, epochs: int) -> RunConfig:
    return RunConfig(
        dataset="mnist_5k",
        arch=preset_spec(arch, ds.input_shape, ds.n_classes),
        input_shape=tuple(ds.input_shape),
        class_names=list(ds.class_names),
        epochs=epochs,
        batch_size=64,
    )


def ui_tick(job) -> None:
    """What one live-view refresh does on the server: snapshot, history copy, two figures."""
    snap = job.snapshot()
    loss_figure(snap.history, smoothing=0.6)
    accuracy_figure(snap.history, smoothing=0.6)


@pytest.mark.slow
def test_clicks_answer_fast_while_five_jobs_train(ds, tmp_path):
    store = RunStore(tmp_path / "runs")
    slots = ComputeSlots(2)
    jobs = [make_job(config(ds, "lenet5", 50), store, dataset=ds, slots=slots) for _ in range(5)]
    for j in jobs:
        j.start()
    deadline = time.monotonic() + 30
    while sum(j.snapshot().step > 0 for j in jobs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    latencies, ticks = [], []
    t_end = time.monotonic() + 4.0
    i = 0
    while time.monotonic() < t_end:
        job = jobs[i % len(jobs)]
        t0 = time.perf_counter()
        job.snapshot()
        job.pause()
        job.resume()
        latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ui_tick(job)
        ticks.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.05)
    running = sum(j.status == "running" for j in jobs)
    steps = [j.snapshot().step for j in jobs]
    for j in jobs:
        j.stop()
    for j in jobs:
        assert j.join(30)
    lat = np.array(latencies)
    tick = np.array(ticks)
    print(
        f"\ncontrol call: median {1e3 * np.median(lat):.1f} ms, p95 "
        f"{1e3 * np.percentile(lat, 95):.1f} ms, max {1e3 * lat.max():.1f} ms; "
        f"live-view tick: median {1e3 * np.median(tick):.1f} ms, max {1e3 * tick.max():.1f} ms; "
        f"steps per job {steps}"
    )
    assert running <= 2
    assert lat.max() < 1.0
    assert tick.max() < 1.0
    assert np.percentile(lat, 95) < 0.25
    assert sum(s > 0 for s in steps) >= 3  # time slicing: queued jobs got turns


@pytest.mark.slow
def test_hundred_start_stop_cycles_leak_nothing(ds, tmp_path):
    store = RunStore(tmp_path / "runs", max_bytes=5 * 1024 * 1024)
    reg = JobRegistry(ComputeSlots(2), grace_s=0.05)
    cfg = config(ds, "mlp", 20)
    threads_before = threading.active_count()

    def cycle(k: int) -> None:
        job = make_job(cfg, store, dataset=ds, slots=reg.slots)
        reg.add(job, f"session-{k % 3}")
        job.start()
        while job.snapshot(with_history=False).step < 2 and job.active:
            time.sleep(0.001)
        job.snapshot()
        job.stop()
        assert job.join(10)
        reg.detach(job.run_id, f"session-{k % 3}")
        store.evict(protect=reg.live_ids())

    for k in range(20):  # warm up caches and allocator pools
        cycle(k)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for k in range(20, 120):
        cycle(k)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    time.sleep(0.2)
    print(
        f"\n100 cycles: memory grew by {grown / 1024:.0f} KiB, threads "
        f"{threads_before} -> {threading.active_count()}"
    )
    assert reg.jobs() == []
    assert threading.active_count() <= threads_before
    assert grown < 2 * 1024 * 1024
    total = sum(store.size(r["run_id"]) for r in store.list_runs())
    assert total <= 5 * 1024 * 1024
