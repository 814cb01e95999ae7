"""Helpers shared by the AppTest tests (imported by tests/app/*.py)."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = str(ROOT / "dashboard.py")

PAGES = {
    "home": "app_pages/home.py",
    "data": "app_pages/data.py",
    "build": "app_pages/build.py",
    "train": "app_pages/train.py",
    "filters": "app_pages/filters.py",
    "feature_maps": "app_pages/feature_maps.py",
    "weights": "app_pages/weights.py",
    "evaluate": "app_pages/evaluate.py",
    "playground": "app_pages/playground.py",
    "conv_explained": "app_pages/conv_explained.py",
    "gradient_check": "app_pages/gradient_check.py",
}


def goto(at: AppTest, page: str) -> AppTest:
    """Switch `at` to one of `PAGES` and run it."""
    at.switch_page(PAGES[page])
    return at.run()


def run_until(at: AppTest, cond, timeout: float = 60.0, period: float = 0.3) -> AppTest:
    """Rerun the script until ``cond(at)`` holds (run_every does not fire inside AppTest)."""
    end = time.monotonic() + timeout
    while True:
        at.run()
        if cond(at):
            return at
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the app")
        time.sleep(period)


def texts(at: AppTest) -> str:
    """All markdown, captions and alerts on the page, joined (for `in` checks)."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title"):
        parts += [str(e.value) for e in at.get(kind)]
    return "\n".join(parts)
