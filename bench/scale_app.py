"""Bench-only Streamlit page: the app's latent map with the test split (?n=10000) or train + test (?n=70000).

Run by bench/scale.py (`streamlit run bench/scale_app.py`); the model is $SCALE_MODEL under $VAE_CHECKPOINTS.
"""

import os
from pathlib import Path

import streamlit as st

from bench.scale import map_figure
from pages.map_chart import map_chart

folder = str(Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints")) / os.environ.get("SCALE_MODEL", "mnist-vae-z2"))
n = int(st.query_params.get("n", 70_000))


@st.cache_resource(show_spinner="Encoding the images…")
def figure_json(folder: str, n: int) -> str:
    return map_figure(folder, n, os.environ.get("VAE_DATA_DIR")).to_json()


event = map_chart(figure_json(folder, n), crosshair=(0.0, 0.0), key="scale_map", height=470)
points = (event or {}).get("selection", {}).get("points", [])
st.caption(f"{n:,} images on the map; {len(points)} selected.")
