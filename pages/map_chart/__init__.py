"""The latent map as a small Streamlit component that draws its points once and moves only the crosshair.

`st.plotly_chart` redraws every point whenever its figure changes, so each slider move cost a full WebGL redraw
of the map. This component keeps the drawn figure until a new one arrives (by id) and moves the crosshair with
Plotly.relayout. It reports clicks anywhere on the plot area, and box or lasso selections, in the shape of
st.plotly_chart's selection: {"event": ms, "selection": {"points": [...], "box": [...], "lasso": [...]}}.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import plotly
import streamlit as st
import streamlit.components.v1 as components
from plotly.basedatatypes import BaseTraceType
from plotly.io.json import to_json_plotly

from vae.figures import CROSSHAIR_COLOR

_SOURCE = Path(__file__).parent
_FILES = ("index.html", "map_chart.js")
_GL2D = _SOURCE / "plotly-gl2d.min.js"  # dist/plotly-gl2d.min.js of the npm package plotly.js (MIT licence)


def plotly_js() -> Path:
    """The plotly.js to serve: our gl2d partial bundle (1.5 MB: scatter, scattergl, parcoords, splom) when it is the
    version the plotly package ships, else the package's full 4.8 MB bundle, which parses slower (bench/README.md)."""
    full = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return _GL2D if _version(_GL2D) == _version(full) else full


def _version(script: Path) -> str | None:
    with script.open(encoding="utf-8") as f:
        found = re.search(r"plotly\.js.* v(\d+\.\d+\.\d+)", f.read(200))
    return found.group(1) if found else None


def component_dir() -> Path:
    """A folder holding our page and script next to plotly.js (`plotly_js`), served together.

    Made once per version of those files, in the user's cache folder, so the served plotly.js can be either.
    """
    source = plotly_js()
    digest = hashlib.sha256(str(source).encode() + (_version(source) or "").encode())
    for name in _FILES:
        digest.update((_SOURCE / name).read_bytes())
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vae-explorer"
    target = cache / f"map-chart-{digest.hexdigest()[:12]}"
    if not (target / "plotly.min.js").exists():
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=cache))
        for name in _FILES:
            shutil.copy(_SOURCE / name, staging / name)
        shutil.copy(source, staging / "plotly.min.js")  # last: its presence marks a complete folder
        try:
            staging.rename(target)
        except OSError:  # another server process made it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return target


_latent_map = components.declare_component("latent_map", path=str(component_dir()))


def figure_id(figure_json: str) -> str:
    return hashlib.sha1(figure_json.encode()).hexdigest()


def map_chart(
    figure_json: str,
    *,
    overlays: Sequence[BaseTraceType] = (),
    crosshair: Sequence[float] | None,
    key: str,
    height: int,
    color: str = CROSSHAIR_COLOR,
) -> dict | None:
    """Draw the map (a Plotly figure as JSON), `overlays` on top and a crosshair at `crosshair`.

    Returns the last click or selection. Changing `overlays` redraws only them; moving the crosshair redraws nothing.
    """
    # Only plain values (str, number, tuple, None): for a list or dict Streamlit checks whether it is a data
    # frame, and that check imports pandas on the first visit (bench/README.md).
    point = None if crosshair is None else (float(crosshair[0]), float(crosshair[1]))
    return _latent_map(
        figure=figure_json,
        figure_id=figure_id(figure_json),
        overlays=to_json_plotly([trace.to_plotly_json() for trace in overlays]),
        crosshair=point,
        height=height,
        color=color,
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

    @property
    def empty(self) -> bool:
        return not (self.points or self.box or self.lasso)

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
    selection = (st.session_state.get(key) or {}).get("selection") or {}
    return ChartEvent(*(tuple(selection.get(part) or ()) for part in ("points", "box", "lasso")))
