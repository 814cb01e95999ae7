"""The bench's plain baseline computes the same network as the real layers, and the bench
runs end to end (on the smallest network, quickly)."""

import numpy as np
import pytest

from netcore import bench
from netcore.bench_baseline import plain_copy
from netcore.losses import CrossEntropyLoss
from netcore.model import Sequential
from netcore.optim import SGD


@pytest.mark.parametrize(
    ("name", "make", "shape"), bench.NETWORKS, ids=[n for n, _, _ in bench.NETWORKS]
)
def test_plain_baseline_matches_the_real_layers(name, make, shape):
    rng = np.random.default_rng(0)
    model = Sequential(make(rng))
    plain = plain_copy(model)
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    labels = np.array([0, 3, 7, 9])
    np.testing.assert_allclose(model.forward(x), plain.forward(x), rtol=1e-4, atol=1e-5)
    # one SGD step each: the same updated weights (random data: no max-pool ties)
    loss = CrossEntropyLoss()
    loss.forward(model.forward(x), labels)
    model.backward(loss.backward())
    SGD(model.parameters(), lr=0.1).step()
    plain.train_step(x, labels, lr=0.1)
    ours = [p.data for p in model.parameters()]
    theirs = [a for layer in plain.layers for a, _ in layer.params()]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bench_runs_quickly_on_the_mlp(monkeypatch, capsys):
    monkeypatch.setattr(bench, "NETWORKS", [n for n in bench.NETWORKS if n[0].startswith("MLP")])
    monkeypatch.setattr(bench, "INFER_BATCH", 100)
    monkeypatch.setattr(bench, "PAUSE", 0.0)
    assert bench.main(["--quick", "--threads", "0"]) == 0
    out = capsys.readouterr().out
    assert "MLP 784-128-64-10" in out
    assert "speed-up" in out
    assert "yes" in out  # same output as the baseline


def test_network_stays_float32_end_to_end():
    rng = np.random.default_rng(1)
    model = Sequential(bench.lenet5(rng))
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    out = model.forward(x, capture=True)
    assert out.dtype == np.float32
    assert all(a.dtype == np.float32 for a in model.activations)
    loss = CrossEntropyLoss()
    loss.forward(out, np.array([1, 2, 3]))
    model.backward(loss.backward())
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
