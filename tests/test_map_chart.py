"""The latent-map component's served folder and its figure ids (the browser side: tests/test_browser_explorer.py)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly

from pages.map_chart import component_dir, figure_id


def test_the_served_folder_holds_the_page_its_script_and_plotly(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = component_dir()
    assert folder.parent == tmp_path / "vae-explorer"
    page = (folder / "index.html").read_text()
    assert set(re.findall(r'<script src="([^"]+)"', page)) == {"plotly.min.js", "map_chart.js"}
    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert (folder / "plotly.min.js").read_bytes() == shipped.read_bytes()
    assert component_dir() == folder  # made once, then reused
    assert [p.name for p in (tmp_path / "vae-explorer").iterdir()] == [folder.name]  # no staging folder left


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
