"""/map's samples from the fitted Gaussian mixture beside the prior's, the prior's holes, and the prior gap on the
overview's model card, through Streamlit's AppTest on the real checkpoints; the fallbacks where a model has no
up-to-date sampler.npz."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import plotly.io
import pytest
from pages_helpers import open_page
from streamlit.testing.v1 import AppTest

from vae.checkpoint import ATLAS, CARD, WEIGHTS, load_atlas, weights_sha256
from vae.holes import prior_gap
from vae.latent import code_ranges
from vae.samplers import SAMPLER, load_gmm, save_sampler

pytestmark = pytest.mark.usefixtures("real_models")


def sample_grids(at: AppTest) -> dict[str, str]:
    """The Samples tab's image URLs by the heading above them (the URL carries a hash of the bytes)."""
    headings = [m.value.strip("*") for m in at.markdown if m.value.startswith("**Samples from")]
    urls = [img.proto.imgs[0].url for img in at.get("image")]
    return dict(zip(headings, urls, strict=False))


def cached_code_ranges(folder: Path) -> np.ndarray:
    """The /map sliders' ranges (z, 2), as pages/ui/cached.py computes them."""
    return code_ranges(load_atlas(folder)["mu"], prior="-vae-" in folder.name)


def array_of(value) -> np.ndarray:
    """A figure's array as Plotly's JSON holds it: a list, or {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", len(flat))).split(",")]).astype(float)
    return np.asarray(value, dtype=float)


def text_of(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def open_holes(at: AppTest) -> AppTest:
    at.session_state["map_holes"] = True  # the expander opened
    at.run()
    assert not at.exception, at.exception
    return at


PRIOR, MIXTURE = "Samples from the prior", "Samples from a Gaussian mixture fitted on the training codes"


@pytest.mark.parametrize("name", ["mnist-vae-z2", "mnist-ae-z2", "fashion-mnist-ae-z16"])
def test_the_mixtures_samples_are_shown_beside_the_priors_with_the_same_seed_control(name):
    at = open_page("map", picker_model=name)
    grids = sample_grids(at)
    assert list(grids) == [PRIOR, MIXTURE] and grids[PRIOR] != grids[MIXTURE]
    text = text_of(at)
    assert "aggregate posterior q(z)" in text and "Ghosh et al., 2020" in text
    assert "Fréchet distance" in text and "checkpoints/README.md" in text  # the shipped models' measured numbers
    assert at.button(key="map_prior_new")
    at.session_state["map_prior_seed"] = 1  # what the button sets (AppTest cannot click inside this fragment)
    redrawn = sample_grids(at.run())
    assert redrawn[PRIOR] != grids[PRIOR] and redrawn[MIXTURE] != grids[MIXTURE]  # one seed for both


def test_the_measured_frechet_distances_on_the_page_are_those_the_scoring_script_wrote(checkpoints_dir):
    from vae.quality import measured_quality

    measured = measured_quality("mnist-ae-z16", weights_sha256(checkpoints_dir / "mnist-ae-z16"))
    at = open_page("map", picker_model="mnist-ae-z16")
    line = next(c.value for c in at.caption if c.value.startswith("Fréchet distance"))
    assert f"prior {measured['prior']['frechet']:.2f}, mixture {measured['mixture']['frechet']:.2f}." in line


def test_the_readme_table_shows_the_measured_sample_quality(checkpoints_dir):
    from vae.quality import MEASURED

    models = json.loads(MEASURED.read_text())["models"]
    lines = (checkpoints_dir / "README.md").read_text().splitlines()
    assert len(models) == 8
    for name, record in models.items():
        [i] = [i for i, r in enumerate(lines) if r.startswith(f"| `{name}` |") and "| prior N(0, I) |" in r]
        assert f"| {record['prior']['frechet']:.2f} |" in lines[i], name
        assert "GMM" in lines[i + 1] and f"| {record['mixture']['frechet']:.2f} |" in lines[i + 1], name


@pytest.mark.parametrize("name", ["mnist-vae-z2", "fashion-mnist-ae-z2"])
def test_the_holes_of_a_two_dimensional_model_are_drawn_on_the_maps_axes_with_their_numbers(checkpoints_dir, name):
    at = open_page("map", picker_model=name)
    assert not at.get("plotly_chart") and "MMD²" not in text_of(at)  # made only while its expander is open
    open_holes(at)
    gap = prior_gap(load_atlas(checkpoints_dir / name))
    text = text_of(at)
    assert f"MMD² {gap['mmd2']:.4f}" in text
    assert f"KL(q(z) ‖ p(z)) {gap['kl']:.2f} nats" in text
    assert f"Prior mass in the holes {gap['hole_mass']:.1%}" in text
    [chart] = at.get("plotly_chart")
    figure = plotly.io.from_json(chart.proto.spec)
    [heatmap] = [t for t in figure.data if t.type == "heatmap"]
    assert heatmap.zmid == 0 and np.nanmin(array_of(heatmap.z)) < -np.log(10)  # there are holes
    assert np.nanmax(array_of(heatmap.z)) > 0  # and places where the codes are denser than the prior
    ranges = cached_code_ranges(checkpoints_dir / name)
    assert list(figure.layout.xaxis.range) == pytest.approx(ranges[0]) and figure.layout.xaxis.title.text == "z₁"
    assert list(figure.layout.yaxis.range) == pytest.approx(ranges[1])  # the map's axes
    assert any(t.type == "contour" for t in figure.data)  # the holes' outline
    assert not any(t.type == "scattergl" for t in figure.data)
    at.toggle(key="map_holes_codes").set_value(True).run()
    with_codes = plotly.io.from_json(at.get("plotly_chart")[0].proto.spec)
    [codes] = [t for t in with_codes.data if t.type == "scattergl"]
    assert len(array_of(codes.x)) == len(load_atlas(checkpoints_dir / name)["mu"])


def test_the_holes_of_a_sixteen_dimensional_model_are_its_mmd_without_a_picture(checkpoints_dir):
    at = open_holes(open_page("map", picker_model="mnist-vae-z16"))
    gap = prior_gap(load_atlas(checkpoints_dir / "mnist-vae-z16"))
    text = text_of(at)
    assert f"MMD² {gap['mmd2']:.4f}" in text and "√16" in text
    assert "KL(q(z)" not in text and not at.get("plotly_chart")


@pytest.mark.parametrize(("name", "has_kl"), [("mnist-ae-z2", True), ("fashion-mnist-vae-z16", False)])
def test_the_overview_card_shows_the_prior_gap(checkpoints_dir, name, has_kl):
    gap = prior_gap(load_atlas(checkpoints_dir / name))
    text = text_of(open_page("overview", picker_model=name))
    assert "| prior gap | test codes |" in text and f"| MMD² | {gap['mmd2']:.4f} |" in text
    if has_kl:
        assert f"| KL(q(z) ‖ p(z)) | {gap['kl']:.2f} |" in text
    else:
        assert "| KL(q(z)" not in text
    assert json.loads((checkpoints_dir / name / CARD).read_text()).get("prior_gap") is None  # the card is not rewritten


# --- a model without an up-to-date sampler.npz ----------------------------------------------------------------------


def _copy(checkpoints_dir: Path, root: Path, name: str = "mnist-vae-z2") -> Path:
    """A copy of a shipped model without its sampler.npz."""
    folder = root / name
    folder.mkdir(parents=True)
    for f in (WEIGHTS, CARD, ATLAS):
        shutil.copy(checkpoints_dir / name / f, folder / f)
    return folder


@pytest.mark.parametrize("stale", [False, True], ids=["missing", "stale"])
def test_without_an_up_to_date_sampler_the_page_fits_one_on_the_training_codes(
    checkpoints_dir, tmp_path, monkeypatch, stale
):
    folder = _copy(checkpoints_dir, tmp_path / "models")
    if stale:
        save_sampler(folder, load_gmm(checkpoints_dir / "mnist-ae-z2" / SAMPLER), "0" * 64)
    monkeypatch.setenv("VAE_CHECKPOINTS", str(folder.parent))
    at = open_page("map", picker_model=folder.name)
    grids = sample_grids(at)
    assert list(grids) == [PRIOR, MIXTURE] and not at.info
    assert (folder / SAMPLER).exists() == stale  # fitted in memory: the page writes nothing into the folder


@pytest.mark.parametrize("stale", [False, True], ids=["missing", "stale"])
def test_without_a_sampler_or_the_training_images_the_page_says_how_to_make_it_in_one_sentence(
    checkpoints_dir, tmp_path, monkeypatch, stale
):
    folder = _copy(checkpoints_dir, tmp_path / "models")
    if stale:
        save_sampler(folder, load_gmm(checkpoints_dir / "mnist-ae-z2" / SAMPLER), "0" * 64)
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("VAE_CHECKPOINTS", str(folder.parent))
    monkeypatch.setenv("VAE_DATA_DIR", str(empty))
    at = open_page("map", picker_model=folder.name)
    assert list(sample_grids(at)) == [PRIOR]  # the prior's samples are still there
    [info] = at.info
    assert info.value.count(". ") == 0 and info.value.endswith(".")
    assert "not on disk" in info.value and f"python -m vae.atlas --sampler-only {folder}" in info.value
    assert not list(empty.iterdir())  # nothing was downloaded
