"""Bench-only Streamlit page, the latency floor: one st.slider and one pre-rendered st.image (no model, no work).

Run by bench/latency.py (`streamlit run bench/floor_app.py`): a slider step costs Streamlit's own round trip only.
"""

import numpy as np
import streamlit as st

from vae import rendering

STEPS = 101  # slider positions 0..100, one 28 x 28 image each, scaled 7x as /map shows its decoded image


@st.cache_resource
def images() -> list[bytes]:
    rng = np.random.default_rng(0)
    return [rendering.png_bytes(rng.random((28, 28)).astype(np.float32), scale=7) for _ in range(STEPS)]


value = st.slider("z₁", 0, STEPS - 1, STEPS // 2)
st.image(images()[value], output_format="PNG")
