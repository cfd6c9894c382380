"""The latent-map component's served folder, its figure ids and its events (the browser side:
tests/test_browser_explorer.py)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly

from pages.map_chart import ChartEvent, _version, component_dir, figure_id, plotly_js

PACKAGE_PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def test_the_served_folder_holds_the_page_its_script_and_plotly(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = component_dir()
    assert folder.parent == tmp_path / "vae-explorer"
    page = (folder / "index.html").read_text()
    assert set(re.findall(r'<script src="([^"]+)"', page)) == {"plotly.min.js", "map_chart.js"}
    assert (folder / "plotly.min.js").read_bytes() == plotly_js().read_bytes()
    assert component_dir() == folder  # made once, then reused
    assert [p.name for p in (tmp_path / "vae-explorer").iterdir()] == [folder.name]  # no staging folder left


def test_the_partial_bundle_is_served_while_it_matches_the_plotly_package():
    assert _version(PACKAGE_PLOTLY_JS) is not None
    if _version(plotly_js().parent / "plotly-gl2d.min.js") == _version(PACKAGE_PLOTLY_JS):
        assert plotly_js().name == "plotly-gl2d.min.js"
        assert plotly_js().stat().st_size < PACKAGE_PLOTLY_JS.stat().st_size / 2
    else:  # a newer plotly package: its own full bundle, so figure and plotly.js always match
        assert plotly_js() == PACKAGE_PLOTLY_JS


def test_a_partial_bundle_of_another_version_falls_back_to_the_full_one(monkeypatch, tmp_path):
    old = tmp_path / "plotly-gl2d.min.js"
    old.write_text("/**\n* plotly.js (gl2d - minified) v0.0.1\n*/\n")
    monkeypatch.setattr("pages.map_chart._GL2D", old)
    assert plotly_js() == PACKAGE_PLOTLY_JS


def test_a_changed_script_gets_a_new_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = component_dir()
    source = tmp_path / "source"
    source.mkdir()
    for name in ("index.html", "map_chart.js"):
        (source / name).write_text((first / name).read_text())
    (source / "map_chart.js").write_text((first / "map_chart.js").read_text() + "\n// changed\n")
    monkeypatch.setattr("pages.map_chart._SOURCE", source)
    second = component_dir()
    assert second != first and (second / "map_chart.js").read_text().endswith("// changed\n")


def test_figure_ids_follow_the_figure():
    assert figure_id('{"data": []}') == figure_id('{"data": []}')
    assert figure_id('{"data": []}') != figure_id('{"data": [{}]}')


def test_chart_events_give_the_selected_test_images_and_the_spot_of_a_single_click():
    on_a_point = ChartEvent(points=({"x": 1.5, "y": -0.5, "customdata": [42], "curve_number": 3},))
    assert on_a_point.test_indices() == [42] and on_a_point.clicked_spot() == (1.5, -0.5)
    on_empty_space = ChartEvent(points=({"x": 0.25, "y": 2.0},))
    assert on_empty_space.test_indices() == [] and on_empty_space.clicked_spot() == (0.25, 2.0)
    points = tuple({"x": 0.0, "y": 0.0, "customdata": i} for i in (3, 4))
    lasso = ChartEvent(points=points, lasso=({"x": [0, 1, 1], "y": [0, 0, 1]},))
    assert lasso.test_indices() == [3, 4] and lasso.clicked_spot() is None  # a lasso moves no crosshair
    assert ChartEvent().empty and not lasso.empty and ChartEvent().clicked_spot() is None
