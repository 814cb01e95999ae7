"""The user's own images as a dataset: chosen on the Data page, built on, trained, evaluated."""

from __future__ import annotations

import numpy as np
import pytest
from apphelp import goto, run_until, texts
from test_dashboard import run_status

from netcore.datasets import make_dataset, save_custom
from netcore.datasets.core import own_images_info


@pytest.fixture
def own_set(tmp_path, monkeypatch):
    """A small two-class colour set (dark and light squares) saved as the user's own."""
    monkeypatch.setenv("NETCORE_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 40)
    raw = np.clip(rng.normal(60 + 120 * y[:, None, None, None], 20, (80, 3, 32, 32)), 0, 255)
    raw = raw.astype(np.uint8)
    info = own_images_info("custom", "squares", ("dark", "light"), (3, 32, 32), 64, 16)
    ds = make_dataset(info, raw[:64], y[:64], raw[64:], y[64:])
    return save_custom(ds)


def test_own_images_drive_every_page_and_train(app, own_set):
    app.session_state["nc.dataset"] = own_set
    goto(app, "data")
    assert not app.exception, [e.value for e in app.exception]
    assert "squares" in texts(app) or any("squares" in str(s.value) for s in app.subheader)
    goto(app, "build")
    assert not app.exception, [e.value for e in app.exception]
    goto(app, "train")
    app.number_input(key="train.epochs").set_value(1).run()
    app.button(key="train.start").click().run()
    assert not app.exception, [e.value for e in app.exception]
    run_until(app, lambda a: run_status(a) == "finished", timeout=120)
    for page in ("filters", "feature_maps", "evaluate"):
        goto(app, page)
        assert not app.exception, (page, [e.value for e in app.exception])
