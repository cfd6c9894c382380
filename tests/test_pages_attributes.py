"""/map coloured by a measured attribute, and the decode panel moved along an attribute's or two classes' vector,
through Streamlit's AppTest on the real checkpoints."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import streamlit as st
from pages_helpers import open_page
from test_pages_explorer import latent_map_spec, map_chart_args

import vae.attributes
from vae.attributes import attribute_vector, attributes_path, class_vector, line, load_attributes
from vae.checkpoint import load_atlas

pytestmark = pytest.mark.usefixtures("real_models")


@pytest.fixture
def fresh_caches():
    """Streamlit's data caches emptied before and after: the test changes what the measured attributes are."""
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def values(array) -> np.ndarray:
    """An array of the Plotly JSON: a list, or {"dtype", "bdata"} (base64) as Plotly writes NumPy arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def panel(at) -> dict:
    return json.loads(map_chart_args(at)["panel"])


def test_colouring_by_thickness_draws_one_trace_on_a_continuous_scale_with_a_colour_bar(checkpoints_dir):
    at = open_page("map")
    assert at.selectbox(key="map_colour_by").value == "class"  # the default stays the classes
    at.selectbox(key="map_colour_by").set_value("thickness").run()
    assert not at.exception, at.exception
    [trace] = [t for t in latent_map_spec(at)["data"] if t["type"] == "scattergl"]
    marker = trace["marker"]
    assert "thickness" in marker["colorbar"]["title"]["text"] and marker["colorscale"]
    thickness = load_attributes(attributes_path("mnist"), "mnist")["thickness"]
    np.testing.assert_allclose(values(marker["color"]), thickness, rtol=1e-6)  # each test image's own value
    assert len(values(trace["customdata"])) == len(load_atlas(checkpoints_dir / "mnist-vae-z2")["mu"])
    at.selectbox(key="map_colour_by").set_value("class").run()
    names = [t["name"] for t in latent_map_spec(at)["data"] if t["type"] == "scattergl"]
    assert names == [str(d) for d in range(10)]


def test_without_the_expander_the_panel_has_no_direction():
    assert "direction" not in panel(open_page("map"))


def test_the_thickness_vector_gives_the_decode_panel_a_direction_through_the_mean_code(checkpoints_dir):
    at = open_page("map", map_vector=True)  # the expander opened
    direction = panel(at)["direction"]
    codes = load_atlas(checkpoints_dir / "mnist-vae-z2")["mu"]
    vector = attribute_vector(codes, load_attributes(attributes_path("mnist"), "mnist")["thickness"])
    origin, unit, sigma = line(codes, vector)
    np.testing.assert_allclose(direction["vector"], unit, atol=1e-4)
    np.testing.assert_allclose(direction["origin"], origin, atol=1e-3)
    assert direction["range"] == pytest.approx([-2 * sigma, 2 * sigma], abs=0.01)
    captions = " ".join(c.value for c in at.caption)
    assert f"Length {np.linalg.norm(vector):.2f}" in captions


def test_two_classes_give_the_vector_from_one_class_mean_to_the_other(checkpoints_dir):
    at = open_page("map", map_vector=True)
    at.radio(key="map_vector_kind").set_value("classes").run()
    at.selectbox(key="map_vector_a").set_value(1).run()
    at.selectbox(key="map_vector_b").set_value(7).run()
    assert not at.exception, at.exception
    direction = panel(at)["direction"]
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z2")
    vector = class_vector(atlas["mu"], atlas["labels"], 1, 7)
    np.testing.assert_allclose(direction["vector"], vector / np.linalg.norm(vector), atol=1e-4)
    assert direction["label"] == "1 → 7"
    at.selectbox(key="map_vector_b").set_value(1).run()  # the same class twice: a zero vector, no slider
    assert "direction" not in panel(at)
    assert any("zero" in c.value for c in at.caption)


def test_the_shipped_attributes_colour_the_map_without_the_dataset_on_disk(monkeypatch, tmp_path, fresh_caches):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # no MNIST there
    at = open_page("map")
    assert "thickness" in at.selectbox(key="map_colour_by").options[2]


def test_without_measured_attributes_only_the_classes_colour_the_map_and_make_a_vector(monkeypatch, fresh_caches):
    monkeypatch.setattr(vae.attributes, "dataset_attributes", lambda spec, root=None: None)  # data not on disk
    at = open_page("map", map_vector=True)
    assert at.selectbox(key="map_colour_by").options == ["Colour by class"]
    assert at.radio(key="map_vector_kind").options == ["Two classes"]
    assert any("not on disk" in c.value for c in at.caption)
    assert panel(at)["direction"]["label"] == "0 → 1"  # the default pair of classes


def test_a_class_another_model_had_but_this_one_lacks_falls_back_to_the_default_pair():
    at = open_page("map", map_vector=True, map_vector_kind="classes", map_vector_a=2, map_vector_b=15)
    assert panel(at)["direction"]["label"] == "2 → 1"
    assert at.selectbox(key="map_vector_b").value == 1
