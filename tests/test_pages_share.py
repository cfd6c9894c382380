"""Shareable links and downloads through Streamlit's AppTest on the real checkpoints: ?model=NAME on every page,
?z=a,b,… on /map, one warning and the default for a bad value; the map's download buttons; and the page run that
Streamlit's pages-folder mode would start without app.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"


pytestmark = pytest.mark.usefixtures("real_models")


def open_link(page: str, **params: str) -> AppTest:
    """Run app.py on `page` as if opened from an address with these query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(params)
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def picker(at: AppTest) -> tuple[str, str]:
    """The sidebar's dataset filter and model."""
    return at.selectbox(key="picker_dataset").value, at.selectbox(key="picker_model").value


def map_chart_args(at: AppTest) -> dict:
    """The arguments of the /map chart (the latent-map component, which holds the decode sliders)."""
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    return json.loads(chart.proto.json_args)


def z_values(at: AppTest, name: str) -> list[float]:
    """The decode sliders' values, as the chart shows them for model `name`."""
    code = map_chart_args(at)["code"]
    assert [at.session_state[f"map_z_{name}_{i}"] for i in range(len(code))] == code
    return code


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


# --- links --------------------------------------------------------------------------------------------------------


def test_a_link_selects_its_model_and_decodes_its_point():
    at = open_link("map", model="fashion-mnist-vae-z2", z="0.5,-1")
    assert picker(at) == ("fashion-mnist", "fashion-mnist-vae-z2")
    assert z_values(at, "fashion-mnist-vae-z2") == [0.5, -1.0]
    assert map_chart_args(at)["crosshair"] == [0.5, -1.0]
    assert not warnings(at)
    assert at.query_params == {"model": "fashion-mnist-vae-z2", "z": "0.5,-1"}


def test_a_link_to_a_sixteen_dimensional_point_sets_every_slider():
    code = [round(0.1 * i - 0.8, 2) for i in range(16)]
    at = open_link("map", model="mnist-ae-z16", z=",".join(map(str, code)))
    assert picker(at) == ("mnist", "mnist-ae-z16")
    assert z_values(at, "mnist-ae-z16") == code
    assert not warnings(at)


def test_moving_the_point_and_picking_a_model_rewrite_the_address():
    at = open_link("map")
    assert at.query_params == {"model": "mnist-vae-z2", "z": "0,0"}  # a plain visit gets an address to share
    at.session_state["map_chart"] = {"event": 0, "code": [1.25, 0.0]}  # the chart's z₁ slider, released
    at.run()
    assert at.query_params["z"] == "1.25,0"
    at.session_state["map_chart"] = {
        "event": 1,
        "selection": {"points": [{"x": -0.5, "y": 2.0}], "box": [], "lasso": []},
    }
    at.run()
    assert at.query_params["z"] == "-0.5,2"  # a click on the map
    at.selectbox(key="picker_model").set_value("mnist-vae-z16").run()
    assert at.query_params["model"] == "mnist-vae-z16" and len(at.query_params["z"].split(",")) == 16
    assert not at.exception and not warnings(at)


@pytest.mark.parametrize("page", ["overview", "interpolate", "compare", "image", "anomaly"])
def test_the_other_pages_take_and_carry_the_model(page):
    at = open_link(page, model="fashion-mnist-ae-z16")
    assert picker(at) == ("fashion-mnist", "fashion-mnist-ae-z16")
    assert at.query_params["model"] == "fashion-mnist-ae-z16"
    at.selectbox(key="picker_dataset").set_value("mnist").run()
    assert not at.exception and at.query_params["model"] == "mnist-ae-z16"


def test_compare_shows_the_pair_of_the_linked_model():
    at = open_link("compare", model="fashion-mnist-ae-z16")
    names = " ".join(m.value for m in at.markdown)
    assert "fashion-mnist-vae-z16" in names and "fashion-mnist-ae-z16" in names


BAD_LINKS = {
    "unknown model": (
        {"model": "mnist-vae-z3"},
        "Unknown model ` mnist-vae-z3 ` in the address; showing mnist-vae-z2.",
    ),
    "not numbers": ({"z": "a,b"}, "z ` a,b ` in the address is not a list of numbers; showing the centre."),
    "not finite": ({"z": "nan,1"}, "z ` nan,1 ` in the address is not a list of numbers; showing the centre."),
    "empty": ({"z": ""}, "z (empty) in the address is not a list of numbers; showing the centre."),
    "too many": (
        {"z": "1,2,3"},
        "z ` 1,2,3 ` in the address has 3 coordinates, but mnist-vae-z2 has 2; showing the centre.",
    ),
    "too few for z = 16": (
        {"model": "mnist-vae-z16", "z": "1,2"},
        "z ` 1,2 ` in the address has 2 coordinates, but mnist-vae-z16 has 16; showing the centre.",
    ),
}


@pytest.mark.parametrize("bad", BAD_LINKS)
def test_a_bad_link_gives_one_warning_and_the_default(bad):
    params, message = BAD_LINKS[bad]
    at = open_link("map", **params)
    assert warnings(at) == [message]
    name = params.get("model", "mnist-vae-z2") if "z" in params else "mnist-vae-z2"
    assert at.query_params["model"] == name
    assert z_values(at, name) == [0.0] * len(z_values(at, name))  # the prior's mean
    assert at.query_params["z"] == ",".join(["0"] * len(z_values(at, name)))  # the address is mended
    at.run()
    assert not warnings(at)  # said once


def test_a_point_beyond_the_sliders_is_moved_inside_with_one_line():
    at = open_link("map", z="100,0")
    args = map_chart_args(at)
    assert args["code"][0] == json.loads(args["panel"])["ranges"][0][1] < 100  # the z₁ slider's right end
    assert warnings(at) == [
        "z ` 100,0 ` in the address lies beyond the sliders' range; showing the nearest point inside."
    ]


# --- downloads ----------------------------------------------------------------------------------------------------


def download_buttons(at: AppTest) -> list[str]:
    """Labels of the page's download buttons, checking that each makes its file only when pressed, no rerun."""
    buttons = at.get("download_button")
    assert all(b.proto.deferred_file_id and b.proto.ignore_rerun for b in buttons)
    return [b.proto.label for b in buttons]


def test_the_map_offers_its_points_the_decoded_image_and_the_grid():
    at = open_link("map")
    assert download_buttons(at) == ["Map points (CSV)", "Decoded image (PNG)", "Manifold grid, 15 × 15 (PNG)"]
    at.slider(key="map_grid_n").set_value(6).run()
    assert "Manifold grid, 6 × 6 (PNG)" in download_buttons(at)  # the overlay's settings, whether it is on or not
    at = open_link("map", model="mnist-ae-z16")
    [points] = [b for b in at.get("download_button") if b.proto.label == "Map points (CSV)"]
    assert "no log-variance" in points.proto.help


# --- Streamlit's pages-folder mode --------------------------------------------------------------------------------


def test_streamlit_still_starts_in_pages_folder_mode_beside_a_pages_folder():
    """If this fails, Streamlit no longer runs pages/*.py on their own before st.navigation has run: the rerun in
    pages/ui/navigation.py (`inside_app`) can go."""
    assert "uses_pages_directory" in vars(PagesManager)
    saved = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = None
        PagesManager(str(APP), setup_watcher=False)
        assert PagesManager.uses_pages_directory is True
    finally:
        PagesManager.uses_pages_directory = saved


def test_every_run_goes_through_app_py():
    """AppTest, like a fresh server, starts every run in pages-folder mode; each run still shows app.py's picker."""
    at = open_link("map", model="fashion-mnist-vae-z2")
    for _ in range(3):
        assert picker(at) == ("fashion-mnist", "fashion-mnist-vae-z2")
        assert PagesManager.uses_pages_directory is False
        at.run()
        assert not at.exception


HOSTILE = {
    "a link": "[Session expired, sign in](https://example.com/login)",
    "an image": "![](https://example.com/pixel.png)",
    "an icon and colour": ":material/lock: :red[Your account is locked]",
    "backticks": "`` ` [x](https://example.com) ` ``",
    "html": "<img src=https://example.com/a.png>",
}


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("param", ["model", "z"])
def test_text_from_the_address_is_shown_as_typed_never_as_markdown(kind, param):
    from markdown_it import MarkdownIt

    value = HOSTILE[kind]
    at = open_link("map", **{param: value})
    [warning] = warnings(at)
    html = MarkdownIt("commonmark").renderInline(warning)
    assert "<a " not in html and "<img" not in html
    code = html[html.index("<code>") + len("<code>") : html.index("</code>")]
    assert code.strip() == value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert ":" not in html.replace(code, "").split("<code>")[0]  # no icon shortcode before the quoted value
