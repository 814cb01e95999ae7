"""Speed and accuracy bench: ``python -m netcore.bench [--quick]``.

For three networks at batch 64 it prints the median time of one training step (forward,
loss, backward, SGD update) and of a batch-1000 inference, for the real layers and for
the plain vectorised NumPy baseline of `netcore.bench_baseline`, and the speed-up. Then
it trains LeNet-5 on the bundled MNIST subset and prints the test accuracy.

The bench never fails on speed: it reports. Timings are medians of many repeats after a
warm-up, the two contestants alternate in blocks with a pause between them (BLAS threads
keep spinning for a moment after a call and would slow the other one down), and the
ratios compare numbers measured in the same run. Other programs running at the same time
still slow everything down: the load average is printed for that reason.

Networks:

* LeNet-5 on 1x28x28: Conv(1,6,5,pad 2)-ReLU-MaxPool2-Conv(6,16,5)-ReLU-MaxPool2-Flatten-
  Dense(400,120)-ReLU-Dense(120,84)-ReLU-Dense(84,10);
* MLP 784-128-64-10 with ReLU, on flattened 28x28 images;
* small CNN on 3x32x32 (CIFAR-sized): three Conv(3x3, pad 1)-ReLU-MaxPool2 blocks with
  16, 32 and 64 filters, Flatten, Dense(1024,10).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from netcore.activations import ReLU
from netcore.bench_baseline import plain_copy
from netcore.conv import Conv2D
from netcore.layers import Dense, Flatten
from netcore.losses import CrossEntropyLoss
from netcore.pool import MaxPool2D

BATCH = 64
INFER_BATCH = 1000
PAUSE = 0.15  # seconds between timed blocks, for BLAS threads to go idle


def lenet5(rng):
    return [
        Conv2D(1, 6, 5, padding=2, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(6, 16, 5, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(400, 120, rng=rng),
        ReLU(),
        Dense(120, 84, rng=rng),
        ReLU(),
        Dense(84, 10, rng=rng),
    ]


def mlp(rng):
    return [
        Flatten(),
        Dense(784, 128, rng=rng),
        ReLU(),
        Dense(128, 64, rng=rng),
        ReLU(),
        Dense(64, 10, rng=rng),
    ]


def small_cnn(rng):
    return [
        Conv2D(3, 16, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Conv2D(32, 64, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2D(2),
        Flatten(),
        Dense(1024, 10, rng=rng),
    ]


NETWORKS = [
    ("LeNet-5", lenet5, (1, 28, 28)),
    ("MLP 784-128-64-10", mlp, (1, 28, 28)),
    ("small CNN 3x32x32", small_cnn, (3, 32, 32)),
]


def _sequential(layers):
    from netcore.model import Sequential

    return Sequential(layers)


def _alternate(fns: list, repeats: int, rounds: int) -> list[tuple[float, float]]:
    """(wall, CPU) median ms of each function, timed in alternating blocks with pauses.

    CPU time (of this process) counts only the time the bench itself was running, so it
    is steadier than wall time when other programs compete for the cores (with one BLAS
    thread it is the same work; with several, it adds up the threads).
    """
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for fn in fns:  # warm-up: buffers allocated, caches and BLAS threads awake
        for _ in range(3):
            fn()
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            time.sleep(PAUSE)
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[i].append(time.perf_counter() - t0)
                cpu[i].append(time.process_time() - c0)
    return [
        (float(np.median(w) * 1e3), float(np.median(c) * 1e3))
        for w, c in zip(wall, cpu, strict=True)
    ]


def bench_network(name, make, input_shape, *, quick: bool) -> dict:
    """Time one network against its plain twin; check that both compute the same thing."""
    from netcore.optim import SGD

    rng = np.random.default_rng(0)
    model = _sequential(make(rng))
    plain = plain_copy(model)
    x = rng.standard_normal((BATCH, *input_shape)).astype(np.float32)
    labels = rng.integers(0, 10, size=BATCH)
    x_big = rng.standard_normal((INFER_BATCH, *input_shape)).astype(np.float32)

    ours, theirs = model.forward(x), plain.forward(x)
    agree = bool(np.allclose(ours, theirs, rtol=1e-3, atol=1e-4))

    loss = CrossEntropyLoss()
    opt = SGD(model.parameters(), lr=0.01)

    def step_ours():
        loss.forward(model.forward(x), labels)
        model.backward(loss.backward())
        opt.step()

    def step_plain():
        plain.train_step(x, labels, lr=0.01)

    repeats, rounds = (5, 2) if quick else (30, 5)
    if name.startswith("MLP"):
        repeats *= 5
    step, step_plain = _alternate([step_ours, step_plain], repeats, rounds)

    model.eval()
    inf_repeats, inf_rounds = (1, 1) if quick else (3, 3)
    infer, infer_plain = _alternate(
        [lambda: model.forward(x_big), lambda: plain.forward(x_big)], inf_repeats, inf_rounds
    )
    return {
        "name": name,
        "agree": agree,
        "step_ms": step[0],
        "plain_step_ms": step_plain[0],
        "step_cpu_ms": step[1],
        "plain_step_cpu_ms": step_plain[1],
        "infer_ms": infer[0],
        "plain_infer_ms": infer_plain[0],
        "infer_cpu_ms": infer[1],
        "plain_infer_cpu_ms": infer_plain[1],
    }


def train_lenet(epochs: int = 8, seed: int = 0) -> dict:
    """Train LeNet-5 on the bundled MNIST subset (Adam, lr 1e-3, batch 64)."""
    from netcore.datasets import load_dataset
    from netcore.optim import Adam
    from netcore.train import fit

    data = load_dataset("mnist_5k")
    rng = np.random.default_rng(seed)
    model = _sequential(lenet5(rng))
    t0 = time.perf_counter()
    fit(
        model,
        CrossEntropyLoss(),
        Adam(model.parameters(), lr=1e-3),
        data.X_train,
        data.y_train,
        batch_size=BATCH,
        epochs=epochs,
        rng=rng,
    )
    seconds = time.perf_counter() - t0
    model.eval()
    predictions = np.concatenate(
        [
            model.forward(data.X_test[i : i + 500]).argmax(axis=1)
            for i in range(0, len(data.X_test), 500)
        ]
    )
    return {
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "epochs": epochs,
        "seconds": seconds,
        "accuracy": float(np.mean(predictions == data.y_test)),
    }


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu}; {os.cpu_count()} cores; numpy {np.__version__}; load average {load}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m netcore.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="few repeats, no accuracy run")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS threads (default 1: stable, comparable timings on a shared machine, where "
        "busy cores make multi-threaded BLAS stall; 0 keeps the library's default)",
    )
    args = parser.parse_args(argv)
    if args.threads > 0 and os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        # BLAS reads its thread count when NumPy is first imported: start again with it set.
        n = str(args.threads)
        env = dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)
        argv = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, "-m", "netcore.bench", *argv], env)

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "library default")
    print(f"machine: {_machine()}; BLAS threads: {threads}")
    print(f"batch {BATCH}, float32; one step = forward + loss + backward + SGD update")
    print()
    header = (
        f"{'network':<20} {'step ms':>8} {'plain ms':>9} {'speed-up':>9} {'(cpu)':>6}   "
        f"{f'infer {INFER_BATCH} ms':>14} {'plain ms':>9} {'speed-up':>9} {'(cpu)':>6}  same"
    )
    print(header)
    print("-" * len(header))
    for name, make, shape in NETWORKS:
        r = bench_network(name, make, shape, quick=args.quick)
        print(
            f"{r['name']:<20} {r['step_ms']:>8.2f} {r['plain_step_ms']:>9.2f} "
            f"{r['plain_step_ms'] / r['step_ms']:>8.1f}x "
            f"{r['plain_step_cpu_ms'] / r['step_cpu_ms']:>5.1f}x   "
            f"{r['infer_ms']:>14.1f} {r['plain_infer_ms']:>9.1f} "
            f"{r['plain_infer_ms'] / r['infer_ms']:>8.1f}x "
            f"{r['plain_infer_cpu_ms'] / r['infer_cpu_ms']:>5.1f}x  "
            f"{'yes' if r['agree'] else 'NO'}",
            flush=True,
        )
    print(
        "\nms: wall-clock medians; (cpu): the same ratio on this process's CPU time, steadier "
        "when other programs share the cores; same: both versions compute the same outputs"
    )
    if not args.quick:
        print()
        r = train_lenet()
        print(
            f"LeNet-5 on the bundled MNIST subset ({r['n_train']} train / {r['n_test']} test), "
            f"Adam lr 1e-3, batch {BATCH}, {r['epochs']} epochs: test accuracy "
            f"{r['accuracy']:.1%} ({r['seconds']:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
