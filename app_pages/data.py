"""Data: choose the dataset every other page uses; see samples, class counts, input shape."""

import streamlit as st

from app_pages._common import run_banner, shape_text
from ui import data as ui_data
from ui import state
from ui.charts.dataset import class_counts_figure, sample_grid_figure
from ui.show import show_chart

st.title("Data")
run_banner()
st.caption("The dataset you choose here is the one the Build, Train and Look-inside pages use.")

infos = ui_data.dataset_catalog()
by_key = {i.key: i for i in infos}
current = state.current_dataset_key()
if current not in by_key:
    current = state.default_dataset_key()
keys = list(by_key)


def label(key: str) -> str:
    info = by_key[key]
    if info.available:
        return info.title
    return f"{info.title} (download {info.download_bytes / 1e6:.0f} MB)"


choice = st.selectbox(
    "Dataset", keys, index=keys.index(current), format_func=label, key=f"data.choice.{current}"
)
picked = by_key[choice]
if choice != current:
    if picked.available:
        state.set_dataset_key(choice)
        st.toast(f"Now using {picked.title}.", icon=":material/dataset:")
        st.rerun()
    else:
        with st.container(border=True):
            st.markdown(f"**{picked.title}** is not on this server yet.")
            st.caption(picked.description)
            st.caption(
                f"One download of about {picked.download_bytes / 1e6:.0f} MB, checked and "
                "kept for every later use."
            )
            clicked = st.button(
                "Download it", type="primary", icon=":material/download:", key="data.download"
            )
            if clicked and ui_data.download_with_progress(choice):
                state.set_dataset_key(choice)
                st.rerun()

with st.expander("Use your own images", icon=":material/upload_file:"):
    st.markdown(
        "Upload a **.zip** with one folder per class, e.g. `cat/1.png`, `cat/2.jpg`, "
        "`dog/1.png`: at least two classes and a few images in each. The images are resized "
        "to the size you choose, one in five is kept aside for testing, and the set stays on "
        "this server for every page and run."
    )
    u1, u2 = st.columns([3, 2], vertical_alignment="bottom")
    upload = u1.file_uploader("Zip of class folders", type=["zip"], key="data.own_zip")
    size = u2.radio(
        "Image size",
        ["Grey, 28 × 28 (like MNIST)", "Colour, 32 × 32 (like CIFAR-10)"],
        key="data.own_size",
    )
    if upload is not None and st.button(
        "Make the dataset", type="primary", icon=":material/dataset:", key="data.own_make"
    ):
        shape = (1, 28, 28) if size.startswith("Grey") else (3, 32, 32)
        try:
            with st.spinner("Reading your images ..."):
                new_key, skipped = ui_data.save_uploaded_zip(upload.getvalue(), upload.name, shape)
        except ui_data.DatasetError as e:
            st.error(f"{e} The current dataset is unchanged.")
        else:
            state.set_dataset_key(new_key)
            st.session_state["data.own_skipped"] = skipped
            st.rerun()
    skipped = st.session_state.get("data.own_skipped")
    if skipped:
        st.warning(f"{len(skipped)} file(s) of your zip were skipped:")
        st.markdown("\n".join(f"- {p}" for p in skipped[:20]))

ds = state.current_dataset()
info = ds.info
st.subheader(info.title)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Input shape (C × H × W)", shape_text(ds.input_shape))
m2.metric("Classes", ds.n_classes)
m3.metric("Training images", f"{len(ds.y_train):,}")
m4.metric("Test images", f"{len(ds.y_test):,}")
st.markdown(info.description)
st.caption(f"Source: {info.source_url}")

st.markdown("#### Samples")
c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
per_class = c1.slider("Images per class", 4, 16, 10, key="data.per_class")
split = c2.segmented_control(
    "Split", ["train", "test"], default="train", key="data.split", required=True
)
if c3.button("Other samples", icon=":material/shuffle:", key="data.shuffle"):
    st.session_state["data.seed"] = st.session_state.get("data.seed", 0) + 1
seed = st.session_state.get("data.seed", 0)
pixels, labels = ui_data.sample_grid(info.key, per_class, split or "train", seed)
fig = sample_grid_figure(pixels, labels, list(ds.class_names), per_class)
st.plotly_chart(fig, width="stretch", config={"displaylogo": False}, key="data.grid")
if ds.normalization.scheme == "0-1":
    seen = "divided by 255 (values 0 to 1)"
else:
    seen = "standardised per channel (mean 0, standard deviation 1 over the training images)"
st.caption(f"Each row is one class, as raw pixels. The network sees them {seen}.")

st.markdown("#### Class balance")
fig, table = class_counts_figure(ds.y_train, ds.y_test, list(ds.class_names))
show_chart(fig, key="data.counts", data=table, filename=f"{info.key}-class-counts")
