"""The latent-map component's served folder, its published files and its events (the browser side:
tests/test_browser_explorer.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import plotly
import pytest

from pages import webmodel
from pages.map_chart import _ROOT, ChartEvent, DecodePanel, component_dir, model_url
from pages.webmodel import LOADER, RUNTIME_DIR, RUNTIME_FILES, RUNTIME_SCRIPTS, _version, figure_url, plotly_js
from vae import latent
from vae.checkpoint import load_atlas
from vae.web import GRAPH

ROOT = Path(__file__).resolve().parents[1]

PAGES = Path(__file__).parents[1] / "pages"
PACKAGE_PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def test_the_served_folder_holds_the_page_its_script_plotly_and_the_browser_runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = component_dir()
    assert folder.parent == tmp_path / "vae-explorer"
    page = (folder / "index.html").read_text()
    # the loader and the chart's own script; plotly.js and the runtime come later
    assert re.findall(r'<script src="([^"]+)"', page) == [LOADER, "map_chart.js"]
    assert re.findall(r'<link rel="preload" href="([^"]+)" as="script">', page) == ["plotly.min.js"]
    assert (folder / "plotly.min.js").read_bytes() == plotly_js().read_bytes()
    assert all((folder / name).exists() for name in RUNTIME_FILES)
    assert component_dir() == folder  # made once, then reused
    assert [p.name for p in (tmp_path / "vae-explorer").iterdir()] == [folder.name]  # no staging folder left


def test_every_component_page_loads_the_shared_script_whose_runtime_scripts_are_the_runtimes():
    pages = list(PAGES.glob("*/*.html"))
    assert len(pages) == 5  # the map, the draw pad, the scrubber, the compared maps and the β slider
    for page in pages:
        assert f'<script src="{LOADER}"></script>' in page.read_text(), page
    loader = (RUNTIME_DIR / LOADER).read_text()
    [listed] = re.findall(r"const RUNTIME_SCRIPTS = (\[[^\]]*\]);", loader)
    assert json.loads(listed) == list(RUNTIME_SCRIPTS)


def test_the_chart_gets_a_models_browser_decoder_by_a_url_inside_its_folder(checkpoints_dir):
    url = model_url(checkpoints_dir / "mnist-vae-z2")
    assert url is not None and url.startswith("models/")
    assert (_ROOT / url / GRAPH).exists()
    assert model_url(checkpoints_dir / "no-such-model") is None  # the server decodes then


def test_a_models_url_is_looked_up_once_per_version_of_its_weights(monkeypatch, tmp_path, checkpoints_dir):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "mnist-vae-z2"
    shutil.copytree(checkpoints_dir / "mnist-vae-z2", folder)
    hashed = []
    real = webmodel.web_model_dir
    monkeypatch.setattr(webmodel, "web_model_dir", lambda *a: hashed.append(a) or real(*a))
    component = tmp_path / "component"
    first = webmodel.model_url(component, folder)
    assert webmodel.model_url(component, folder) == first and len(hashed) == 1  # a rerun hashes nothing
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())  # touched
    assert webmodel.model_url(component, folder) == first and len(hashed) == 2


def test_components_get_the_test_hooks_flag_only_when_it_is_set(monkeypatch):
    calls = []
    monkeypatch.setattr(webmodel.components, "declare_component", lambda name, path: lambda **kw: calls.append(kw))
    component = webmodel.declare("probe", Path("."))
    monkeypatch.delenv(webmodel.TEST_HOOKS, raising=False)
    component(spec="{}")
    monkeypatch.setenv(webmodel.TEST_HOOKS, "1")
    component(spec="{}")
    assert calls == [{"spec": "{}"}, {"spec": "{}", "test_hooks": True}]


def test_the_scripts_set_window_test_hooks_only_through_the_shared_gate():
    scripts = [p for p in PAGES.glob("*/*.js") if not p.name.endswith(".min.js")]
    assert RUNTIME_DIR / LOADER in scripts and len(scripts) == 9
    assigned = [
        (p.name, m) for p in scripts for m in re.findall(r"window\.(__\w+)\s*(?:=[^=]|\+\+|\|\|=)", p.read_text())
    ]
    assert not assigned, "set test hooks with component.hook / component.count (only on under VAE_TEST_HOOKS)"


def test_the_projection_spec_is_what_the_browser_needs_for_each_kind(checkpoints_dir):
    assert latent.map_projection(load_atlas(checkpoints_dir / "mnist-vae-z2")).spec() == {"kind": "latent"}
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z16")
    pca = latent.map_projection(atlas, "pca")
    spec = json.loads(json.dumps(pca.spec()))  # plain JSON values
    assert spec["kind"] == "pca" and len(spec["mean"]) == 16 and [len(r) for r in spec["components"]] == [16, 16]
    assert spec["mean"] == pca.mean.astype(float).tolist()
    umap = latent.map_projection(atlas, "umap")
    assert umap.spec("published/points.f32") == {"kind": "umap", "k": umap.k, "points": "published/points.f32"}
    assert umap.spec()["points"] is None  # no inverse in the browser then


def test_the_decode_panel_passes_plain_values_and_the_slider_labels():
    panel = DecodePanel(
        code=(0.5, -1.0),
        ranges=((-4.0, 4.0), (-3.0, 3.0)),
        step=0.04,
        image="data:image/png;base64,",
        model=None,
        projection={"kind": "latent"},
    )
    args = panel.args()
    assert args["code"] == (0.5, -1.0) and args["model"] is None
    assert json.loads(args["panel"])["labels"] == ["z₁", "z₂"]
    assert all(isinstance(v, str | tuple | type(None)) for v in args.values())  # no list or dict: no pandas check


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
    monkeypatch.setattr("pages.webmodel._GL2D", old)
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


def test_a_figure_is_published_once_under_a_name_that_follows_its_content(tmp_path):
    url = figure_url(tmp_path, '{"data": []}')
    assert url == figure_url(tmp_path, '{"data": []}') != figure_url(tmp_path, '{"data": [{}]}')
    assert (tmp_path / url).read_text() == '{"data": []}'
    assert sorted(p.name for p in (tmp_path / url).parent.iterdir()) == sorted(
        Path(u).name for u in (url, figure_url(tmp_path, '{"data": [{}]}'))
    )  # no staging files left behind


def test_only_the_files_used_last_are_kept_and_a_pruned_one_comes_back_on_use(monkeypatch, tmp_path):
    monkeypatch.setattr(webmodel, "KEEP_PUBLISHED", 3)
    first = figure_url(tmp_path, "[1]")
    urls = [figure_url(tmp_path, f"[{i}]") for i in range(2, 5)]
    assert not (tmp_path / first).exists() and all((tmp_path / u).exists() for u in urls)
    figure_url(tmp_path, "[2]")  # used again: now the newest
    figure_url(tmp_path, "[5]")
    assert (tmp_path / urls[0]).exists() and not (tmp_path / urls[1]).exists()
    assert figure_url(tmp_path, "[1]") == first and (tmp_path / first).read_text() == "[1]"


def test_chart_events_give_the_selected_test_images_and_the_spot_of_a_single_click():
    on_a_point = ChartEvent(points=({"x": 1.5, "y": -0.5, "customdata": [42], "curve_number": 3},))
    assert on_a_point.test_indices() == [42] and on_a_point.clicked_spot() == (1.5, -0.5)
    on_empty_space = ChartEvent(points=({"x": 0.25, "y": 2.0},))
    assert on_empty_space.test_indices() == [] and on_empty_space.clicked_spot() == (0.25, 2.0)
    points = tuple({"x": 0.0, "y": 0.0, "customdata": i} for i in (3, 4))
    lasso = ChartEvent(points=points, lasso=({"x": [0, 1, 1], "y": [0, 0, 1]},))
    assert lasso.test_indices() == [3, 4] and lasso.clicked_spot() is None  # a lasso moves no crosshair
    assert ChartEvent().empty and not lasso.empty and ChartEvent().clicked_spot() is None


def test_a_slider_release_and_a_runtime_failure_are_chart_events(monkeypatch):
    from pages import map_chart

    monkeypatch.setattr(map_chart.st, "session_state", {"chart": {"event": 5, "code": [1.25, -0.5]}})
    released = map_chart.chart_event("chart")
    assert released.code == (1.25, -0.5) and not released.empty and released.clicked_spot() is None
    assert not released.runtime_unavailable
    monkeypatch.setattr(map_chart.st, "session_state", {"chart": {"event": 6, "runtime": "unavailable"}})
    failed = map_chart.chart_event("chart")
    assert failed.runtime_unavailable and failed.empty  # nothing to move: the page only says so


def test_the_map_page_says_once_the_browser_cannot_decode_and_decodes_on_the_server(
    monkeypatch, checkpoints_dir, tmp_path
):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINTS", str(checkpoints_dir))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path))  # no runs
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.switch_page("pages/map.py")
    at.run()
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    assert json.loads(chart.proto.json_args)["model"] is not None  # the browser decodes
    at.session_state["map_chart"] = {"event": 1, "runtime": "unavailable"}  # the chart could not load its runtime
    at.run()
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    args = json.loads(chart.proto.json_args)
    assert args["model"] is None and args["image"].startswith("data:image/png")
    assert [c.value for c in at.caption if "unavailable" in c.value] == [
        "Decoding in the browser is unavailable here, so the server decodes; dragging updates on release."
    ]


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one_and_the_map_still_opens(tmp_path, checkpoints_dir):
    import subprocess
    import sys

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "from pages import webmodel\n"
        "at = AppTest.from_file('app.py', default_timeout=120)\n"
        "at.switch_page('pages/map.py')\n"
        "at.run()\n"
        "print('EXCEPTIONS', len(at.exception), 'ROOT', webmodel.cache_root())\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(blocked / "cache"), "VAE_CHECKPOINTS": str(checkpoints_dir)}
    env["VAE_RUNS"] = str(tmp_path / "runs")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("EXCEPTIONS 0 ROOT ") and "not-a-folder" not in line, line


def test_a_component_keeps_the_models_staged_last_and_stages_a_pruned_one_again(monkeypatch, tmp_path, checkpoints_dir):
    monkeypatch.setattr(webmodel, "MODELS_KEPT", 2)
    component = tmp_path / "component"
    names = ["mnist-vae-z2", "mnist-ae-z2", "fashion-mnist-vae-z2"]
    urls = [webmodel.model_url(component, checkpoints_dir / name) for name in names]
    assert all(urls) and len(set(urls)) == 3
    staged = sorted(p.name for p in (component / webmodel.MODELS).iterdir())
    assert staged == sorted(u.split("/")[1] for u in urls[1:])  # the first went
    assert webmodel.model_url(component, checkpoints_dir / names[0]) == urls[0]
    assert (component / urls[0] / GRAPH).is_file()  # staged again on its next use


def test_only_an_exported_models_expected_regular_files_are_staged(tmp_path, checkpoints_dir):
    source = tmp_path / "export"
    source.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    for name in webmodel._MODEL_FILES:
        (source / name).symlink_to(secret)
    with pytest.raises(OSError, match="is not a regular file"):
        webmodel._stage_model(source, tmp_path / "component" / "models" / "x")
    assert not (tmp_path / "component" / "models" / "x").exists()
