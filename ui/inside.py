"""Streamlit glue shared by the look-inside pages (Filters, Feature maps, Weights, Evaluate).

* `model_or_explain` -- the model to show, or a friendly "train one first" screen.
* `moment_picker` -- a slider over the run's weight snapshots ("the moment in training").
* `forward_cached`, `evaluate_cached` -- forward passes cached by (run, step, input), always
  on a copy of the model: the training thread's layers keep their inputs for backward, so
  running anything on the live model would corrupt its gradients.
* `live_every` -- the refresh interval of a view's fragment while its run trains.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import streamlit as st

from ui import state
from ui.inspect import is_conv, layer_label

LIVE_STATUSES = ("running", "queued")
REFRESH_S = 1.5
"""How often a live view redraws while its run trains (s); a redraw costs the training
thread little (a weight copy), the browser a new figure."""


# -- the model -----------------------------------------------------------------------------
def model_or_explain(view: str, what: str):
    """``(model, info)`` of the current run or uploaded model, else an explanation + button.

    Parameters
    ----------
    view : page name, used in widget keys
    what : one sentence saying what the page will show once there is a model
    """
    try:
        got = state.current_model()
    except Exception as e:  # a broken run folder must not take the page down
        st.warning(f"The current run could not be opened ({e}). Train a new one.")
        got = None
    if got is not None:
        model, info = got
        # When the weights were read: a live view's fragment, run in the same script run,
        # need not read them again (see `refresh`).
        return model, {**info, "read_at": time.monotonic()}
    st.info(
        f"**No network yet.** {what} Build a network and start training on the **Train** "
        "page (a few seconds of training is enough), or open a saved run or model there. "
        "This page then follows the run live.",
        icon=":material/school:",
    )
    if st.button(
        "Go to Train", icon=":material/model_training:", type="primary", key=f"{view}.to_train"
    ):
        st.switch_page("app_pages/train.py")
    return None


def model_key(info: dict, model=None) -> str:
    """Identifies the weights on screen, for caches: run id and step for a run; for an
    uploaded model its name and the object's identity (two uploads may share a name)."""
    if info.get("source") == "run":
        return f"run:{info.get('run_id')}:{info.get('step')}"
    return f"upload:{info.get('label', '')}:{id(model)}"


def is_live(info: dict) -> bool:
    return info.get("source") == "run" and info.get("status") in LIVE_STATUSES


def live_every(info: dict, follow: bool = True) -> float | None:
    """`st.fragment` run_every for a view: refresh while training, never when idle."""
    return REFRESH_S if follow and is_live(info) else None


def follow_toggle(info: dict, key: str) -> bool:
    """While the run trains: "Follow training live" (off freezes every chart of the page, so
    zoom and hover stay put; training goes on). Always True when nothing trains."""
    if not is_live(info):
        return True
    return st.toggle(
        "Follow training live",
        value=True,
        key=key,
        help="Off: freeze every chart on this page so you can zoom and hover. "
        "Training goes on; switch it back on to catch up.",
    )


def refresh(model, info: dict):
    """Inside a live fragment: the run's latest ``(model, info)`` (the page's own arguments
    are those of the last full run). Falls back to the given ones."""
    if not is_live(info):
        return model, info
    if time.monotonic() - info.get("read_at", 0.0) < REFRESH_S / 2:
        # Read a moment ago by this same script run: a second copy of a training model
        # waits for the batch in flight and rebuilds the network for nothing.
        return model, info
    try:
        got = state.current_model()
    except Exception:
        got = None
    if got is None or got[1].get("run_id") != info.get("run_id"):
        return model, info
    return got


def live_info(info: dict) -> dict:
    """`info` with the run's current step and status (cheap: no model copy)."""
    run = current_run_for(info)
    if run is None or run.job is None:
        return info
    snap = run.job.snapshot(with_history=False)
    return {**info, "step": snap.step, "epoch": snap.epoch, "status": snap.status}


def source_caption(info: dict, step: int | None = None) -> None:
    """One line saying which weights are on screen."""
    if info.get("source") == "run":
        s = info.get("step", 0) if step is None else step
        status = info.get("status", "")
        live = " · training, updates live" if is_live(info) and step is None else ""
        st.caption(
            f"{info.get('label', 'run')} · {info.get('dataset', '')} · step {s:,} ({status}){live}"
        )
    else:
        st.caption(f"Uploaded model: {info.get('label', '')}")


def current_run_for(info: dict):
    """The run handle behind `info` (None for an uploaded model)."""
    if info.get("source") != "run":
        return None
    run = state.current_run()
    return run if run is not None and run.run_id == info.get("run_id") else None


# -- the moment in training ----------------------------------------------------------------
def moment_picker(info: dict, key: str, advance: bool = False):
    """Slider over the run's saved snapshots plus "now".

    Parameters
    ----------
    advance : bool
        Move the slider one snapshot on before drawing it (the "Replay" animation; after
        "now" it starts again from the first snapshot).

    Returns
    -------
    (state_dict or None, step or None): None, None means "now" (the latest weights).
    """
    run = current_run_for(info)
    snaps = run.snapshots() if run is not None else []
    if not snaps:
        return None, None
    now = "now"
    options = [s for s, _, _ in snaps] + [now]
    by_step = {s: (e, sd) for s, e, sd in snaps}
    wkey = f"{key}.moment"
    held = st.session_state.get(wkey, now)
    if held not in options:  # a snapshot of another run, or one evicted since
        held = now
    if advance:
        held = options[(options.index(held) + 1) % len(options)]
    st.session_state[wkey] = held

    def fmt(v):
        if v == now:
            return f"now (step {info.get('step', 0):,})"
        return f"step {v:,} · epoch {by_step[v][0]:.2f}"

    picked = st.select_slider(
        "Moment in training",
        options=options,
        format_func=fmt,
        key=wkey,
        help="Snapshots saved during training: slide to replay how the weights formed.",
    )
    if picked == now:
        return None, None
    return by_step[picked][1], int(picked)


def snapshot_model(info: dict, model, step: int, state_dict: dict):
    """A copy of `model` with the weights of snapshot `step` (cached per run and step)."""
    return _snapshot_model(f"{model_key(info, model)}@{step}", model, state_dict)


@st.cache_resource(max_entries=16, show_spinner=False)
def _snapshot_model(key: str, _model, _state: dict):
    m = _model.copy()
    m.load_state_dict(_state)
    return m.eval()


# -- forward passes ------------------------------------------------------------------------
def array_digest(x: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=12).hexdigest()


def forward_cached(model, key: str, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Every layer's output and the class probabilities for one input ``x: (1, C, H, W)``.

    Cached by (`key`, digest of x); runs on a copy so the caller's model is never touched.
    """
    return _forward(key, array_digest(x), model, x)


@st.cache_data(max_entries=32, show_spinner=False)
def _forward(key: str, digest: str, _model, _x: np.ndarray):
    from netcore.model import softmax

    m = _model.copy().eval()
    logits = m.forward(_x, capture=True)
    acts = [a[0] for a in m.activations]
    return acts, softmax(logits)[0]


EVAL_QUICK = 2000
"""Test images evaluated by default; a larger test set (CIFAR-10: 10,000) is opt-in."""


def quick_subset(n: int, size: int = EVAL_QUICK) -> np.ndarray:
    """A fixed random subset of ``size`` test indices (sorted), the same for every run so
    that runs stay comparable."""
    return np.sort(np.random.default_rng(0).permutation(n)[:size])


def evaluate_cached(model, key: str, dataset_key: str, X: np.ndarray, y: np.ndarray):
    """Class probabilities on a test set (cached by model key, dataset and set size)."""
    return _evaluate(key, dataset_key, len(y), array_digest(y), model, X)


@st.cache_data(max_entries=8, show_spinner="Evaluating on the test set ...")
def _evaluate(key: str, dataset_key: str, n: int, digest: str, _model, _X: np.ndarray):
    # Batches of 100: larger ones gain nothing on two cores and need big im2col buffers.
    return _model.predict_proba(_X, batch_size=100).astype(np.float32)


# -- charts -------------------------------------------------------------------------------
def chart_with_data(fig, *, key: str, data=None, filename: str, on_click=None) -> None:
    """`ui.show.show_chart` for a chart whose points can be clicked: ``on_click`` (a callback)
    runs when the user clicks a point, and reads the selection from
    ``st.session_state[f"{key}.chart"]``. PNG export and the CSV download as everywhere."""
    from ui.show import csv_download, plotly_config, show_chart

    if on_click is None:
        show_chart(fig, key=key, data=data, filename=filename)
        return
    st.plotly_chart(
        fig,
        width="stretch",
        config=plotly_config(filename),
        key=f"{key}.chart",
        on_select=on_click,
        selection_mode="points",
    )
    if data is not None:
        csv_download(data, filename, key)


# -- small widgets -------------------------------------------------------------------------
def layer_options(model, keep) -> list[int]:
    """Indices of the layers for which ``keep(layer)`` is true."""
    return [i for i, layer in enumerate(model) if keep(layer)]


def layer_select(model, indices: list[int], key: str, label: str = "Layer") -> int:
    return st.selectbox(
        label,
        indices,
        format_func=lambda i: layer_label(i, model[i]),
        key=key,
    )


class Timer:
    """Server time of a view, shown in the page's expander (for the speed budget)."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


__all__ = [
    "model_or_explain",
    "follow_toggle",
    "refresh",
    "live_info",
    "model_key",
    "is_live",
    "live_every",
    "source_caption",
    "current_run_for",
    "moment_picker",
    "snapshot_model",
    "forward_cached",
    "evaluate_cached",
    "chart_with_data",
    "layer_options",
    "layer_select",
    "is_conv",
    "Timer",
]
