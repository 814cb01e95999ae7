import streamlit as st

st.title("gradient_check")
st.info("This page is being built.")
