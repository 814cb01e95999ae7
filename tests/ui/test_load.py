"""A classroom on two cores: several jobs train at once, and the UI side must still answer fast.
Plus: a hundred start/stop cycles leave no thread and no memory behind."""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
import weakref

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
    """Five students press Start on a two-core server: two jobs compute, three queue, and the
    UI side still answers. Judged on the median and the 90th percentile of many clicks (a
    single click can wait on a busy machine for reasons of its own: other programs, the
    collector), against an idle baseline measured in the same test."""
    store = RunStore(tmp_path / "runs")
    slots = ComputeSlots(2)
    jobs = [make_job(config(ds, "lenet5", 50), store, dataset=ds, slots=slots) for _ in range(5)]

    def measure(seconds: float) -> tuple[np.ndarray, np.ndarray]:
        latencies, ticks = [], []
        t_end = time.monotonic() + seconds
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
        return np.array(latencies), np.array(ticks)

    # Idle baseline: the same clicks and redraws with the jobs paused after a few steps.
    for j in jobs:
        j.step_once(3)
    deadline = time.monotonic() + 60
    while any(j.snapshot().step < 3 for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for j in jobs:
        j.pause()
    _, idle_tick = measure(1.0)
    for j in jobs:
        j.resume()
    deadline = time.monotonic() + 30
    while sum(j.status == "running" for j in jobs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    lat, tick = measure(4.0)
    running = sum(j.status == "running" for j in jobs)
    steps = [j.snapshot().step for j in jobs]
    for j in jobs:
        j.stop()
    for j in jobs:
        assert j.join(30)
    base = float(np.median(idle_tick))
    print(
        f"\ncontrol call: median {1e3 * np.median(lat):.1f} ms, p90 "
        f"{1e3 * np.percentile(lat, 90):.1f} ms, max {1e3 * lat.max():.1f} ms; live-view tick: "
        f"idle median {1e3 * base:.1f} ms, loaded median {1e3 * np.median(tick):.1f} ms, p90 "
        f"{1e3 * np.percentile(tick, 90):.1f} ms, max {1e3 * tick.max():.1f} ms; steps per job "
        f"{steps}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    assert running <= 2
    # A click is a few lock flips: it waits only for the interpreter lock.
    assert np.median(lat) < 0.1
    assert np.percentile(lat, 90) < 0.25
    # A redraw under load: at most a few times its idle cost, plus the lock waits.
    assert np.median(tick) < 0.25 + 5 * base
    assert np.percentile(tick, 90) < 0.5 + 10 * base
    assert sum(s > 3 for s in steps) >= 3  # time slicing: queued jobs got turns


@pytest.mark.slow
def test_hundred_start_stop_cycles_leak_nothing(ds, tmp_path):
    store = RunStore(tmp_path / "runs", max_bytes=5 * 1024 * 1024)
    reg = JobRegistry(ComputeSlots(2), grace_s=0.05)
    cfg = config(ds, "mlp", 20)
    threads_before = threading.active_count()
    refs = []

    def cycle(k: int) -> None:
        job = make_job(cfg, store, dataset=ds, slots=reg.slots)
        refs.append(weakref.ref(job))
        reg.add(job, f"session-{k % 3}")
        job.start()
        while job.snapshot(with_history=False).step < 2 and job.active:
            time.sleep(0.001)
        job.snapshot()
        job.stop()
        assert job.join(10)
        refs.append(weakref.ref(job._stepper.model))  # the weights: the big part of a run
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
    assert not [t.name for t in threading.enumerate() if t.name.startswith("netcore-job")]
    alive = sum(r() is not None for r in refs)
    assert alive == 0, f"{alive} jobs or models are still referenced after 120 cycles"
    assert grown < 2 * 1024 * 1024
    total = sum(store.size(r["run_id"]) for r in store.list_runs())
    assert total <= 5 * 1024 * 1024
