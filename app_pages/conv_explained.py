import streamlit as st

st.title("conv_explained")
st.info("This page is being built.")
