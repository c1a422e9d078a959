"""The Streamlit shell of Dynamic Networks Lab: entrypoint, shared widgets, job panel."""
