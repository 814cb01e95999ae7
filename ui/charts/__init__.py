"""Chart builders: pure functions, data in, Plotly figure out (no Streamlit here)."""
