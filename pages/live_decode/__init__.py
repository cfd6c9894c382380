"""Decoding in the browser on /interpolate and /compare: two small Streamlit components sharing `live.js`.

`scrubber` moves along an interpolation path and decodes every position in the browser; `compare_maps` draws two
models' maps and decodes the point under the pointer with both. Where the browser runtime cannot load (its files
blocked, no WebAssembly), each says so in one line and shows what the server decoded instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from pages import webmodel
from pages.ui.selection import Selection
from vae import latent, rendering

_SOURCE = Path(__file__).parent
_SCRUBBER = webmodel.stage_component(
    "interpolation_scrubber", _SOURCE, ("live.js", "scrubber.js"), extra={"index.html": _SOURCE / "scrubber.html"}
)
_COMPARE = webmodel.stage_component(
    "compare_maps",
    _SOURCE,
    ("live.js", "compare.js"),
    extra={"index.html": _SOURCE / "compare.html", "plotly.min.js": webmodel.plotly_js()},
)
_scrubber = webmodel.declare("interpolation_scrubber", _SCRUBBER)
_compare = webmodel.declare("compare_maps", _COMPARE)


def _frames(images: np.ndarray) -> list[str]:
    """Images (n, 28, 28) as PNG data URIs."""
    return [rendering.data_uri(rendering.png_bytes(image)) for image in images]


def scrubber(models: Sequence[tuple[str, Selection, dict[str, np.ndarray]]], a: int, b: int, *, key: str) -> None:
    """A scrubber along the path from test image a's code to b's, decoded live by each model.

    models: (caption, selection, its decoded strips {method: (steps, 28, 28)}) for each model shown; the strips are
    what the scrubber steps through when the browser cannot decode.
    """
    spec = {
        "steps": len(next(iter(models[0][2].values()))),
        "models": [
            {
                "label": caption,
                "url": webmodel.model_url(_SCRUBBER, s.folder),
                "z0": s.atlas["mu"][a].astype(float).tolist(),
                "z1": s.atlas["mu"][b].astype(float).tolist(),
                "frames": {method: _frames(frames) for method, frames in strips.items()},
            }
            for caption, s, strips in models
        ],
    }
    # One string, not a list or dict: Streamlit would check those for a data frame, importing pandas.
    _scrubber(spec=json.dumps(spec), height=225, key=key, default=None)


def compare_maps(models: Sequence[tuple[str, Selection, str]], *, key: str, height: int = 470) -> None:
    """Both models' maps side by side; the point under the pointer on either map, decoded by both, side by side.

    models: (caption, selection, its map as Plotly figure JSON) for each model. Where the browser cannot decode, a
    click on a map comes back here (as {event, x, y}) and both models decode that point on the server.
    """
    spec = {
        "models": [
            {
                "label": caption,
                "figure": figure,
                "url": webmodel.model_url(_COMPARE, s.folder),
                "projection": s.projection().spec(),  # UMAP without its points: no inverse here
            }
            for caption, s, figure in models
        ]
    }
    click = st.session_state.get(key)
    served = None
    if isinstance(click, dict) and "x" in click:
        point = np.array([[float(click["x"]), float(click["y"])]], dtype=np.float32)
        images = np.stack([latent.decode(s.model, s.projection().to_latent(point))[0] for _, s, _ in models])
        served = json.dumps({"x": float(point[0, 0]), "y": float(point[0, 1]), "images": _frames(images)})
    _compare(spec=json.dumps(spec), served=served, height=height, key=key, default=None)
