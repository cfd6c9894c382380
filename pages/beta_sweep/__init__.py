"""The β slider of /elbo: one Streamlit component that swaps the β sweep's models in place, in the browser.

For each model of the sweep it shows the latent map of the same test images, the manifold grid and the same draws
from N(0, I), each decoded once in the browser when the page loads and then only drawn, so moving the slider is a
few canvas copies with no server round trip. The release reports the index back. Where the browser runtime cannot
load, the grids and samples the server decoded (PNGs in the spec) are drawn instead, and the page says so in one line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import streamlit as st

from pages import webmodel
from pages.ui.cached import cached_atlas, cached_model
from pages.ui.selection import Selection
from vae import figures, latent, rendering

_SOURCE = Path(__file__).parent
_FOLDER = webmodel.stage_component("beta_sweep", _SOURCE, ("index.html", "beta_sweep.js"))
_component = webmodel.declare("beta_sweep", _FOLDER)

POINTS = 2000  # test images on each map: the same ones for every model
GRID = 12  # the manifold grid is GRID x GRID
SAMPLES = 24  # draws from N(0, I), the same for every model
QUANTILE = 0.95  # the VAE's grid covers the prior's 5 % ... 95 % quantiles on each axis (Kingma & Welling)
HEIGHT = 460


def grid_codes(folder: str) -> np.ndarray:
    """The model's manifold grid (GRID, GRID, 2): over the prior's quantiles for a VAE, over the codes' 1 ... 99 %
    range around their median for an autoencoder (whose codes ignore the prior)."""
    if cached_model(folder).is_variational:
        return latent.manifold_grid(GRID, NormalDist().inv_cdf(QUANTILE), "gaussian")
    codes = cached_atlas(folder)["mu"]
    lo, hi = np.quantile(codes, [0.01, 0.99], axis=0)
    centre = np.median(codes, axis=0)
    return latent.manifold_grid(GRID, float(np.max(hi - lo) / 2), center=(float(centre[0]), float(centre[1])))


@st.cache_data(show_spinner="Decoding the sweep on the server…", max_entries=64)
def _served(folder: str) -> dict[str, str]:
    """The grid and the samples decoded on the server, as PNG data URIs: what the slider draws without the
    runtime."""
    model = cached_model(folder)
    grid = latent.decode(model, grid_codes(folder).reshape(-1, 2)).reshape(GRID, GRID, 28, 28)
    samples = latent.decode(model, latent.prior_samples(SAMPLES, 2)).reshape(4, SAMPLES // 4, 28, 28)
    return {
        "grid": rendering.data_uri(rendering.png_bytes(rendering.mosaic(grid, pad=0))),
        "samples": rendering.data_uri(rendering.png_bytes(rendering.mosaic(samples, pad=2))),
    }


def _subsample(n: int) -> np.ndarray:
    return np.sort(np.random.default_rng(0).choice(n, size=min(POINTS, n), replace=False))


@st.cache_data(show_spinner=False, max_entries=64)
def _drawn(folder: str) -> dict:
    """The model's map points (POINTS test images, the same for every model) and grid codes, rounded, flat."""
    mu = cached_atlas(folder)["mu"]
    return {
        "points": np.round(mu[_subsample(len(mu))], 3).ravel().tolist(),
        "codes": np.round(grid_codes(folder), 4).ravel().tolist(),
    }


def spec(models: Sequence[tuple[str, Selection]]) -> dict:
    """What the browser draws: per model its label, name, browser model URL, map points and grid codes; the test
    images' labels, the class names and colours, and the prior draws, shared."""
    first = models[0][1]
    keep = _subsample(len(first.atlas["labels"]))
    return {
        "labels": first.atlas["labels"][keep].astype(int).tolist(),
        "classes": list(first.class_names),
        "colors": list(figures.CLASS_COLORS),
        "samples": np.round(latent.prior_samples(SAMPLES, 2), 4).ravel().tolist(),
        "grid": GRID,
        "models": [
            {
                "label": label,
                "name": s.name,
                "variational": s.kind == "vae",
                "url": webmodel.model_url(_FOLDER, s.folder),
                **_drawn(str(s.folder)),
                "served": _served(str(s.folder)),
            }
            for label, s in models
        ],
    }


def beta_slider(models: Sequence[tuple[str, Selection]], value: int, *, key: str) -> int | None:
    """models: (label, loaded Selection) in slider order, e.g. ("AE", sel), ("β = 0.1", sel) ... ("β = 8", sel); value:
    the index shown first. Returns the index the user last released on (None before any release).

    The spec (a few hundred kilobytes) is a served file the component fetches once, so a rerun sends it only its URL.
    """
    data = json.dumps(spec(models))
    url = webmodel.publish(_FOLDER, data.encode(), ".json")
    released = _component(spec=url, value=int(value), height=HEIGHT, key=key, default=None)
    return int(released) if isinstance(released, int | float) and 0 <= released < len(models) else None
