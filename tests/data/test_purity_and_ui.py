"""netcore imports only NumPy and the standard library; the Streamlit wrappers in ui/data.py."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from data_fakes import make_idx_set, md5

from netcore.datasets import SOURCES
from netcore.datasets.download import RemoteFile

ROOT = Path(__file__).resolve().parents[2]

PURITY_CHECK = """
import json, sys
import numpy, numpy.random
before = set(sys.modules)  # the interpreter's and NumPy's own modules
import netcore.datasets as d
d.load_dataset("mnist_5k")
d.make_toy("moons")
print(json.dumps(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""


def test_netcore_datasets_imports_nothing_but_numpy_and_stdlib():
    out = subprocess.run(
        [sys.executable, "-c", PURITY_CHECK], cwd=ROOT, capture_output=True, text=True, check=True
    )
    added = set(json.loads(out.stdout))
    assert "netcore" in added
    foreign = added - set(sys.stdlib_module_names) - {"netcore", "numpy"}
    assert not foreign, f"netcore.datasets imported {sorted(foreign)}"


def _page(key):
    """A tiny Streamlit page that asks ui.data for a dataset (run by AppTest)."""
    import streamlit as st

    from ui.data import get_dataset

    ds = get_dataset(key)
    st.session_state["got"] = (ds.info.key, ds.X_train.shape, bool(ds.X_train.flags.writeable))


@pytest.fixture
def app_test(cache_dir):
    from streamlit.testing.v1 import AppTest

    from ui.data import _shared_dataset

    _shared_dataset.clear()
    yield lambda key: AppTest.from_function(_page, args=(key,), default_timeout=30).run()
    _shared_dataset.clear()


def test_bundled_set_is_shared_and_read_only(app_test):
    at = app_test("mnist_5k")
    assert not at.exception and not at.error
    assert at.session_state["got"] == ("mnist_5k", (4000, 1, 28, 28), False)


def test_failed_download_shows_error_and_falls_back(app_test, dead_url, monkeypatch):
    monkeypatch.setenv("NETCORE_DATA_MIRROR", dead_url)
    at = app_test("fashion_mnist")
    assert not at.exception
    assert len(at.error) == 1
    assert "Could not download train-images-idx3-ubyte.gz" in at.error[0].value
    assert "bundled MNIST subset instead" in at.error[0].value
    assert at.session_state["got"][0] == "mnist_5k"


def test_download_through_the_app(app_test, server, monkeypatch):
    _, files = make_idx_set()
    for name, content in files.items():
        server.files[f"/mnist/{name}"] = content
    remote = tuple(RemoteFile(n, md5(c)) for n, c in files.items())
    monkeypatch.setitem(SOURCES, "mnist", replace(SOURCES["mnist"], files=remote))
    monkeypatch.setenv("NETCORE_DATA_MIRROR", server.url)
    at = app_test("mnist")
    assert not at.exception and not at.error
    assert at.session_state["got"] == ("mnist", (60, 1, 28, 28), False)


def test_toy_wrappers_return_fresh_copies():
    from ui.data import toy_dataset, toy_split

    X, y = toy_dataset("spiral", 90, 0.1, 0, 3)
    X[:] = 0  # a caller editing its copy must not change the cached one
    X2, y2 = toy_dataset("spiral", 90, 0.1, 0, 3)
    assert np.abs(X2).max() > 0.5 and np.array_equal(y, y2)
    X_tr, X_te, y_tr, y_te = toy_split("moons", 100, 0.1, 0, None, 0.3)
    assert len(y_te) == 30 and len(y_tr) == 70
