"""The drawing pad of /image: a Streamlit component that previews the model's reading live while you draw.

In the browser (draw_pad.js) each stroke, frame by frame, is prepared like the training data (prepare.js, the port
of `vae.images.prepare_image`), encoded and decoded by the browser model (pages/webmodel), and the posterior is
drawn on a small map of the test codes. When a stroke ends the board comes back as a PNG data URL, which the page
prepares and scores on the server as it does an upload. Without the browser model (it cannot be exported, or the
runtime cannot load) the pad says so in one line and the server does everything.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from pages import webmodel
from pages.ui.selection import Selection
from vae.figures import CLASS_COLORS

_FOLDER = webmodel.stage_component(
    "draw_pad",
    Path(__file__).parent,
    ("index.html", "draw_pad.js", "prepare.js"),
    extra={"plotly.min.js": webmodel.plotly_js()},
)
_draw_pad = webmodel.declare("draw_pad", _FOLDER)
_DATA_URL = "data:image/png;base64,"
MAX_DRAWING_BYTES = 2_000_000  # a 280 x 280 board is tens of kilobytes as a PNG data URL


class DrawingError(ValueError):
    """What the pad sent back is not a drawing it could have made (too large, or not a base64 PNG)."""


def mini_map(sel: Selection) -> str:
    """The test codes on the map plane as JSON for the pad: the latent plane for z = 2, else the atlas' PCA plane
    (linear, so the posterior's ellipse can be projected: C diag(σ²) Cᵀ), with what the browser needs to project."""
    projection = sel.projection("latent" if sel.latent_dim == 2 else "pca")
    coords = np.round(projection.coords.astype(np.float64), 3)  # in float64: short numbers in the JSON
    spec = {
        "x": coords[:, 0].tolist(),
        "y": coords[:, 1].tolist(),
        "labels": np.asarray(sel.atlas["labels"]).astype(int).tolist(),
        "names": list(sel.class_names),
        "colors": list(CLASS_COLORS),
        "axis": list(projection.axis_titles),
        "projection": projection.spec(),
    }
    return json.dumps(spec, separators=(",", ":"))


def draw_pad(sel: Selection, auto_invert: bool, key: str) -> bytes | None:
    """Show the pad; the board as PNG bytes (280 x 280, white on black) after the last stroke, or None when empty.

    DrawingError, one sentence, when the value that came back is larger than MAX_DRAWING_BYTES or not base64."""
    value = _draw_pad(
        model_url=webmodel.model_url(_FOLDER, sel.folder),
        map=mini_map(sel),
        mnist=sel.dataset == "mnist",
        auto_invert=auto_invert,
        key=key,
        default=None,
    )
    if not isinstance(value, str) or not value.startswith(_DATA_URL):
        return None
    if len(value) > MAX_DRAWING_BYTES:
        raise DrawingError(
            f"The drawing that came back is {len(value) / 1e6:.1f} MB, more than the pad ever sends "
            f"({MAX_DRAWING_BYTES / 1e6:.0f} MB); clear the board and draw again."
        )
    try:
        return base64.b64decode(value[len(_DATA_URL) :], validate=True)
    except ValueError:  # binascii.Error
        raise DrawingError(
            "The drawing that came back is not a PNG in base64; clear the board and draw again."
        ) from None
