"""Browser test fixtures, shared by every tests/browser/test_*.py.

* ``app_server`` (session): ``streamlit run dashboard.py`` on a free port of 127.0.0.1, with a
  private run store (``NETCORE_RUNS_DIR``) and data cache; yields the base URL. Stopped (by
  its PID) at the end.
* ``browser`` (session): headless Debian Chromium driven by Playwright.
* ``page`` (test): a fresh tab (1400x1000) whose console errors are collected in
  ``page.console_errors``.
* ``shot(page, name)``: save a full-page screenshot as ``tests/browser/screenshots/<name>.png``
  and print its path.
* ``helpers`` (test): the same bound to the URL: ``helpers.open(page, "train")``,
  ``helpers.key(page, "train.start")``, ``helpers.wait_idle(page)``, ``helpers.shot(page, name)``.

Run with ``python -m pytest tests/browser -m browser -s`` to see the screenshot paths.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    """Browser tests need Chromium and Playwright; skip them (with a reason) where missing."""
    missing = None
    if not os.path.exists(CHROMIUM):
        missing = f"{CHROMIUM} is not installed"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright (python) is not installed"
    if missing:
        skip = pytest.mark.skip(reason=missing)
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("streamlit did not become healthy in time")


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """Base URL of a running dashboard (private run store and data cache)."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("browser-app")
    env = dict(os.environ)
    env["NETCORE_RUNS_DIR"] = str(tmp / "runs")
    env.setdefault("NETCORE_DATA_DIR", str(tmp / "data"))
    env["PYTHONUNBUFFERED"] = "1"
    # A closed tab's run stops after this many seconds (a reload re-attaches well before).
    env.setdefault("NETCORE_ORPHAN_GRACE_S", "8")
    log = open(tmp / "streamlit.log", "w")  # noqa: SIM115  (closed at teardown)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "dashboard.py",
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        app_server_runs_dir.path = tmp / "runs"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        print(f"\nstreamlit log: {tmp / 'streamlit.log'}")


class _RunsDir:
    path: Path | None = None


app_server_runs_dir = _RunsDir()


@pytest.fixture(scope="session")
def runs_dir(app_server) -> Path:
    """The run store folder of the test server (to check what it saved)."""
    return app_server_runs_dir.path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.set_default_timeout(30_000)
    yield pg
    with contextlib.suppress(Exception):
        context.close()


def wait_idle(page, timeout: float = 30.0, settle: float = 0.3) -> None:
    """Wait until the app has finished its script run (``data-test-script-state`` on
    ``stApp`` is no longer running) and give the browser `settle` seconds to paint.

    A page with a live fragment reruns it every second; a moment between two runs counts.
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const state = app && app.getAttribute('data-test-script-state');
            return state && state !== 'running' && state !== 'initial'
                && state !== 'rerunRequested'
                && !document.querySelector('[data-testid="stSkeleton"]');
        }""",
        timeout=timeout * 1000,
        polling=50,
    )
    time.sleep(settle)


def open_page(page, base_url: str, url_path: str = "", query: str = "") -> None:
    """Go to ``<base_url>/<url_path>?<query>`` and wait until it has rendered."""
    url = f"{base_url}/{url_path}" + (f"?{query}" if query else "")
    page.goto(url)
    wait_idle(page)


def by_key(page, key: str):
    """The element of the widget or container created with ``key=`` (Streamlit's .st-key-*)."""
    safe = "".join(c if c.isalnum() or c in "_-" else "-" for c in key.strip())
    return page.locator(f".st-key-{safe}")


def save_shot(page, name: str, max_height: int = 4000) -> Path:
    """Screenshot the whole page. Streamlit scrolls inside its main area, so the viewport is
    stretched to the content's height for the shot (then put back)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    try:
        if size and height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": min(height, max_height)})
            time.sleep(0.3)  # let charts re-layout
        page.screenshot(path=str(path), full_page=True)
    finally:
        if size:
            page.set_viewport_size(size)
    print(f"\nscreenshot: {path}")
    return path


@pytest.fixture
def shot():
    """``shot(page, "train-running")`` saves a full-page screenshot and prints its path."""
    return save_shot


class BrowserHelpers:
    """What a browser test needs, as one fixture (``helpers``) bound to the app's URL."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def open(self, page, url_path: str = "", query: str = "") -> None:
        open_page(page, self.base_url, url_path, query)

    @staticmethod
    def wait_idle(page, timeout: float = 30.0) -> None:
        wait_idle(page, timeout)

    @staticmethod
    def key(page, key: str):
        return by_key(page, key)

    @staticmethod
    def shot(page, name: str) -> Path:
        return save_shot(page, name)


@pytest.fixture
def helpers(app_server) -> BrowserHelpers:
    """``helpers.open(page, "filters")``, ``helpers.key(page, "train.start").click()``,
    ``helpers.wait_idle(page)``, ``helpers.shot(page, "filters")``."""
    return BrowserHelpers(app_server)
