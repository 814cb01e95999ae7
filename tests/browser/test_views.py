"""The look-inside pages in a real browser, on a run that trains while we look.

Screenshots (tests/browser/screenshots/views-*.png) are for a person to open and check:
nothing empty, clipped or overflowing."""

from __future__ import annotations

import re
import time

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
    expected = {"filters": 1, "feature-maps": 10, "weights": 6, "evaluate": 3}
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
