"""Render a chart the same way everywhere: full width, PNG export, CSV download, freeze.

    from ui.show import show_chart
    show_chart(fig, key="loss", data={"step": steps, "loss": losses}, filename="loss")

* PNG: Plotly's own camera button in the chart's toolbar (scale 2, named after `filename`).
* CSV: a download button under the chart, built only when clicked (no cost per rerun).
* Freeze (``live=True``): a toggle that keeps showing the last figure, so zooming into a
  live-updating chart is not undone by the next update.
"""

from __future__ import annotations

import io

import numpy as np
import streamlit as st

_FIG_KEY = "_show.fig.{}"


def plotly_config(filename: str) -> dict:
    """Plotly config: PNG export named `filename`, no logo, no editing."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def to_csv(data) -> str:
    """CSV text from a DataFrame or a dict of columns (columns may differ in length)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data
    else:
        df = pd.concat(
            {str(k): pd.Series(np.asarray(v).ravel()) for k, v in dict(data).items()}, axis=1
        )
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue()


def show_chart(
    fig,
    *,
    key: str,
    data=None,
    filename: str | None = None,
    live: bool = False,
    height: int | None = None,
    frozen: bool | None = None,
) -> None:
    """Draw `fig` full width with PNG export, an optional CSV download and a freeze toggle.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    key : str
        Unique per chart on the page; also names the widgets (``<key>.freeze``, ``<key>.csv``).
    data : dict of columns or pandas.DataFrame, optional
        The numbers behind the chart, offered as ``<filename>.csv``.
    filename : str, optional
        Base name for the PNG and CSV files (default: `key`).
    live : bool
        The chart redraws while training; show a "Freeze view" toggle.
    frozen : bool, optional
        Freeze state decided by the caller (one toggle for several charts); no toggle drawn.
    height : int, optional
        Pixel height of the chart (else the figure's own).
    """
    filename = filename or key
    store = _FIG_KEY.format(key)
    if frozen is not None:
        live = False  # the caller draws one toggle for several charts
    frozen = bool(frozen)
    if live:
        frozen = st.toggle(
            "Freeze view",
            key=f"{key}.freeze",
            help="Stop redrawing this chart so you can zoom and hover; training goes on.",
        )
    if frozen and store in st.session_state:
        fig, data = st.session_state[store]
    else:
        st.session_state[store] = (fig, data)
    if height is not None:
        fig.update_layout(height=height)
    st.plotly_chart(fig, width="stretch", config=plotly_config(filename), key=f"{key}.chart")
    if data is not None:
        csv_download(data, filename, key)


def _is_empty(data) -> bool:
    """True for a table with no rows: a DataFrame, or a dict whose columns are all empty."""
    if hasattr(data, "empty") and hasattr(data, "columns"):  # a DataFrame
        return bool(data.empty)
    if isinstance(data, dict):
        return all(np.size(v) == 0 for v in data.values())
    return False


def csv_download(data, filename: str, key: str) -> None:
    """A "Download data (CSV)" button under a chart; the CSV is made only when clicked.
    Nothing is shown while the chart has no data yet (a download of an empty file helps no one).
    """
    if _is_empty(data):
        return
    st.download_button(
        "Download data (CSV)",
        data=lambda: to_csv(data),
        file_name=f"{filename}.csv",
        mime="text/csv",
        key=f"{key}.csv",
        on_click="ignore",
        icon=":material/download:",
        type="tertiary",
    )
