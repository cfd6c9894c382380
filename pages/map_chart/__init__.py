"""The latent map as a small Streamlit component that draws its points once and moves only the crosshair.

`st.plotly_chart` redraws every point whenever its figure changes, so each slider move cost a full WebGL redraw
of the map. This component keeps the drawn figure until a new one arrives (by id) and moves the crosshair with
Plotly.relayout. It reports clicks anywhere on the plot area, and box or lasso selections, in the shape of
st.plotly_chart's selection: {"event": ms, "selection": {"points": [...], "box": [...], "lasso": [...]}}.

Beside the map, the decode panel: the decoded image and one slider per latent dimension. Once the map is drawn the
chart loads the browser runtime (pages/webmodel) and the model's decoder, and from then on decodes in the browser
while a slider moves (one per dimension, and optionally one along a direction) or the pointer hovers the map; it
reports a slider's code on release, {"event", "code"}. Where
the runtime cannot load it says so once ({"runtime": "unavailable"}, kept in later events) and shows the server's
decoded image instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from plotly.basedatatypes import BaseTraceType
from plotly.io.json import to_json_plotly

from pages import webmodel
from vae.figures import CROSSHAIR_COLOR

_SOURCE = Path(__file__).parent
_FILES = ("index.html", "map_chart.js")


def component_dir() -> Path:
    """The served folder: our page and script, plotly.js and the shared scripts and runtime
    (`pages.webmodel.stage_component`), made once per version of those files in the user's cache folder."""
    return webmodel.stage_component("latent_map", _SOURCE, _FILES, extra={"plotly.min.js": webmodel.plotly_js()})


_ROOT = component_dir()
_latent_map = webmodel.declare("latent_map", _ROOT)


def model_url(folder: Path) -> str | None:
    """The URL, relative to the chart's page, of the checkpoint's browser decoder (`pages.webmodel.model_url`);
    None where it cannot be exported (the server decodes then)."""
    return webmodel.model_url(_ROOT, folder)


def map_points_url(coords: np.ndarray, codes: np.ndarray) -> str:
    """The URL of the map's points for UMAP's inverse in the browser (`pages.webmodel.map_points_url`)."""
    return webmodel.map_points_url(_ROOT, coords, codes)


@dataclass(frozen=True)
class DecodePanel:
    """The decode panel beside the map: one slider per latent dimension and the decoded image.

    The browser decodes while a slider moves or the pointer hovers the map (`model`), and reports the code on
    release; where it cannot, it shows `image`, the server's decode of `code`.
    """

    code: tuple[float, ...]  # (z,) the decoded point the sliders show
    ranges: tuple[tuple[float, float], ...]  # (z, 2) each slider's low and high end
    step: float
    image: str  # the server's decode of `code`: a 28 x 28 PNG as a data: URI
    model: str | None  # `model_url`, or None: the server decodes
    projection: dict  # `vae.latent.MapProjection.spec`, for UMAP with points=map_points_url(...)
    # One more slider that moves the code along a line: {"label", "origin": (z,), "vector": unit (z,),
    # "range": [lo, hi]}, the code being origin + t·vector for t in the range (latent units); None: no such slider.
    direction: dict | None = None

    def args(self) -> dict:
        labels = [subscript(i) for i in range(len(self.code))]
        panel = {"ranges": self.ranges, "step": self.step, "labels": labels, "projection": self.projection}
        if self.direction is not None:
            panel["direction"] = self.direction
        return {
            "code": tuple(float(v) for v in self.code),
            "image": self.image,
            "model": self.model,
            "panel": json.dumps(panel),
        }


def subscript(i: int) -> str:
    """The label of latent dimension i: z₁, z₂, …"""
    return "z" + str(i + 1).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def map_chart(
    figure_json: str,
    *,
    overlays: Sequence[BaseTraceType] = (),
    crosshair: Sequence[float] | None,
    panel: DecodePanel | None = None,
    tiles: int | None = None,
    key: str,
    height: int,
    color: str = CROSSHAIR_COLOR,
) -> dict | None:
    """Draw the map (a Plotly figure as JSON, sent as `pages.webmodel.figure_url`), `overlays` on top and a crosshair at
    `crosshair`, with the decode panel beside it (none without `panel`: the map alone).

    `tiles`: the manifold overlay's tiles per side when the figure has it; after a zoom or pan the browser
    decodes that many for the visible range (where it can decode).

    Returns the last click, selection or slider release. Changing `overlays` redraws only them; moving the
    crosshair redraws nothing.
    """
    # Only plain values (str, number, tuple, None): for a list or dict Streamlit checks whether it is a data
    # frame, and that check imports pandas on the first visit (bench/README.md).
    point = None if crosshair is None else (float(crosshair[0]), float(crosshair[1]))
    return _latent_map(
        figure=webmodel.figure_url(_ROOT, figure_json),
        overlays=to_json_plotly([trace.to_plotly_json() for trace in overlays]),
        crosshair=point,
        height=height,
        color=color,
        tiles=tiles,
        **(panel.args() if panel is not None else {}),
        key=key,
        default=None,
    )


@dataclass(frozen=True)
class ChartEvent:
    """A click, box or lasso reported by `map_chart` (st.plotly_chart's selection shape): the points under it,
    each {"x", "y", "customdata"?, ...}, and the box or lasso drawn, if any."""

    points: tuple[dict, ...] = ()
    box: tuple[dict, ...] = ()
    lasso: tuple[dict, ...] = ()
    code: tuple[float, ...] | None = None  # a slider released: the panel's code (z,)
    runtime_unavailable: bool = False  # the browser could not load its decoder: the server decodes

    @property
    def empty(self) -> bool:
        return not (self.points or self.box or self.lasso or self.code)

    def test_indices(self) -> list[int]:
        """Test-image indices of the selected points (the map's class traces carry them as customdata)."""
        out = []
        for point in self.points:
            data = point.get("customdata")
            if isinstance(data, list | tuple):
                data = data[0] if data else None
            if data is not None:
                out.append(int(data))
        return out

    def clicked_spot(self) -> tuple[float, float] | None:
        """The map position of a single click (on a point or on empty space); None for a box, a lasso or nothing."""
        if self.box or self.lasso or len(self.points) != 1:
            return None
        return float(self.points[0]["x"]), float(self.points[0]["y"])


def chart_event(key: str) -> ChartEvent:
    """The last event of the map chart with this key (empty before the first)."""
    value = st.session_state.get(key) or {}
    selection = value.get("selection") or {}
    code = value.get("code")
    return ChartEvent(
        *(tuple(selection.get(part) or ()) for part in ("points", "box", "lasso")),
        code=None if code is None else tuple(float(v) for v in code),
        runtime_unavailable=value.get("runtime") == "unavailable",
    )
