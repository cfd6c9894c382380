"""Bench-only Streamlit page: the app's latent map with the test split (?n=10000) or train + test (?n=70000).

Run by bench/scale.py (`streamlit run bench/scale_app.py`); the model is $SCALE_MODEL under $VAE_CHECKPOINTS.
"""

import os
from pathlib import Path

import streamlit as st

from bench.scale import map_figure

folder = str(Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints")) / os.environ.get("SCALE_MODEL", "mnist-vae-z2"))
n = int(st.query_params.get("n", 70_000))
figure = st.cache_resource(map_figure, show_spinner="Encoding the images…")(folder, n, os.environ.get("VAE_DATA_DIR"))
st.plotly_chart(figure, key="scale_map", on_select="rerun", selection_mode=("points", "box", "lasso"),
                config={"displaylogo": False})  # fmt: skip
points = (st.session_state.get("scale_map") or {}).get("selection", {}).get("points", [])
st.caption(f"{n:,} images on the map; {len(points)} selected.")
