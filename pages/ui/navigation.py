"""Every page runs through app.py, whose navigation and model picker come first."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

VIA_APP = "_via_app"  # app.py's model picker has run in this session
_LEAVING = "_leaving_pages_folder_mode"  # a rerun into app.py is under way


def entered_app() -> None:
    """app.py calls this before its model picker: the session now runs through app.py."""
    st.session_state[VIA_APP] = True
    st.session_state.pop(_LEAVING, None)


def inside_app() -> None:
    """Rerun through app.py (navigation, model picker) when a page was run without it.

    Streamlit treats a `pages/` folder beside the entrypoint as its old multipage mode until some session runs
    `st.navigation` ("As soon as any session of your app executes the st.navigation command, your app will ignore
    the pages/ directory", st.navigation's documentation): a fresh server's first visits to /map run pages/map.py
    alone, without the picker, and list the folder's files as pages. Streamlit has no setting for this (1.67;
    client.showSidebarNavigation only hides that list; its maintainers saw a pages/ folder beside st.navigation
    misbehave on direct page URLs in streamlit/streamlit#10276), so a page run outside app.py clears the flag that
    st.navigation itself clears, `PagesManager.uses_pages_directory`, and reruns; sessions arriving together each
    do so. tests/test_pages_share.py fails when Streamlit drops this mode or the flag; tests/test_browser_share.py
    opens a fresh server at /map.
    """
    state = st.session_state
    if (PagesManager.uses_pages_directory or not state.get(VIA_APP)) and not state.get(_LEAVING):
        state[_LEAVING] = True  # if Streamlit changed and the rerun still misses app.py, show the page rather than loop
        PagesManager.uses_pages_directory = False
        st.rerun()


def open_on_map(model: str) -> None:
    """Go to the latent map with `model` (a model folder's name) chosen: the picker reads it from the address."""
    st.switch_page("pages/map.py", query_params={"model": model})
