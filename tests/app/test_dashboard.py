"""The dashboard in AppTest: every page from a cold start, the Build editor, training from the
Train page with pause/step/resume/stop, and a reload that finds the run again."""

from __future__ import annotations

import json
import time

import pytest
from apphelp import DASHBOARD, PAGES, goto, run_until, texts
from streamlit.testing.v1 import AppTest

from ui.runstore import is_run_id


def run_status(at: AppTest) -> str | None:
    if "nc.run_id" not in at.session_state:
        return None
    run_id = at.session_state["nc.run_id"]
    from ui.state import registry

    job = registry().get(run_id)
    return job.status if job is not None else None


def current_step(at: AppTest) -> int:
    from ui.state import registry

    return registry().get(at.session_state["nc.run_id"]).snapshot(with_history=False).step


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_from_a_cold_start(page):
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.run()
    if page != "home":
        goto(at, page)
    assert not at.exception, [e.value for e in at.exception]


def test_home_one_click_lands_on_a_training_network(app):
    app.button(key="home.quick_cnn").click().run()
    assert not app.exception
    assert app.title[0].value == "Train"
    assert run_status(app) in ("queued", "running", "paused", "finished")
    assert is_run_id(app.query_params["run"][0] if isinstance(app.query_params["run"], list)
                     else app.query_params["run"])  # fmt: skip
    run_until(app, lambda a: current_step(a) > 0, timeout=60)
    app.button(key="train.stop").click().run()


def _rows(at):
    return at.session_state["build.rows"]


def test_build_rejects_a_bad_stack_and_keeps_the_last_valid(app):
    goto(app, "build")
    assert not app.exception and not app.error
    arch_before = app.session_state["nc.draft"].arch
    flatten = next(r for r in _rows(app) if r.type == "Flatten")
    app.button(key=f"build.{flatten.uid}.remove").click().run()
    assert not app.exception
    message = " ".join(e.value for e in app.error)
    assert "Flatten" in message and "row 5" in message.lower()
    # Training keeps the last network that worked.
    assert app.session_state["nc.draft"].arch == arch_before
    # A kernel too big for its input is named too.
    app.selectbox(key="build.preset").select("lenet5")
    app.button(key="build.load_preset").click().run()
    assert not app.error
    conv = [r for r in _rows(app) if r.type == "Conv2D"][-1]
    pool = [r for r in _rows(app) if r.type == "MaxPool2D"][-1]
    app.number_input(key=f"build.{conv.uid}.kernel_size").set_value(11).run()
    assert not app.error  # 14 -> 4 pixels: still fits
    app.number_input(key=f"build.{pool.uid}.kernel_size").set_value(8).run()
    message = " ".join(e.value for e in app.error)
    row = 1 + [r.uid for r in _rows(app)].index(pool.uid)
    assert f"row {row}" in message.lower() and "8" in message, message


def test_build_edits_become_the_draft(app):
    goto(app, "build")
    app.selectbox(key="build.preset").select("mlp")
    app.button(key="build.load_preset").click().run()
    dense = [r for r in _rows(app) if r.type == "Dense"][0]
    app.number_input(key=f"build.{dense.uid}.out_features").set_value(32).run()
    arch = app.session_state["nc.draft"].arch
    assert arch[1] == {"type": "Dense", "out_features": 32}
    assert [layer["type"] for layer in arch] == [
        "Flatten", "Dense", "ReLU", "Dense", "ReLU", "Dense"
    ]  # fmt: skip
    first = _rows(app)[1]
    app.button(key=f"build.{first.uid}.down").click().run()
    assert _rows(app)[2].uid == first.uid
    # The summary table lists every layer of the valid network.
    assert len(app.table[0].value) == 6


def _mlp_on_train_page(app, epochs: int):
    goto(app, "build")
    app.selectbox(key="build.preset").select("mlp")
    app.button(key="build.load_preset").click().run()
    goto(app, "train")
    app.number_input(key="train.epochs").set_value(epochs)
    app.select_slider(key="train.batch_size").set_value(128).run()


def _chart_traces(app, key: str) -> list[dict]:
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec["layout"].get("title", {}).get("text", "")
        if key in title:
            return spec["data"]
    raise AssertionError(f"no chart titled {key!r}")


def test_a_short_run_from_the_train_page_finishes_with_curves(app):
    _mlp_on_train_page(app, epochs=2)
    app.button(key="train.start").click().run()
    assert not app.exception
    run_until(app, lambda a: run_status(a) == "finished", timeout=90)
    app.run()  # the page as a student sees it after the run ended
    assert not app.exception
    loss = _chart_traces(app, "Loss")
    names = [t.get("name") for t in loss]
    assert "training loss" in names and "validation loss" in names
    train = next(t for t in loss if t.get("name") == "training loss")
    assert len(train["y"]) > 10 if isinstance(train["y"], list) else True
    val = next(t for t in loss if t.get("name") == "validation loss")
    assert len(val["x"]) == 2 if isinstance(val["x"], list) else True
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Validation accuracy"].endswith("%")
    assert "Finished all epochs." in texts(app)


def test_pause_step_resume_stop(app):
    _mlp_on_train_page(app, epochs=30)
    app.button(key="train.start").click().run()
    run_until(app, lambda a: current_step(a) > 2, timeout=60)
    app.button(key="train.pause").click().run()
    run_until(app, lambda a: run_status(a) == "paused", timeout=20)
    paused_at = current_step(app)
    time.sleep(0.3)
    app.run()
    assert current_step(app) == paused_at
    app.button(key="train.step").click().run()
    run_until(app, lambda a: current_step(a) == paused_at + 1, timeout=20)
    assert run_status(app) == "paused"
    app.button(key="train.resume").click().run()
    run_until(app, lambda a: current_step(a) > paused_at + 3, timeout=30)
    assert run_status(app) in ("running", "queued")
    app.button(key="train.stop").click().run()
    run_until(app, lambda a: run_status(a) == "stopped", timeout=20)
    assert "Stopped by you." in texts(app)


def test_a_reload_finds_the_run_again(app):
    _mlp_on_train_page(app, epochs=1)
    app.button(key="train.start").click().run()
    run_until(app, lambda a: run_status(a) == "finished", timeout=90)
    run_id = app.session_state["nc.run_id"]
    # A new session (reload / second tab / bookmark) with ?run=<id>.
    other = AppTest.from_file(DASHBOARD, default_timeout=60)
    other.query_params["run"] = run_id
    other.run()
    goto(other, "train")
    assert not other.exception
    assert run_id in texts(other)
    assert _chart_traces(other, "Loss")
    metrics = {m.label: m.value for m in other.metric}
    assert metrics["Validation accuracy"].endswith("%")


def test_one_active_run_per_session(app):
    app.button(key="home.quick_cnn").click().run()
    assert run_status(app) in ("queued", "running", "paused")
    goto(app, "home")
    app.button(key="home.quick_cnn").click().run()
    assert "already" in " ".join(w.value for w in app.warning)
    app.switch_page(PAGES["train"])
    app.run()
    app.button(key="train.stop").click().run()


def test_a_diverging_run_stops_with_advice(app):
    _mlp_on_train_page(app, epochs=20)
    app.select_slider(key="train.lr").set_value(3.0).run()  # Adam at 3.0 blows up
    app.button(key="train.start").click().run()
    run_until(app, lambda a: run_status(a) == "diverged", timeout=90)
    app.run()
    message = " ".join(e.value for e in app.error)
    assert "diverged" in message.lower() and "learning rate" in message.lower()
    retry = app.button(key="train.retry")
    # A tenth of 3 would diverge again with Adam: the retry uses Adam's usual rate.
    assert retry.label.endswith("0.001")
    retry.click().run()
    assert app.session_state["nc.draft"].lr == pytest.approx(1e-3)
    assert run_status(app) in ("queued", "running", "finished", "diverged")
    app.button(key="train.stop").click().run()


def test_no_page_shows_a_stray_docstring():
    """Streamlit's "magic" writes any bare string at a page's top level onto the page: only
    the module docstring may be one (a docstring under a constant would be shown)."""
    import ast
    from pathlib import Path

    pages = Path(__file__).resolve().parents[2] / "app_pages"
    stray = []
    for path in sorted(pages.glob("*.py")):
        body = ast.parse(path.read_text()).body
        for node in body[1:]:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                stray.append(f"{path.name}:{node.lineno}")
    assert not stray, f"bare strings shown on the page: {stray}"
