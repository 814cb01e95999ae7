"""Small pieces shared by the Start and Build & train pages (not a page: leading underscore)."""

from __future__ import annotations

import streamlit as st

from ui import state

STATUS_COLOURS = {
    "ready": "gray",
    "queued": "orange",
    "running": "blue",
    "paused": "violet",
    "finished": "green",
    "stopped": "gray",
    "diverged": "red",
}
STATUS_ICONS = {
    "ready": ":material/radio_button_unchecked:",
    "queued": ":material/hourglass_top:",
    "running": ":material/play_arrow:",
    "paused": ":material/pause:",
    "finished": ":material/check_circle:",
    "stopped": ":material/stop:",
    "diverged": ":material/warning:",
}


def status_badge(status: str) -> None:
    st.badge(status, icon=STATUS_ICONS.get(status), color=STATUS_COLOURS.get(status, "gray"))


def duration(seconds: float | None) -> str:
    """``'1 min 05 s'``, ``'12 s'``; an em dash when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def shape_text(shape) -> str:
    return " × ".join(str(int(s)) for s in shape)


BANNER_PERIOD_S = 2.0


def run_banner() -> None:
    """One line about the session's run, with a link to the Train page (Data and Build).

    It refreshes itself every couple of seconds while the run trains (the rest of the page
    stays still), so the percentage moves and the end of the run shows.
    """
    run = state.current_run()
    if run is None or not run.active:
        return
    st.fragment(_banner, run_every=BANNER_PERIOD_S)()


def _banner() -> None:
    run = state.current_run()
    if run is None:
        return
    snap = run.job.snapshot(with_history=False) if run.job is not None else run.snapshot()
    pct = int(100 * snap.progress)
    with st.container(horizontal=True, vertical_alignment="center"):
        status_badge(snap.status)
        if snap.active:
            text = f"Run {run.run_id} is {snap.status} ({pct}% done)."
        else:
            text = f"Run {run.run_id} has {snap.status} at step {snap.step:,}."
        st.caption(text + " Changes here apply to the next run.")
        st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")


def pretty_error(e: Exception) -> str:
    """An exception as a sentence for the screen (never a traceback)."""
    text = str(e).strip() or type(e).__name__
    return text[:1].upper() + text[1:]
