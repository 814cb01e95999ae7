"""Training throughput inside the app compared to the bench: ``python tools/measure_app.py``.

For LeNet-5 and the MLP of ``python -m netcore.bench`` on the bundled MNIST subset (batch 64,
Adam 1e-3, as the Home page's one-click start) it prints steps per second of:

* ``bench step``: the bench's step on one fixed batch (forward, loss, backward, SGD), and the
  same step with Adam (the app's default optimizer);
* ``trainer``: the engine's `Trainer` alone (shuffled batches, Adam, validation after each
  epoch, no statistics): what the app cannot beat;
* ``app job``: a `ui.jobs.TrainingJob` made by `ui.training.make_job` exactly as the app makes
  it (statistics, weight snapshots and checkpoints into a run store), with a thread that does
  what the Train page's live view does once a second (snapshot, history copy, two figures
  serialised to JSON);
* with ``--browser``: the same one-click run started in a real ``streamlit run dashboard.py``
  with a Chromium tab watching the Train page (needs Playwright and /usr/bin/chromium).

Steps per second of a job = steps / time from its first to its last step (start-up, model
building and the final save excluded). The load average is printed: other programs on the
machine slow every figure down, so compare the figures of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def bench_steps_per_s(arch: str, optimizer: str = "sgd", seconds: float = 3.0) -> float:
    """Median steps/s of the bench's training step on one fixed batch (SGD as the bench,
    or Adam as the app's default)."""
    import numpy as np

    import netcore.bench as bench
    from netcore.losses import CrossEntropyLoss
    from netcore.optim import SGD, Adam

    rng = np.random.default_rng(0)
    model = bench._sequential(bench.lenet5(rng) if arch == "lenet5" else bench.mlp(rng))
    x = rng.standard_normal((bench.BATCH, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, size=bench.BATCH)
    loss = CrossEntropyLoss()
    opt = (SGD if optimizer == "sgd" else Adam)(model.parameters(), lr=0.01)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        t0 = time.perf_counter()
        loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        opt.step()
        times.append(time.perf_counter() - t0)
    return 1.0 / float(np.median(times[3:]))


def run_config(arch: str, epochs: int):
    from netcore.datasets import load_dataset
    from netcore.spec import preset_spec
    from ui.config import RunConfig

    ds = load_dataset("mnist_5k")
    cfg = RunConfig(
        dataset="mnist_5k",
        arch=preset_spec(arch, tuple(ds.input_shape), ds.n_classes),
        input_shape=tuple(ds.input_shape),
        class_names=list(ds.class_names),
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        epochs=epochs,
    )
    return cfg, ds


def trainer_steps_per_s(arch: str, epochs: int) -> float:
    """The engine's Trainer alone, on the app's data and settings (no statistics)."""
    from ui.training import EngineStepper

    cfg, ds = run_config(arch, epochs)
    stepper = EngineStepper(cfg, ds)
    stepper.trainer.monitor = None
    stepper.trainer.history._monitor = None
    stepper.step()  # first-call buffer allocations are start-up
    t0 = time.perf_counter()
    n0 = stepper.step_count
    while not stepper.done:
        stepper.step()
    return (stepper.step_count - n0) / (time.perf_counter() - t0)


def ui_tick(job) -> None:
    """What one refresh of the Train page's live view costs the server."""
    from ui.charts.curves import accuracy_figure, loss_figure

    snap = job.snapshot()
    for fig in (loss_figure(snap.history), accuracy_figure(snap.history)):
        fig.to_json()


def job_steps_per_s(arch: str, epochs: int, ui_period: float) -> tuple[float, dict]:
    """A job made as the app makes it, with a live-view thread; (steps/s, details)."""
    from ui.jobs import ComputeSlots
    from ui.runstore import RunStore
    from ui.training import make_job

    cfg, ds = run_config(arch, epochs)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        job = make_job(cfg, store, dataset=ds, slots=ComputeSlots(2))
        ticks: list[float] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(ui_period):
                t0 = time.perf_counter()
                ui_tick(job)
                ticks.append(time.perf_counter() - t0)

        watcher = threading.Thread(target=watch, daemon=True)
        t_start = time.perf_counter()
        job.start()
        if ui_period > 0:
            watcher.start()
        job.join()
        stop.set()
        total_s = time.perf_counter() - t_start
        snap = job.snapshot(with_history=False)
        meta = json.loads((store.path(job.run_id) / "meta.json").read_text())
    details = {
        "steps": snap.step,
        "run_s": snap.run_s,
        "total_s": total_s,
        "ui_ticks": len(ticks),
        "ui_tick_ms": 1e3 * sum(ticks) / max(1, len(ticks)),
        "status": meta.get("status"),
        "val_accuracy": meta.get("metrics", {}).get("val_accuracy"),
    }
    return snap.step / snap.run_s if snap.run_s else 0.0, details


def browser_steps_per_s(arch: str, epochs: int, port: int) -> dict:
    """Start the app, train from a Chromium tab that watches the Train page; read the store."""
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="netcore-measure-"))
    env = dict(os.environ, NETCORE_RUNS_DIR=str(tmp / "runs"), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]  # fmt: skip
    log = open(tmp / "streamlit.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited; see {tmp / 'streamlit.log'}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],  # fmt: skip
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            if arch == "lenet5" and epochs == 5:
                page.goto(url)
                page.locator(".st-key-home-quick_cnn button").first.click()
            else:
                page.goto(url + "/build")
                page.get_by_text("Start from a preset").wait_for()
                page.locator(".st-key-build-preset").click()
                label = "MLP (2 hidden layers)" if arch == "mlp" else "LeNet-5 (2 conv blocks)"
                page.get_by_role("option", name=label).click()
                page.locator(".st-key-build-load_preset button").first.click()
                time.sleep(1.0)
                page.locator('[data-testid="stSidebarNav"] a[href$="/train"]').click()
                box = page.locator(".st-key-train-epochs input")
                box.fill(str(epochs))
                box.press("Enter")
                time.sleep(1.0)
                page.locator(".st-key-train-start button").first.click()
            page.wait_for_url(lambda u: "run=" in u, timeout=60_000)
            run_id = page.url.split("run=")[1]
            shown = []
            meta_path = tmp / "runs" / run_id / "meta.json"
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                text = page.locator('[data-testid="stProgress"]').first.inner_text()
                if "steps/s" in text:
                    shown.append(float(text.split(" steps/s")[0].split("·")[-1]))
                if meta_path.exists():
                    meta = json.loads(meta_path.read_text())
                    if meta.get("status") in ("finished", "stopped", "diverged"):
                        break
                time.sleep(0.5)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    return {
        "steps": meta["step"],
        "run_s": meta.get("run_s"),
        "steps_per_s": meta["step"] / meta["run_s"] if meta.get("run_s") else 0.0,
        "shown": shown,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="lenet5,mlp", help="comma list: lenet5, mlp")
    parser.add_argument("--ui-period", type=float, default=1.0, help="live-view period, s")
    parser.add_argument("--browser", action="store_true", help="also in the app with Chromium")
    parser.add_argument("--port", type=int, default=0, help="for the app (0: a free one)")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads, as the app sets them (0: default)"
    )
    args = parser.parse_args(argv)
    if args.threads > 0 and os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        # OpenBLAS reads its thread count when NumPy is first imported: start again with it.
        n = str(args.threads)
        env = dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
        argv = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, __file__, *argv], env)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "library default")
    print(f"load average {_load()}; BLAS threads {threads}")
    epochs = {"lenet5": 5, "mlp": 20}
    for arch in args.models.split(","):
        bench = bench_steps_per_s(arch)
        bench_adam = bench_steps_per_s(arch, "adam")
        trainer = trainer_steps_per_s(arch, epochs[arch])
        job, d = job_steps_per_s(arch, epochs[arch], args.ui_period)
        print(
            f"{arch:7s} bench step {bench:6.1f} steps/s (with Adam {bench_adam:6.1f}) | trainer "
            f"{trainer:6.1f} | app job "
            f"{job:6.1f} ({100 * (1 - job / trainer):+.0f}% vs trainer, "
            f"{100 * (1 - job / bench):+.0f}% vs bench; {d['steps']} steps, "
            f"live view {d['ui_tick_ms']:.0f} ms x {d['ui_ticks']}) | load {_load()}",
            flush=True,
        )
        if args.browser:
            port = args.port or _free_port()
            b = browser_steps_per_s(arch, epochs[arch], port)
            shown = b["shown"]
            print(
                f"{arch:7s} in the app with a browser tab: {b['steps_per_s']:6.1f} steps/s "
                f"({100 * (1 - b['steps_per_s'] / trainer):+.0f}% vs trainer); the page showed "
                f"{min(shown, default=0):.0f}-{max(shown, default=0):.0f} steps/s | "
                f"load {_load()}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
