"""The look-inside pages (Filters, Feature maps, Weights & gradients, Evaluate) in AppTest:
with no model they explain and link to Train; on a trained run they draw real charts."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")
PAGES = {
    "filters": "app_pages/filters.py",
    "feature_maps": "app_pages/feature_maps.py",
    "weights": "app_pages/weights.py",
    "evaluate": "app_pages/evaluate.py",
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A LeNet-5 trained for one short epoch on part of the bundled MNIST subset, saved in
    a run store of its own (with history, statistics and snapshots)."""
    from netcore.datasets import load_dataset
    from netcore.spec import preset_spec
    from ui.config import RunConfig
    from ui.runstore import RunStore
    from ui.training import make_job

    root = tmp_path_factory.mktemp("runs")
    full = load_dataset("mnist_5k")
    small = dataclasses.replace(
        full, X_train=full.X_train[:1024], y_train=full.y_train[:1024],
        raw_train=full.raw_train[:1024],
    )  # fmt: skip
    cfg = RunConfig(
        dataset="mnist_5k",
        arch=preset_spec("lenet5", (1, 28, 28), 10),
        input_shape=(1, 28, 28),
        batch_size=32,
        epochs=1,
        name="lenet views",
    )
    job = make_job(cfg, RunStore(root), dataset=small)
    job.start()
    assert job.join(120), "training did not finish"
    assert job.status == "finished", job.snapshot(with_history=False).error
    return root, job.run_id


def open_page(page: str, monkeypatch, runs_dir, run_id: str | None = None) -> AppTest:
    monkeypatch.setenv("NETCORE_RUNS_DIR", str(runs_dir))
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    if run_id:
        at.query_params["run"] = run_id
    at.run()
    at.switch_page(PAGES[page])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def arr(value) -> np.ndarray:
    """A Plotly spec array: a plain list, or a base64 typed array {dtype, bdata, shape}."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if shape:
            flat = flat.reshape([int(n) for n in str(shape).split(",")])
        return flat.astype(float)
    return np.asarray(value, dtype=float)


@pytest.mark.parametrize("page", list(PAGES))
def test_without_a_model_the_page_explains_and_links_to_train(page, monkeypatch, tmp_path):
    at = open_page(page, monkeypatch, tmp_path)
    assert not at.get("plotly_chart"), "no empty charts without a model"
    assert any("No network yet" in i.value for i in at.info)
    assert at.expander[0].label == "What am I looking at?"
    at.button(key=f"{page}.to_train").click().run()
    assert not at.exception
    assert at.title[0].value == "Train"


def test_filters_page_draws_zero_centred_kernels(trained_run, monkeypatch):
    root, run_id = trained_run
    at = open_page("filters", monkeypatch, root, run_id)
    specs = plotly_specs(at)
    # Every conv layer at once, input side first.
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert len(specs) == 2 and titles[0].startswith("0 · Conv2D") and titles[1].startswith("3 ·")
    spec = specs[0]
    hm = spec["data"][0]
    assert hm["type"] == "heatmap" and hm["zmid"] == 0 and hm["zmin"] == -hm["zmax"]
    assert "6 filters 5×5" in spec["layout"]["title"]["text"]
    assert "mean over 6 input channels" in titles[1]
    # Second conv layer, every input channel: a 16 x 6 grid of 5x5 kernels.
    at.selectbox(key="filters.layer").set_value(3).run()
    at.radio(key="filters.mode").set_value("all").run()
    spec = plotly_specs(at)[0]
    assert "rows = 16 filters, columns = 6 input channels" in spec["layout"]["title"]["text"]
    # Per-filter range: every tile scaled to [-1, 1]; the title says so.
    at.radio(key="filters.range").set_value("each filter its own range").run()
    spec = plotly_specs(at)[0]
    assert spec["data"][0]["zmax"] == 1.0
    assert "own largest" in spec["layout"]["title"]["subtitle"]["text"]
    # Replay: the first snapshot (step 0, the initial weights) differs from the final ones.
    now = arr(plotly_specs(at)[0]["data"][0]["customdata"])
    at.select_slider(key="filters.moment").set_value(0).run()
    assert not at.exception
    start = arr(plotly_specs(at)[0]["data"][0]["customdata"])
    assert start.shape == now.shape and not np.allclose(start[..., -1], now[..., -1])
    # "Replay training" steps through the snapshots, one per refresh.
    at.toggle(key="filters.play").set_value(True).run()
    first = at.select_slider(key="filters.moment").value
    at.run()
    second = at.select_slider(key="filters.moment").value
    assert first != second and not at.exception


def test_feature_maps_page_shows_every_layer_and_probabilities(trained_run, monkeypatch):
    root, run_id = trained_run
    at = open_page("feature_maps", monkeypatch, root, run_id)
    specs = plotly_specs(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles[0].startswith("Input as the network sees it")
    assert titles[1].startswith("Prediction:")
    probs = arr(specs[1]["data"][0]["x"])
    assert probs.sum() == pytest.approx(100, abs=0.1)
    assert any("6 channels of 28×28" in t for t in titles)  # conv 1 and its ReLU
    assert any("16 channels of 5×5" in t for t in titles)  # after the second pool
    assert any("84 units" in t for t in titles)
    assert not any("Flatten" in t for t in titles)  # a reshape adds nothing to see
    # Enlarge channel 3 of the first ReLU: the map and the filter that made it.
    at.selectbox(key="fm.zoom_layer").set_value(1).run()
    at.number_input(key="fm.zoom_channel").set_value(3).run()
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert any("1 · ReLU · channel 3" in t for t in titles)
    assert any("Filter 3 of layer 0" in t for t in titles)
    # A test image of class 7: the true class is marked on the bars.
    at.selectbox(key="fm.class").set_value(7).run()
    bars = plotly_specs(at)[1]["data"][0]
    assert any(label == "7  ✓ true" for label in bars["y"])


def test_weights_page_curves_and_histograms(trained_run, monkeypatch):
    root, run_id = trained_run
    at = open_page("weights", monkeypatch, root, run_id)
    specs = plotly_specs(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "Weights of 0.weight" in titles and "Gradients of 0.weight" in titles
    assert any("over training" in t for t in titles)
    grad = next(s for s in specs if s["layout"]["title"]["text"].startswith("Gradient norm ‖g‖"))
    assert grad["layout"]["yaxis"]["type"] == "log"
    names = [t.get("name") for t in grad["data"] if t.get("showlegend") is not False]
    assert names == ["0.weight · Conv2D", "3.weight · Conv2D", "7.weight · Dense",
                     "9.weight · Dense", "11.weight · Dense"]  # fmt: skip
    ratio = next(s for s in specs if s["layout"]["title"]["text"].startswith("Update / weight"))
    assert ratio["layout"]["shapes"][0]["y0"] == pytest.approx(1e-3)
    dead = next(s for s in specs if s["layout"]["title"]["text"].startswith("Dead ReLU"))
    assert len([t for t in dead["data"] if t.get("showlegend") is not False]) == 4
    at.selectbox(key="weights.param").set_value("7.weight").run()
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert "Weights of 7.weight" in titles


def test_evaluate_page_metrics_match_a_direct_computation(trained_run, monkeypatch):
    from netcore.datasets import load_dataset
    from ui.runstore import RunStore
    from ui.training import load_model_file

    root, run_id = trained_run
    at = open_page("evaluate", monkeypatch, root, run_id)
    model, _ = load_model_file(RunStore(root).model_path(run_id))
    ds = load_dataset("mnist_5k")
    pred = model.eval().predict(ds.X_test)
    acc = float(np.mean(pred == ds.y_test))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Test accuracy"] == f"{acc * 100:.2f}%"
    assert shown["Mistakes"] == f"{int((pred != ds.y_test).sum()):,}"
    specs = plotly_specs(at)
    cm = arr(specs[0]["data"][0]["z"])
    assert cm.sum() == len(ds.y_test) and np.trace(cm) == int((pred == ds.y_test).sum())
    gallery = next(s for s in specs if "confident mistakes" in s["layout"]["title"]["text"])
    assert gallery["data"][0]["type"] == "image"
    at.segmented_control(key="eval.norm").set_value("% of true class").run()
    rows = arr(plotly_specs(at)[0]["data"][0]["z"]).sum(axis=1)
    np.testing.assert_allclose(rows, 100, atol=1e-6)
    # The comparison tab lists the run with its final accuracy.
    frame = at.dataframe[0].value
    assert list(frame["run"]) == ["lenet views"]


def test_pages_work_on_an_uploaded_model_without_history(monkeypatch, tmp_path):
    """A model opened from a file has no run, no snapshots and no statistics: every page
    still draws what it can (weights now, gradients on one batch) and says what is missing."""
    from netcore.spec import build_model, preset_spec

    spec = preset_spec("lenet5", (1, 28, 28), 10)
    model = build_model(spec, (1, 28, 28), rng=np.random.default_rng(3))
    info = {
        "source": "upload",
        "label": "lenet.npz",
        "dataset": "mnist_5k",
        "input_shape": (1, 28, 28),
        "class_names": [str(i) for i in range(10)],
        "step": None,
        "epoch": None,
        "status": "uploaded",
        "config": None,
        "run_id": None,
    }
    monkeypatch.setenv("NETCORE_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.session_state["nc.upload"] = (model, info)
    at.run()
    for page, least in (("filters", 1), ("feature_maps", 10), ("weights", 3), ("evaluate", 3)):
        at.switch_page(PAGES[page])
        at.run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert len(at.get("plotly_chart")) >= least, page
        moments = [w for w in at.get("select_slider") if w.key.endswith(".moment")]
        assert not moments, "no snapshots to replay for an upload"
    at.switch_page(PAGES["weights"]).run()
    assert any("No training statistics" in c.value for c in at.caption)
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert "Gradient norm per layer (one batch)" in titles
    assert "Dead ReLU units (on 32 images)" in titles


def _synthetic_rgb_set(folder: Path, n_train: int = 300, n_test: int = 200) -> None:
    """A 3x32x32, 10-class stand-in for CIFAR-10 saved as its parsed download cache (the
    real archive is not fetched in tests): each class a colour, plus noise."""
    rng = np.random.default_rng(0)
    hues = rng.uniform(40, 215, (10, 3))
    arrays = []
    for n in (n_train, n_test):
        y = np.arange(n) % 10
        x = hues[y][:, :, None, None] + rng.normal(0, 30, (n, 3, 32, 32))
        arrays += [np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)]
    (folder / "cifar10").mkdir(parents=True)
    np.savez(
        folder / "cifar10" / "parsed.npz",
        raw_train=arrays[0], y_train=arrays[1], raw_test=arrays[2], y_test=arrays[3],
    )  # fmt: skip


def test_pages_on_a_fresh_colour_model_of_cifar_size(monkeypatch, tmp_path):
    """An untrained VGG-small on 3x32x32 images (64-channel budget: 16 and 32 filters of
    3x3): colour filters, RGB input picture, no statistics yet, a 10-class evaluation."""
    from netcore.spec import build_model, preset_spec

    _synthetic_rgb_set(tmp_path / "data")
    monkeypatch.setenv("NETCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NETCORE_RUNS_DIR", str(tmp_path / "runs"))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]  # fmt: skip
    model = build_model(preset_spec("vgg-small", (3, 32, 32), 10), (3, 32, 32),
                        rng=np.random.default_rng(1))  # fmt: skip
    info = {
        "source": "upload", "label": "vgg-small.npz", "dataset": "cifar10",
        "input_shape": (3, 32, 32), "class_names": names, "step": None, "epoch": None,
        "status": "uploaded", "config": None, "run_id": None,
    }  # fmt: skip
    at = AppTest.from_file(DASHBOARD, default_timeout=90)
    at.session_state["nc.upload"] = (model, info)
    at.run()

    at.switch_page(PAGES["filters"]).run()
    assert not at.exception, [e.value for e in at.exception]
    specs = plotly_specs(at)
    assert len(specs) == 4  # four conv layers
    assert specs[0]["data"][0]["type"] == "image"  # first layer in colour
    assert "in colour" in specs[0]["layout"]["title"]["text"]
    at.toggle(key="filters.rgb").set_value(False).run()
    assert "mean over 3 input channels" in plotly_specs(at)[0]["layout"]["title"]["text"]
    at.radio(key="filters.mode").set_value("all").run()  # 32 x 32 kernels: capped to 512 tiles
    assert not at.exception, [e.value for e in at.exception]
    assert any("the first 16 of 32 filters" in c.value for c in at.caption)

    at.switch_page(PAGES["feature_maps"]).run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert "The same input as a picture" in titles
    assert any("32 channels of 16×16" in t for t in titles)
    bars = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"].startswith("Pred"))
    assert len(bars["data"][0]["y"]) == 10 and any("airplane" in n for n in bars["data"][0]["y"])

    at.switch_page(PAGES["weights"]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No training statistics" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 3

    at.switch_page(PAGES["evaluate"]).run()
    assert not at.exception, [e.value for e in at.exception]
    cm = arr(plotly_specs(at)[0]["data"][0]["z"])
    assert cm.shape == (10, 10) and cm.sum() == 200
    print(
        "\nMEASURED AppTest view timers (fresh VGG-small, 3x32x32): "
        + ", ".join(f"{k} {at.session_state[k]:.0f} ms" for k in
                    ("filters.ms", "fm.ms", "weights.ms", "eval.ms") if k in at.session_state)
    )  # fmt: skip


def test_filters_of_an_mlp_are_its_first_layer_templates(monkeypatch, tmp_path):
    """No conv layer: each unit of the first Dense layer drawn as a 28x28 image."""
    from netcore.spec import build_model, preset_spec

    model = build_model(preset_spec("mlp", (1, 28, 28), 10), (1, 28, 28),
                        rng=np.random.default_rng(2))  # fmt: skip
    info = {
        "source": "upload", "label": "mlp.npz", "dataset": "mnist_5k",
        "input_shape": (1, 28, 28), "class_names": [str(i) for i in range(10)], "step": None,
        "epoch": None, "status": "uploaded", "config": None, "run_id": None,
    }  # fmt: skip
    monkeypatch.setenv("NETCORE_RUNS_DIR", str(tmp_path))
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.session_state["nc.upload"] = (model, info)
    at.run()
    at.switch_page(PAGES["filters"]).run()
    assert not at.exception, [e.value for e in at.exception]
    specs = plotly_specs(at)
    assert len(specs) == 1 and "128 filters 28×28" in specs[0]["layout"]["title"]["text"]
    assert any("no convolution layers" in c.value for c in at.caption)
