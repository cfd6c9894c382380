"""The server's policy (`vae.serving`) as the pages see it: read from the environment on each run."""

from __future__ import annotations

import streamlit as st

from vae.serving import PolicyError, ServerPolicy, server_policy


def current_policy() -> ServerPolicy:
    """The environment's policy; a bad setting is one error line and the safest policy (shared, no training)."""
    try:
        return server_policy()
    except PolicyError as err:
        st.error(f"{err} Until it is mended this server runs shared, with training off.", icon=":material/error:")
        return ServerPolicy(mode="shared", training=False)
