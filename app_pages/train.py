"""Train: hyperparameters, Start / Pause / Resume / Step / Stop / Reset, live curves,
downloads and uploads, past runs.

Buttons work through callbacks (they run before the script, so the whole page shows the new
state). The live part is a fragment that reruns every ``NETCORE_UI_PERIOD`` seconds while
the run is active, and not at all when it is idle.
"""

import json
import os
import time
import zlib

import streamlit as st

from app_pages._common import duration, pretty_error, shape_text, status_badge
from ui import state
from ui.charts.curves import accuracy_figure, epoch_table, loss_figure, step_table
from ui.config import OPTIMIZERS, SCHEDULES, Limits
from ui.jobs import FINAL, LimitError
from ui.math_panels import view_math
from ui.show import show_chart
from ui.training import check_config, load_model_file, model_bytes

UI_PERIOD = float(os.environ.get("NETCORE_UI_PERIOD", 1.0))
FLASH = "train.flash"
SETTINGS = (
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "weight_decay",
    "seed",
    "schedule",
    "augment",
)
OPT_LABELS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with momentum", "rmsprop": "RMSprop"}
SCHEDULE_LABELS = {
    "constant": "constant",
    "step": "step decay (÷10 at 1/3 and 2/3)",
    "cosine": "cosine decay",
    "warmup_cosine": "warm-up, then cosine",
}
LR_CHOICES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]
BATCH_CHOICES = [8, 16, 32, 64, 128, 256, 512]
WD_CHOICES = [0.0, 1e-5, 1e-4, 5e-4, 1e-3, 1e-2]


def with_current(options: list, key: str) -> list:
    """`options` plus the widget's current value (a loaded run may use another one)."""
    value = st.session_state.get(key)
    return sorted(set(options) | {value}) if value is not None else options


def flash(kind: str, text: str) -> None:
    st.session_state[FLASH] = (kind, text)


# -- settings <-> draft config ----------------------------------------------------------------
def _load_settings(cfg) -> None:
    """Put a config's values into the settings widgets (new draft, opened run)."""
    for name in SETTINGS:
        st.session_state[f"train.{name}"] = getattr(cfg, name)
    st.session_state["train.version"] = state.draft_version()


def _settings_config():
    """The draft config with the widgets' values (the dataset and architecture from Build)."""
    cfg = state.draft_config()
    changes = {
        n: st.session_state[f"train.{n}"] for n in SETTINGS if f"train.{n}" in st.session_state
    }
    return cfg.replace(**changes)


# -- button callbacks -------------------------------------------------------------------------
def on_start(paused: bool = False) -> None:
    cfg = _settings_config()
    problems = check_config(cfg)
    if problems:
        flash("error", "Cannot start: " + " ".join(problems))
        return
    state.clear_uploaded_model()
    try:
        handle = state.start_run(cfg, paused=paused)
    except (LimitError, ValueError) as e:
        flash("warning", pretty_error(e))
        return
    if paused:
        handle.job.step_once()


def _settle(job, statuses, timeout: float = 0.5) -> None:
    """Give the job a moment to act on a click (it does so between two batches), so that the
    page redrawn after the click already shows the new status and buttons."""
    end = time.monotonic() + timeout
    while job.status not in statuses and time.monotonic() < end:
        time.sleep(0.01)


def on_pause() -> None:
    run = state.current_run()
    if run is not None and run.job is not None:
        run.job.pause()
        _settle(run.job, ("paused", *FINAL))


def on_resume() -> None:
    run = state.current_run()
    if run is not None and run.job is not None:
        run.job.resume()
        _settle(run.job, ("running", "queued", *FINAL))


def on_step() -> None:
    run = state.current_run()
    if run is not None and run.job is not None and run.active:
        run.job.step_once()
    else:
        on_start(paused=True)


def on_stop() -> None:
    run = state.current_run()
    if run is not None and run.job is not None:
        run.job.stop("Stopped by you.")


def on_reset() -> None:
    run = state.current_run()
    if run is not None and run.job is not None and run.active:
        run.job.stop("Stopped by you (reset).")
    state.close_run()
    state.clear_uploaded_model()


def on_lr_change() -> None:
    run = state.current_run()
    if run is not None and run.job is not None and run.active:
        lr = float(st.session_state["train.lr"])
        run.job.set_lr(lr)
        st.toast(f"Learning rate set to {lr:g} from the next batch on.", icon=":material/tune:")


# Learning rates that train the presets well: a retry after a divergence never goes above.
# (A comment, not a docstring: Streamlit would show a bare string on the page.)
SAFE_LR = {"adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "sgd": 0.1}


def retry_lr(run) -> float:
    """A tenth of the learning rate that diverged (the one in use then, it may have been
    changed mid-run), capped at the optimizer's usual rate: a tenth of 3 still diverges."""
    snap = run.job.snapshot(with_history=False) if run.job is not None else run.snapshot()
    lr = float(snap.lr or run.config.lr) / 10
    return float(f"{min(lr, SAFE_LR.get(run.config.optimizer, 1e-3)):.1g}")


def on_retry_lower_lr() -> None:
    run = state.current_run()
    if run is not None:
        st.session_state["train.lr"] = retry_lr(run)
    on_start()


def on_continue() -> None:
    """A new run that starts from the current run's weights (same architecture)."""
    run = state.current_run()
    if run is None:
        return
    model = run.model_copy()
    if model is None:
        flash("warning", "This run has no saved weights to continue from.")
        return
    cfg = _settings_config().replace(
        arch=list(run.config.arch), name=f"continued from {run.run_id}"
    )
    if cfg.dataset != run.config.dataset or tuple(cfg.input_shape) != tuple(run.config.input_shape):
        cfg = cfg.replace(
            dataset=run.config.dataset,
            input_shape=run.config.input_shape,
            class_names=run.config.class_names,
        )
    try:
        state.start_run(cfg, initial_state=model.state_dict())
    except (LimitError, ValueError) as e:
        flash("warning", pretty_error(e))


def on_open_run() -> None:
    run_id = st.session_state.get(st.session_state.get("train.past_key", ""))
    if not run_id:
        return
    current = state.current_run()
    if current is not None and current.active and current.run_id != run_id:
        flash("warning", "Stop or pause-and-stop the current run before opening another one.")
        return
    state.clear_uploaded_model()
    handle = state.open_run(run_id)
    if handle is None:
        flash("error", f"Run {run_id} is no longer on this server.")
        return
    state.set_dataset_key(handle.config.dataset)
    state.set_draft_config(handle.config.replace())


# -- page ---------------------------------------------------------------------------------------
st.title("Train")
cfg = state.draft_config()
if st.session_state.get("train.version") != state.draft_version() or any(
    f"train.{n}" not in st.session_state for n in SETTINGS
):
    _load_settings(cfg)
run = state.current_run()
limits = Limits.from_env()

message = st.session_state.pop(FLASH, None)
if message:
    getattr(st, message[0])(message[1])

# Header: what will train / is training.
shown_cfg = run.config if run is not None else cfg
with st.container(horizontal=True, vertical_alignment="center"):
    if run is not None:
        status_badge(run.status)
        if shown_cfg.name:
            st.markdown(f"**{shown_cfg.name}** · run `{run.run_id}`")
        else:
            st.markdown(f"Run `{run.run_id}`")
    else:
        status_badge("ready")
        st.markdown("**New run** · set it up and press Start")
if run is None and st.session_state.get(state.K_UPLOAD) is not None:
    label = st.session_state[state.K_UPLOAD][1].get("label", "the uploaded model")
    st.caption(f"The Look-inside pages show the uploaded model **{label}**.")
n_layers = len(shown_cfg.arch)
st.caption(
    f"Dataset **{shown_cfg.dataset}** ({shape_text(shown_cfg.input_shape)}, "
    f"{len(shown_cfg.class_names)} classes) · network of {n_layers} layers "
    f"({', '.join(layer['type'] for layer in shown_cfg.arch[:8])}"
    f"{', ...' if n_layers > 8 else ''})"
)

active = run is not None and run.active
status = run.status if run is not None else None

# -- controls ------------------------------------------------------------------------------------
with st.container(horizontal=True, key="train.controls"):
    st.button(
        "Start",
        type="primary",
        icon=":material/play_arrow:",
        key="train.start",
        on_click=on_start,
        disabled=active,
        help="Train a new network with these settings.",
    )
    if status == "paused":
        st.button("Resume", icon=":material/resume:", key="train.resume", on_click=on_resume)
    else:
        st.button(
            "Pause",
            icon=":material/pause:",
            key="train.pause",
            on_click=on_pause,
            disabled=status not in ("running", "queued"),
        )
    st.button(
        "Step one batch",
        icon=":material/skip_next:",
        key="train.step",
        on_click=on_step,
        help="Train on one more batch, then pause (starts a paused run if none).",
    )
    st.button(
        "Stop", icon=":material/stop:", key="train.stop", on_click=on_stop, disabled=not active
    )
    st.button(
        "Reset",
        icon=":material/restart_alt:",
        key="train.reset",
        on_click=on_reset,
        disabled=run is None,
        help="Stop and put this run aside (it stays in Past runs).",
    )

# -- settings -------------------------------------------------------------------------------------
settings_col, live_col = st.columns([1, 3], gap="large")
with settings_col:
    st.markdown("#### Settings")
    st.selectbox(
        "Optimizer", OPTIMIZERS, format_func=OPT_LABELS.get, key="train.optimizer", disabled=active
    )
    st.select_slider(
        "Learning rate",
        options=with_current(LR_CHOICES, "train.lr"),
        key="train.lr",
        on_change=on_lr_change,
        format_func=lambda v: f"{v:g}",
        help="Step size of each update. Can be changed while training.",
    )
    st.select_slider(
        "Batch size",
        options=with_current(BATCH_CHOICES, "train.batch_size"),
        key="train.batch_size",
        disabled=active,
    )
    st.number_input(
        "Epochs",
        1,
        limits.max_epochs,
        key="train.epochs",
        disabled=active,
        help=f"Passes over the training set (at most {limits.max_epochs} here).",
    )
    st.select_slider(
        "Weight decay",
        options=with_current(WD_CHOICES, "train.weight_decay"),
        key="train.weight_decay",
        format_func=lambda v: f"{v:g}",
        disabled=active,
    )
    st.selectbox(
        "Learning-rate schedule",
        SCHEDULES,
        format_func=SCHEDULE_LABELS.get,
        key="train.schedule",
        disabled=active,
    )
    st.number_input(
        "Seed",
        0,
        2**31 - 1,
        key="train.seed",
        disabled=active,
        help="Same seed, same settings: the same run, number for number.",
    )
    ds = state.current_dataset()
    has_aug = getattr(ds, "augment", None) is not None
    st.toggle(
        "Augment images",
        key="train.augment",
        disabled=active or not has_aug,
        help="Shift each training image by up to 2 pixels (and flip photos), so the "
        "network sees slightly different images every epoch.",
    )
    if active:
        st.caption("Only the learning rate changes a running run; the rest applies to the next.")
    view_math(
        "train",
        optimizer=OPT_LABELS.get(st.session_state.get("train.optimizer"), "?"),
        batch=st.session_state.get("train.batch_size"),
    )
    # Keep the settings in the draft: leaving the page drops the widgets' state.
    new_cfg = _settings_config()
    if new_cfg != state.draft_config():
        state.set_draft_config(new_cfg, replace_editor=False)


def curve_figures(name: str, history, smoothing: float, log_y: bool):
    """Loss and accuracy figures, rebuilt only when the history or the options changed
    (a paused run's live view reruns every second for nothing new)."""
    n = len(history) if history is not None else 0
    n_epochs = len(history.epochs) if history is not None else 0
    key = (name, n, n_epochs, smoothing, log_y)
    cached = st.session_state.get("train.figs")
    if cached is not None and cached[0] == key:
        return cached[1]
    figs = (
        loss_figure(history, smoothing=smoothing, log_y=log_y),
        accuracy_figure(history, smoothing=smoothing),
    )
    st.session_state["train.figs"] = (key, figs)
    return figs


# -- live view ------------------------------------------------------------------------------------
def live_view() -> None:
    run = state.current_run()
    snap = None
    if run is not None:
        snap = run.job.snapshot() if run.job is not None else run.snapshot()
    history = snap.history if snap is not None else None
    # The status changed (queued -> running, running -> paused, ended): rerun the whole page,
    # so that the badge and the buttons (Pause or Resume, Stop) match it, and an ended run
    # stops the timer.
    seen = st.session_state.get("train.seen_status")
    now_status = snap.status if snap is not None else None
    st.session_state["train.seen_status"] = now_status
    if run is not None and seen is not None and seen != now_status:
        st.rerun()

    if snap is None:
        st.info(
            "Press **Start** to train the network from the Build page on the chosen dataset. "
            "The curves appear here within a second.",
            icon=":material/play_circle:",
        )
    else:
        if snap.status == "queued":
            pos = snap.queue_position
            st.warning(
                f"Waiting for a free slot: the server trains {limits.max_jobs} runs at a time"
                + (f"; you are number {pos} in the queue." if pos else ".")
                + " Your run starts by itself.",
                icon=":material/hourglass_top:",
            )
        if snap.status == "diverged":
            st.error(f"**Training diverged.** {snap.stop_reason}", icon=":material/warning:")
            st.button(
                f"Train again with learning rate {retry_lr(run):g}",
                type="primary",
                on_click=on_retry_lower_lr,
                key="train.retry",
            )
        elif snap.status == "stopped" and snap.stop_reason:
            st.info(snap.stop_reason, icon=":material/stop_circle:")
        elif snap.status == "finished":
            st.success("Finished all epochs.", icon=":material/check_circle:")
        text = (
            f"step {snap.step:,} / {snap.total_steps:,} · epoch {snap.epoch:.2f} / "
            f"{run.config.epochs}"
        )
        if snap.status == "running" and snap.steps_per_s > 0:
            text += f" · {snap.steps_per_s:.0f} steps/s · {duration(snap.eta_s)} left"
        st.progress(snap.progress, text=text)
        m = st.columns(4)
        loss = snap.last.get("loss")
        m[0].metric("Loss (last batch)", f"{loss:.4f}" if loss is not None else "—")
        epochs = history.epochs if history is not None else []
        last_epoch = epochs[-1] if epochs else {}
        tr = last_epoch.get("train_accuracy")
        va = last_epoch.get("val_accuracy")
        m[1].metric("Train accuracy (epoch)", f"{100 * tr:.1f}%" if tr is not None else "—")
        m[2].metric(
            "Validation accuracy",
            f"{100 * va:.1f}%" if va is not None else "—",
            help="On the test images, after each epoch.",
        )
        m[3].metric("Learning rate now", f"{snap.lr:.3g}" if snap.lr is not None else "—")

    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    smoothing = c1.slider(
        "Smoothing",
        0.0,
        0.99,
        0.6,
        0.01,
        key="train.smoothing",
        help="Exponential moving average of the per-batch curve, as in "
        "TensorBoard. The faint line is the raw value.",
    )
    log_y = c2.toggle("Log-scale loss", key="train.log_loss")
    frozen = c3.toggle(
        "Freeze charts",
        key="train.freeze",
        help="Stop redrawing so you can zoom and hover; training goes on.",
    )
    left, right = st.columns(2)
    name = run.run_id if run is not None else "run"
    loss_fig, acc_fig = curve_figures(name, history, smoothing, log_y)
    with left:
        show_chart(
            loss_fig,
            key="train.loss",
            data=step_table(history),
            filename=f"{name}-loss",
            frozen=frozen,
        )
    with right:
        show_chart(
            acc_fig,
            key="train.acc",
            data=epoch_table(history),
            filename=f"{name}-epochs",
            frozen=frozen,
        )


with live_col:
    st.fragment(live_view, run_every=UI_PERIOD if active else None)()

# -- keep the work ---------------------------------------------------------------------------------
st.divider()
st.markdown("#### Save and load")
save_col, load_col, past_col = st.columns(3, gap="large")
with save_col:
    st.markdown("**Download this run**")
    if run is None:
        st.caption("Start or open a run to download its model, configuration and history.")
    else:
        handle = run
        st.download_button(
            "Model (.npz)",
            data=lambda: model_bytes(handle.model_copy(), handle.config),
            file_name=f"netcore-{run.run_id}.npz",
            mime="application/octet-stream",
            key="train.dl_model",
            on_click="ignore",
            icon=":material/download:",
        )
        st.download_button(
            "Configuration (.json)",
            data=json.dumps(run.config.to_dict(), indent=2),
            file_name=f"netcore-{run.run_id}-config.json",
            mime="application/json",
            key="train.dl_config",
            on_click="ignore",
            icon=":material/download:",
        )

        def history_csv(handle=handle) -> str:
            h = handle.history
            return h.to_csv("steps") if h is not None else ""

        st.download_button(
            "History (.csv)",
            data=history_csv,
            file_name=f"netcore-{run.run_id}-history.csv",
            mime="text/csv",
            key="train.dl_history",
            on_click="ignore",
            icon=":material/download:",
        )
        if not run.active and run.status in ("finished", "stopped", "diverged"):
            st.button(
                "Train more from these weights",
                key="train.continue",
                on_click=on_continue,
                icon=":material/fast_forward:",
                help="A new run that starts with this run's weights, using the "
                "settings on the left.",
            )

with load_col:
    st.markdown("**Open a saved model**")
    upload = st.file_uploader("A .npz saved by NetCore Lab", type=["npz"], key="train.upload")
    if upload is not None:
        parsed = st.session_state.get("train.upload_parsed")
        if parsed is None or parsed[0] != upload.file_id:
            try:
                parsed = (upload.file_id, load_model_file(upload.getvalue()), None)
            except Exception as e:  # any bad file: say why, keep the current run untouched
                parsed = (upload.file_id, None, pretty_error(e))
            st.session_state["train.upload_parsed"] = parsed
        if parsed[2] is not None:
            st.error(
                f"**{upload.name}** could not be opened: {parsed[2].rstrip('.')}. "
                "Your current run is untouched.",
                icon=":material/error:",
            )
        else:
            model, info = parsed[1]
            up_cfg = info["config"]
            st.success(
                f"{upload.name}: {len(model)} layers, {model.num_parameters():,} parameters, "
                f"input {shape_text(info['input_shape'])}."
            )

            def inspect_upload(model=model, info=info, name=upload.name) -> None:
                if state.current_run() is not None and state.current_run().active:
                    flash("warning", "Stop the current run first, then inspect the upload.")
                    return
                state.close_run()
                up = info["config"]
                state.set_uploaded_model(
                    model,
                    {
                        "label": name,
                        "dataset": up.dataset,
                        "input_shape": tuple(up.input_shape),
                        "class_names": list(up.class_names),
                        "step": None,
                        "epoch": None,
                        "status": "uploaded",
                        "config": up,
                        "run_id": None,
                    },
                )
                if up.dataset:
                    state.set_dataset_key(up.dataset)
                flash("success", f"Showing {name} in the Look-inside pages.")

            def train_upload(model=model, info=info) -> None:
                up = info["config"]
                if up.dataset:
                    state.set_dataset_key(up.dataset)
                state.set_draft_config(up.replace(name=f"continued from {upload.name}"))
                try:
                    state.start_run(state.draft_config(), initial_state=model.state_dict())
                except (LimitError, ValueError) as e:
                    flash("warning", pretty_error(e))

            b1, b2 = st.columns(2)
            b1.button(
                "Inspect it",
                key="train.inspect_upload",
                on_click=inspect_upload,
                icon=":material/visibility:",
            )
            b2.button(
                "Train it more",
                key="train.train_upload",
                on_click=train_upload,
                icon=":material/play_arrow:",
                disabled=active or not up_cfg.dataset,
            )

with past_col:
    st.markdown("**Past runs**")
    runs = state.list_runs()[:50]
    if not runs:
        st.caption("Runs you train are kept here (on this server).")
    else:
        labels = {}
        for r in runs:
            acc = r["metrics"].get("val_accuracy")
            acc_text = f" · {100 * acc:.1f}%" if acc is not None else ""
            name = "" if r["name"] == r["run_id"] else f"{r['name']} · "
            labels[r["run_id"]] = f"{name}{r['status']}{acc_text} · {r['run_id']}"
        ids = list(labels)
        current_id = run.run_id if run is not None else None
        # Labels change (status, accuracy): a new key makes the browser show the new text.
        past_key = f"train.past.{zlib.crc32(repr(sorted(labels.items())).encode()):08x}"
        st.session_state["train.past_key"] = past_key
        st.selectbox(
            "Run",
            ids,
            index=ids.index(current_id) if current_id in ids else 0,
            format_func=labels.get,
            key=past_key,
        )
        st.button("Open", key="train.open", on_click=on_open_run, icon=":material/folder_open:")
