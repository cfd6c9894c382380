"""The explorer pages (/, /map, /interpolate, /compare) through Streamlit's AppTest, on the real checkpoints."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
from pages_helpers import open_page
from streamlit.testing.v1 import AppTest

from pages.map_chart import _ROOT
from vae.checkpoint import load_atlas

MAP_CHART = "map_chart"
_events = itertools.count(1)  # the chart numbers its events (it sends the time)


pytestmark = pytest.mark.usefixtures("real_models")


def image_urls(at: AppTest) -> list[str]:
    """Media URLs of the page's images in order (the URL carries a hash of the image bytes)."""
    return [img.proto.imgs[0].url for img in at.get("image")]


def map_spec(at: AppTest) -> dict:
    """The figure of the page's first st.plotly_chart."""
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def map_chart_args(at: AppTest) -> dict:
    """The arguments of the /map chart (the latent-map component): figure, overlays, crosshair, ..."""
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith("latent_map")]
    return json.loads(chart.proto.json_args)


def component_args(at: AppTest, name: str) -> dict:
    """The arguments of the page's component `name` (e.g. "compare_maps")."""
    [chart] = [e for e in at.get("component_instance") if e.proto.component_name.endswith(name)]
    return json.loads(chart.proto.json_args)


def compare_map_figures(at: AppTest) -> list[dict]:
    """The /compare maps' figures, in the order shown."""
    return [json.loads(m["figure"]) for m in json.loads(component_args(at, "compare_maps")["spec"])["models"]]


def latent_map_spec(at: AppTest) -> dict:
    """The /map figure (without the selection and the crosshair, which the chart draws), as the chart fetches it."""
    return json.loads((_ROOT / map_chart_args(at)["figure"]).read_text())


@dataclass(frozen=True)
class ZSlider:
    """One decode slider of the /map chart's panel: its label, its value, and a release at a new value."""

    at: AppTest
    index: int
    label: str
    value: float

    def set_value(self, value: float) -> AppTest:
        """Simulate the chart reporting this slider released at `value` (call .run() on the result)."""
        code = list(map_chart_args(self.at)["code"])
        code[self.index] = value
        self.at.session_state[MAP_CHART] = {"event": next(_events), "code": code}
        return self.at


def z_sliders(at: AppTest, name: str) -> list[ZSlider]:
    """The decode sliders (in the /map chart's panel) of model `name`, in latent-dimension order."""
    args = map_chart_args(at)
    assert at.session_state[f"map_z_{name}_0"] == args["code"][0]  # the chart shows this model's code
    labels = json.loads(args["panel"])["labels"]
    return [ZSlider(at, i, label, value) for i, (label, value) in enumerate(zip(labels, args["code"], strict=True))]


def decoded_image(at: AppTest) -> str:
    """The /map decoded point as the server decoded it (a data: URI the chart shows where the browser cannot)."""
    return map_chart_args(at)["image"]


def select_on_map(at: AppTest, points: list[dict], lasso: bool = False) -> AppTest:
    """Simulate a click or lasso reported by the latent-map chart and rerun."""
    area = [{"x": [0, 1, 1], "y": [0, 0, 1]}] if lasso else []
    at.session_state[MAP_CHART] = {"event": next(_events), "selection": {"points": points, "box": [], "lasso": area}}
    at.run()
    assert not at.exception, at.exception
    return at


# --- overview -----------------------------------------------------------------------------------------------------


def test_overview_explains_links_and_shows_the_model_card(checkpoints_dir):
    at = open_page("overview")
    text = " ".join(m.value for m in at.markdown)
    assert "evidence lower bound" in text and "autoencoder" in text
    assert len(at.get("graphviz_chart")) == 1 and len(at.latex) == 1
    assert len(at.get("page_link")) == 6  # every page but the overview and /train
    card = json.loads((checkpoints_dir / "mnist-vae-z2" / "card.json").read_text())
    assert f"| −ELBO | {card['metrics']['neg_elbo']:.1f} |" in text


def test_overview_card_of_an_autoencoder_has_no_elbo():
    at = open_page("overview", picker_model="mnist-ae-z2")
    text = " ".join(m.value for m in at.markdown)
    assert "| BCE |" in text and "−ELBO" not in text


# --- latent map ---------------------------------------------------------------------------------------------------


def test_map_shows_every_test_image_sliders_and_the_decoded_point():
    at = open_page("map")
    spec = latent_map_spec(at)
    names = [t.get("name") for t in spec["data"] if t["type"] == "scattergl" and t.get("showlegend", True)]
    assert names == [str(d) for d in range(10)]
    assert [s.label for s in z_sliders(at, "mnist-vae-z2")] == ["z₁", "z₂"]
    assert decoded_image(at).startswith("data:image/png") and image_urls(at)  # the decoded point, the prior samples
    assert map_chart_args(at)["crosshair"] == [0.0, 0.0]  # the prior's mean


def test_moving_a_slider_changes_the_decoded_image_and_moves_the_crosshair():
    at = open_page("map")
    before = decoded_image(at)
    z_sliders(at, "mnist-vae-z2")[0].set_value(1.5).run()
    assert not at.exception
    assert decoded_image(at) != before
    assert map_chart_args(at)["crosshair"] == [1.5, 0.0]


def test_moving_the_crosshair_leaves_the_map_figure_alone():
    at = open_page("map")
    before = map_chart_args(at)
    z_sliders(at, "mnist-vae-z2")[0].set_value(-1.0).run()
    after = map_chart_args(at)
    assert after["crosshair"] == [-1.0, 0.0] and before["crosshair"] != after["crosshair"]
    assert after["figure"] == before["figure"]  # so the browser keeps the drawn points


def test_clicking_empty_space_decodes_that_spot():
    at = open_page("map")
    before = decoded_image(at)
    select_on_map(at, [{"x": 1.25, "y": -0.75, "curve_number": 0, "point_index": 17}])
    assert [s.value for s in z_sliders(at, "mnist-vae-z2")] == [1.25, -0.75]
    assert decoded_image(at) != before
    assert "test image" not in " ".join(m.value for m in at.markdown)  # empty space selects no image


def test_clicking_a_point_shows_its_image_scores_and_moves_the_crosshair(checkpoints_dir):
    mu = load_atlas(checkpoints_dir / "mnist-vae-z2")["mu"]
    at = open_page("map")
    select_on_map(at, [{"x": float(mu[42, 0]), "y": float(mu[42, 1]), "customdata": 42, "curve_number": 3}])
    assert [t["name"] for t in json.loads(map_chart_args(at)["overlays"])] == ["selected"]  # ringed on the map
    text = " ".join(m.value for m in at.markdown)
    assert "test image 42" in text
    assert "−ELBO" in " ".join(c.value for c in at.caption)
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert "original" in captions and "reconstruction" in captions
    assert np.allclose([s.value for s in z_sliders(at, "mnist-vae-z2")], mu[42], atol=0.006)


def test_a_later_slider_move_is_not_undone_by_the_old_click():
    at = open_page("map")
    select_on_map(at, [{"x": 1.0, "y": 1.0}])
    z_sliders(at, "mnist-vae-z2")[1].set_value(-2.0).run()
    assert [s.value for s in z_sliders(at, "mnist-vae-z2")] == [1.0, -2.0]


def test_clicking_the_same_spot_again_after_a_slider_move_decodes_it_again():
    at = open_page("map")
    select_on_map(at, [{"x": 1.0, "y": 1.0}])
    z_sliders(at, "mnist-vae-z2")[0].set_value(-2.0).run()
    select_on_map(at, [{"x": 1.0, "y": 1.0}])  # a new click event, though the same spot
    assert [s.value for s in z_sliders(at, "mnist-vae-z2")] == [1.0, 1.0]


def test_a_lasso_shows_a_grid_of_the_selected_images():
    at = open_page("map")
    points = [{"x": 0.0, "y": 0.0, "customdata": i} for i in range(3, 15)]
    before = [s.value for s in z_sliders(at, "mnist-vae-z2")]
    select_on_map(at, points, lasso=True)
    assert "12 images selected" in " ".join(m.value for m in at.markdown)
    assert [s.value for s in z_sliders(at, "mnist-vae-z2")] == before  # a lasso does not move the crosshair


def test_manifold_overlay_lays_decoded_tiles_on_the_map():
    at = open_page("map")
    assert not latent_map_spec(at)["layout"].get("images")
    at.toggle(key="map_overlay").set_value(True).run()
    at.slider(key="map_grid_n").set_value(6).run()
    assert not at.exception
    images = latent_map_spec(at)["layout"]["images"]
    assert len(images) == 36 and images[0]["source"].startswith("data:image/png")
    at.radio(key="map_grid_spacing").set_value("gaussian").run()
    gaussian = latent_map_spec(at)["layout"]["images"]
    assert not at.exception and len(gaussian) == 36
    xs = sorted({round(i["x"], 6) for i in gaussian})
    assert np.diff(xs)[len(xs) // 2 - 1] < np.diff(xs)[0]  # tiles crowd at the centre


def test_z16_map_has_projections_sixteen_sliders_and_traversals(checkpoints_dir):
    mu = load_atlas(checkpoints_dir / "mnist-vae-z16")["mu"]
    at = open_page("map", picker_model="mnist-vae-z16")
    sliders = z_sliders(at, "mnist-vae-z16")
    assert len(sliders) == 16
    assert at.button(key="map_from_selected").disabled
    select_on_map(at, [{"x": 0.0, "y": 0.0, "customdata": 7}, {"x": 0.1, "y": 0.0, "customdata": 9}], lasso=True)
    at.button(key="map_from_selected").click().run()
    assert np.allclose([s.value for s in z_sliders(at, "mnist-vae-z16")], mu[7], atol=0.006)
    before, before_image = image_urls(at), decoded_image(at)
    z_sliders(at, "mnist-vae-z16")[5].set_value(0.5).run()
    assert decoded_image(at) != before_image  # the decoded point
    assert image_urls(at) == before  # with their tab closed no traversals are made
    at.session_state["map_tab"] = "Traversals"
    opened = image_urls(at.run())
    assert len(opened) == len(before) - 1 and opened[-1] not in before  # one traversal grid instead of two samples
    z_sliders(at, "mnist-vae-z16")[5].set_value(-0.5).run()
    assert set(image_urls(at)) - set(opened)  # ... and they follow the decoded point
    at.button_group(key="map_projection").set_value("umap").run()
    assert not at.exception
    assert latent_map_spec(at)["layout"]["xaxis"]["title"]["text"] == "UMAP 1"


def test_autoencoder_map_centres_on_its_codes(checkpoints_dir):
    mu = load_atlas(checkpoints_dir / "mnist-ae-z2")["mu"]
    at = open_page("map", picker_model="mnist-ae-z2")
    assert np.allclose([s.value for s in z_sliders(at, "mnist-ae-z2")], np.median(mu, axis=0), atol=0.006)


# --- interpolation ------------------------------------------------------------------------------------------------


def test_interpolation_shows_both_paths_for_the_model_and_its_autoencoder():
    at = open_page("interpolate")
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert captions.count("linear") == 2 and captions.count("spherical") == 2
    assert "mnist-ae-z2" in " ".join(m.value for m in at.markdown)
    names = [t.get("name") for t in map_spec(at)["data"]]
    assert "linear" in names and "spherical" in names
    assert len(at.get("download_button")) == 4


def test_the_scrubber_gets_both_models_path_ends_and_the_strip_frames(checkpoints_dir):
    at = open_page("interpolate")
    spec = json.loads(component_args(at, "interpolation_scrubber")["spec"])
    a, b = (int(c.replace("#", "")) for c in [img.proto.imgs[0].caption for img in at.get("image")][:2])
    assert spec["steps"] == 10 and [m["label"].split(" · ")[1] for m in spec["models"]] == [
        "mnist-vae-z2",
        "mnist-ae-z2",
    ]
    for model in spec["models"]:
        mu = load_atlas(checkpoints_dir / model["label"].split(" · ")[1])["mu"]
        assert np.allclose(model["z0"], mu[a]) and np.allclose(model["z1"], mu[b])
        assert model["url"].startswith("models/")
        assert {k: len(v) for k, v in model["frames"].items()} == {"linear": 10, "spherical": 10}


def test_changing_an_endpoint_or_the_steps_changes_the_strips():
    at = open_page("interpolate")
    before = image_urls(at)
    at.selectbox(key="interp_b_class").set_value(7).run()
    changed = image_urls(at)
    assert changed[2] != before[2]
    at.slider(key="interp_steps").set_value(5).run()
    assert not at.exception and image_urls(at)[2] != changed[2]


def test_random_pair_and_map_selection_pick_the_endpoints(checkpoints_dir):
    labels = load_atlas(checkpoints_dir / "mnist-vae-z2")["labels"]
    at = open_page("interpolate")
    assert at.button[1].disabled  # nothing selected on the map yet
    at.button[0].click().run()
    assert not at.exception
    at = open_page("interpolate", map_selected={"folder": "mnist-vae-z2", "dataset": "mnist", "indices": [5, 9, 42]})
    at.button[1].click().run()
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert "#5" in captions and "#42" in captions
    assert at.selectbox(key="interp_a_class").value == labels[5]


# --- VAE vs AE ----------------------------------------------------------------------------------------------------


def test_compare_shows_both_models_and_the_gap_numbers():
    at = open_page("compare")
    table = next(m.value for m in at.markdown if "Empty cells" in m.value)
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in table.splitlines()[2:]}
    assert set(rows) == {
        "Empty cells over the occupied region",
        "Jump ratio (p99 / median pixel change)",
        "Latent extent (p99 distance from 0)",
    }
    assert all(cell.strip() for cells in rows.values() for cell in cells)
    assert len(at.get("plotly_chart")) == 2 and len(at.get("image")) == 2  # the grids; the maps are one component
    assert any("jump ratio" in m.value for m in at.markdown)
    maps = compare_map_figures(at)
    assert maps[0]["layout"]["xaxis"]["range"] == maps[1]["layout"]["xaxis"]["range"]  # matched axes
    assert len(json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["images"]) == 12 * 12
    at.toggle(key="compare_matched").set_value(False).run()
    maps = compare_map_figures(at)
    assert maps[0]["layout"]["xaxis"]["range"] != maps[1]["layout"]["xaxis"]["range"]


def test_compare_hands_the_browser_both_models_and_decodes_a_click_on_the_server(checkpoints_dir):
    at = open_page("compare", picker_model="mnist-vae-z16")
    spec = json.loads(component_args(at, "compare_maps")["spec"])
    assert [m["label"].split(" · ")[1] for m in spec["models"]] == ["mnist-vae-z16", "mnist-ae-z16"]
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z16")
    assert np.allclose(spec["models"][0]["projection"]["components"], atlas["pca_components"], atol=1e-6)
    assert all(m["url"].startswith("models/") for m in spec["models"])
    assert component_args(at, "compare_maps")["served"] is None
    at.session_state["compare_hover"] = {"event": 1, "x": 0.5, "y": -1.0}  # a click where the browser cannot decode
    at.run()
    served = json.loads(component_args(at, "compare_maps")["served"])
    assert (served["x"], served["y"]) == (0.5, -1.0)
    assert len(served["images"]) == 2 and all(u.startswith("data:image/png;base64,") for u in served["images"])
    assert served["images"][0] != served["images"][1]


# --- missing pieces -----------------------------------------------------------------------------------------------


def test_without_the_dataset_everything_but_the_originals_still_works(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    at = open_page("map")
    select_on_map(at, [{"x": 0.0, "y": 0.0, "customdata": 3}])
    assert any("not on disk" in c.value for c in at.caption)
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert "reconstruction" in captions and "original" not in captions
    at = open_page("interpolate")
    assert any("not on disk" in c.value for c in at.caption)
    assert not list(tmp_path.iterdir())  # nothing was downloaded


def test_a_broken_dataset_file_is_named_not_called_missing(monkeypatch, truncated_mnist):
    raw = truncated_mnist
    monkeypatch.setenv("VAE_DATA_DIR", str(raw.parents[1]))
    at = open_page("map")
    select_on_map(at, [{"x": 0.0, "y": 0.0, "customdata": 3}])
    hint = next(c.value for c in at.caption if "original MNIST images" in c.value)
    assert "could not be read" in hint and "truncated" in hint and f"delete {raw}" in hint, hint
    assert not at.exception and len(at.get("image")) >= 1  # the reconstruction is still shown


@pytest.mark.parametrize("page", ["overview", "map", "interpolate", "compare"])
def test_no_model_at_all_gives_one_clear_message(monkeypatch, tmp_path, page):
    monkeypatch.setenv("VAE_CHECKPOINTS", str(tmp_path))
    at = open_page(page)
    assert [e.value for e in at.error][-1].startswith(f"No model can be opened: {tmp_path} and ")


@pytest.mark.parametrize("page", ["map", "compare", "interpolate", "overview"])
def test_a_page_run_scans_the_model_folders_once(page, monkeypatch):
    from vae import catalog

    scans = []
    real = catalog.catalog

    def counted(*args, **kwargs):
        scans.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "catalog", counted)
    at = open_page(page)
    before = len(scans)
    at.run()
    assert not at.exception, at.exception
    assert len(scans) - before == 1, f"/{page} scanned the model folders {len(scans) - before} times in one run"
