"""The look-inside pages in a real browser, on a run that trains while we look.

Screenshots (tests/browser/screenshots/views-*.png) are for a person to open and check:
nothing empty, clipped or overflowing."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

VIEWS = {
    "filters": "Filters",
    "feature-maps": "Feature maps",
    "weights": "Weights & gradients",
    "evaluate": "Evaluate",
}


def no_exception(page) -> None:
    assert not page.locator('[data-testid="stException"]').count()
    assert not page.get_by_text("Traceback").count()


def drawn_charts(page) -> int:
    """Plotly charts that have drawn something (a heatmap image, bars, lines or a picture)."""
    return page.locator(".js-plotly-plot").evaluate_all(
        """els => els.filter(e => e.querySelector(
            '.heatmaplayer image, .imagelayer image, g.bars path, .scatterlayer path.js-line'
        )).length"""
    )


def click_tile(page, helpers, chart_key: str, channel: int) -> None:
    """Click channel `channel`'s tile in a feature-map montage (its invisible marker)."""
    chart = helpers.key(page, f"{chart_key}.chart")
    chart.scroll_into_view_if_needed()
    chart.locator(".scatterlayer .point").nth(channel).click(force=True)
    helpers.wait_idle(page)


def shot_dir() -> Path:
    return Path(__file__).resolve().parent / "screenshots"


def current_step(page) -> int:
    text = page.locator('[data-testid="stProgress"]').first.inner_text()
    m = re.search(r"step ([\d,]+) /", text)
    return int(m.group(1).replace(",", "")) if m else -1


def test_views_without_a_model_point_to_train(page, helpers, shot):
    for path, title in VIEWS.items():
        helpers.open(page, path)
        page.get_by_role("heading", name=title, exact=True).first.wait_for()
        page.get_by_text("No network yet").first.wait_for()
        assert drawn_charts(page) == 0
        no_exception(page)
    shot(page, "views-no-model")
    helpers.key(page, "evaluate.to_train").locator("button").click()
    page.get_by_role("heading", name="Train", exact=True).first.wait_for()


def test_views_on_a_run_that_trains(page, helpers, shot):
    helpers.open(page)
    helpers.key(page, "home.quick_cnn").locator("button").click()
    page.wait_for_url(re.compile(r".*/train\?run=\d{8}-\d{6}-[0-9a-f]{6}"), timeout=30_000)
    run_id = page.url.split("run=")[1]
    end = time.monotonic() + 90
    while current_step(page) < 40 and time.monotonic() < end:
        time.sleep(0.5)
    assert current_step(page) >= 40, "training did not get going"

    timings = {}
    expected = {"filters": 2, "feature-maps": 10, "weights": 6, "evaluate": 3}
    for path, title in VIEWS.items():
        t0 = time.monotonic()
        helpers.open(page, path, f"run={run_id}")
        page.get_by_role("heading", name=title, exact=True).first.wait_for()
        page.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot').length >= {expected[path]}",
            timeout=60_000,
        )
        helpers.wait_idle(page)
        timings[path] = time.monotonic() - t0
        no_exception(page)
        assert drawn_charts(page) >= expected[path], f"{path}: a chart is empty"
        assert page.get_by_text("What am I looking at?").count()
        shot(page, f"views-{path}-live")

    # Replay the filters: the first snapshot is a different picture from "now".
    helpers.open(page, "filters", f"run={run_id}")
    slider = helpers.key(page, "filters.moment").locator('input[type="range"]')
    slider.focus()
    page.keyboard.press("Home")
    helpers.wait_idle(page)
    page.get_by_text(re.compile(r"step 0 · epoch 0\.00")).first.wait_for()
    no_exception(page)
    shot(page, "views-filters-step0")

    # Draw a digit: the network's view of it and its guess appear.
    helpers.open(page, "feature-maps", f"run={run_id}")
    helpers.key(page, "fm.source").get_by_text("Draw", exact=True).click()
    canvas = page.locator("canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 16):  # a vertical stroke: a "1"
        page.mouse.move(x0, y0 + i * box["height"] * 0.04)
    page.mouse.up()
    page.get_by_text("your drawing").first.wait_for(timeout=30_000)
    helpers.wait_idle(page)
    no_exception(page)
    assert drawn_charts(page) >= 10
    shot(page, "views-feature-maps-drawn")

    # Click a tile of the first ReLU: that channel opens under the montage, with its filter.
    click_tile(page, helpers, "fm.layer1", 3)
    panel = helpers.key(page, "fm.clicked_panel")
    panel.wait_for()
    panel.get_by_text("channel 3").first.wait_for()
    assert panel.get_by_text("Filter 3 of layer 0").count()
    no_exception(page)
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(shot_dir() / "views-feature-maps-clicked.png"))

    # Stop training (unless it has finished meanwhile); the views stay on its last weights.
    helpers.open(page, "train", f"run={run_id}")
    stop = helpers.key(page, "train.stop").locator("button")
    if stop.is_enabled():
        stop.click()
        page.get_by_text("Stopped by you.").first.wait_for()
    helpers.open(page, "evaluate", f"run={run_id}")
    page.get_by_text("Test accuracy").first.wait_for()
    helpers.key(page, "eval.norm").get_by_text("% of true class").click()
    helpers.wait_idle(page)
    no_exception(page)
    shot(page, "views-evaluate-stopped")
    page.get_by_role("tab", name="Compare runs").click()
    helpers.wait_idle(page)
    helpers.key(page, "eval.runs").get_by_text(run_id[-6:], exact=False).first.wait_for()
    shot(page, "views-compare-runs")
    print(
        "\nMEASURED view open (browser, while training): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    )


def test_views_on_an_uploaded_colour_model(page, helpers, shot, runs_dir, tmp_path):
    """A VGG-small for 3x32x32 images, uploaded without any history, on a 10-class colour
    set (generated here as the CIFAR-10 cache: the archive is not downloaded in tests)."""
    if os.environ.get("NETCORE_DATA_DIR"):
        pytest.skip("the test server uses a shared data folder: no generated set goes there")
    from netcore.spec import build_model, preset_spec
    from ui.config import RunConfig
    from ui.training import model_bytes

    data = runs_dir.parent / "data" / "cifar10"  # the server's private data folder
    if not (data / "parsed.npz").exists():
        rng = np.random.default_rng(0)
        hues = rng.uniform(40, 215, (10, 3))
        arrays = {}
        for part, n in (("train", 500), ("test", 200)):
            y = np.arange(n) % 10
            x = hues[y][:, :, None, None] + rng.normal(0, 30, (n, 3, 32, 32))
            arrays[f"raw_{part}"] = np.clip(x, 0, 255).astype(np.uint8)
            arrays[f"y_{part}"] = y.astype(np.int64)
        data.mkdir(parents=True, exist_ok=True)
        np.savez(data / "parsed.npz", **arrays)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]  # fmt: skip
    spec = preset_spec("vgg-small", (3, 32, 32), 10)
    cfg = RunConfig(dataset="cifar10", arch=spec, input_shape=(3, 32, 32), class_names=names)
    model = build_model(spec, (3, 32, 32), rng=np.random.default_rng(1))
    saved = tmp_path / "vgg-small.npz"
    saved.write_bytes(model_bytes(model, cfg))

    helpers.open(page, "train")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(saved)
    page.get_by_text("vgg-small.npz: 15 layers").wait_for()
    helpers.key(page, "train.inspect_upload").locator("button").first.click()
    page.get_by_text("in the Look-inside pages").first.wait_for()
    expected = {"Filters": 4, "Feature maps": 12, "Weights & gradients": 3, "Evaluate": 3}
    for title, least in expected.items():
        # The sidebar keeps the session (and its upload); a new URL would start a new one.
        page.get_by_role("link", name=title).first.click()
        page.get_by_role("heading", name=title, exact=True).first.wait_for()
        page.wait_for_function(
            f"() => document.querySelectorAll('.js-plotly-plot').length >= {least}",
            timeout=90_000,
        )
        helpers.wait_idle(page, 90)
        no_exception(page)
        assert drawn_charts(page) >= least, f"{title}: a chart is empty"
        shot(page, f"views-rgb-upload-{title.split()[0].lower()}")
        if title == "Feature maps":
            assert page.get_by_text("The same input as a picture").count()
            click_tile(page, helpers, "fm.layer5", 20)  # a 32-channel conv of the second block
            helpers.key(page, "fm.clicked_panel").get_by_text("channel 20").first.wait_for()
            no_exception(page)
