"""Home: what the lab is, and the five labs with their questions, papers and status."""

import streamlit as st

from app import ui
from app.navigation import build_pages
from lab.core.registry import LABS

ui.set_namespace("home")
st.title("Dynamic Networks Lab")
st.markdown(
    "Train, watch and take apart networks whose **computation, memory or structure changes** with the "
    "input or over time - with real models, real metrics and the rigour of a paper's table. "
    "Every number here is computed on this machine; pick a lab to start."
)

pages = build_pages()
cols = st.columns(2)
for i, info in enumerate(LABS):
    with cols[i % 2].container(border=True):
        st.page_link(pages[info.key], label=info.title, icon=info.icon)
        st.markdown(f"*{info.question}*")
        st.caption("Built on: " + "; ".join(info.papers))
        if info.built:
            st.badge("ready", icon=":material/check:", color="green")
        else:
            st.badge("not built yet", icon=":material/construction:", color="gray")

st.divider()
st.caption(
    "Sidebar: device (auto picks cuda, then mps, then cpu) and seed - both part of the page's link. "
    "Finished runs are kept on the Runs page. Scripted use: `dynlab --help`."
)
