"""NetCore Lab: the router. Page config and navigation only; every page lives in app_pages/."""

import os

# One BLAS thread per server process (before NumPy is first imported, which is when OpenBLAS
# reads it). Training, the web server and the browser share the cores: a two-thread matrix
# product stalls whenever the other core is busy (LeNet-5 ran 3-6x slower in the app than in
# the bench that way). NETCORE_BLAS_THREADS=0 keeps the library's default.
_blas = os.environ.get("NETCORE_BLAS_THREADS", "1")
if _blas != "0":
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _blas)

import streamlit as st  # noqa: E402

from ui.state import sync_url  # noqa: E402

st.set_page_config(page_title="NetCore Lab", page_icon=":material/hub:", layout="wide")

nav = st.navigation(
    {
        "Start": [
            st.Page(
                "app_pages/home.py",
                title="Home",
                icon=":material/home:",
                url_path="home",
                default=True,
            ),
        ],
        "Build & train": [
            st.Page("app_pages/data.py", title="Data", icon=":material/dataset:", url_path="data"),
            st.Page(
                "app_pages/build.py",
                title="Build",
                icon=":material/construction:",
                url_path="build",
            ),
            st.Page(
                "app_pages/train.py",
                title="Train",
                icon=":material/model_training:",
                url_path="train",
            ),
        ],
        "Look inside": [
            st.Page(
                "app_pages/filters.py",
                title="Filters",
                icon=":material/grid_view:",
                url_path="filters",
            ),
            st.Page(
                "app_pages/feature_maps.py",
                title="Feature maps",
                icon=":material/layers:",
                url_path="feature-maps",
            ),
            st.Page(
                "app_pages/weights.py",
                title="Weights & gradients",
                icon=":material/bar_chart:",
                url_path="weights",
            ),
            st.Page(
                "app_pages/evaluate.py",
                title="Evaluate",
                icon=":material/fact_check:",
                url_path="evaluate",
            ),
        ],
        "Learn": [
            st.Page(
                "app_pages/playground.py",
                title="MLP playground",
                icon=":material/scatter_plot:",
                url_path="playground",
            ),
            st.Page(
                "app_pages/conv_explained.py",
                title="Convolution explained",
                icon=":material/filter_center_focus:",
                url_path="convolution",
            ),
            st.Page(
                "app_pages/gradient_check.py",
                title="Gradient check",
                icon=":material/functions:",
                url_path="gradient-check",
            ),
        ],
    }
)
sync_url()  # page switches clear the query string; keep ?run=<id> so a reload finds the run
nav.run()
