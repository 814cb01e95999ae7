"""AppTest fixtures: the dashboard run headless in-process, with a private run store.

``app()`` gives a fresh session (an `AppTest` of dashboard.py, already run once). Jobs started
by a test are stopped at its end, so no training thread outlives the test that made it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for apphelp.py (test helpers shared by the app tests)
    sys.path.insert(0, str(HERE))

from apphelp import DASHBOARD  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _private_run_store(tmp_path_factory):
    """Every AppTest in this session writes runs to a temporary folder, not ~/.cache."""
    runs = tmp_path_factory.mktemp("runs")
    old = os.environ.get("NETCORE_RUNS_DIR")
    os.environ["NETCORE_RUNS_DIR"] = str(runs)
    yield runs
    if old is None:
        os.environ.pop("NETCORE_RUNS_DIR", None)
    else:
        os.environ["NETCORE_RUNS_DIR"] = old


def _stop_all_jobs() -> None:
    from ui.state import registry

    with contextlib.suppress(Exception):  # no job was ever started in this process
        registry().stop_all(timeout=20)


@pytest.fixture
def app():
    """A fresh browser session on the dashboard's home page."""
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.run()
    yield at
    _stop_all_jobs()
