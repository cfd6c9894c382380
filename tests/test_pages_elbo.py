"""/elbo in AppTest on the shipped models: the plane, the β slider and the KL per latent dimension, for a VAE, an
autoencoder, and a checkpoints folder without the sweep."""

from __future__ import annotations

import shutil

import pytest
from pages_helpers import open_page

from vae.sweep import SWEEP_DIR, sweep_name

pytestmark = pytest.mark.slow


def markdown(at) -> str:
    return " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)


def test_a_z16_vae_shows_its_unused_dimensions(real_models):
    at = open_page("elbo", picker_model="mnist-vae-z16")
    assert len(at.get("plotly_chart")) == 2  # the plane and the KL per dimension
    assert "**14 of 16** dimensions are active" in markdown(at)
    assert "Lowest of the sweep: **β = 1**" in markdown(at)


def test_an_autoencoder_has_no_kl_per_dimension_and_says_why(real_models):
    at = open_page("elbo", picker_model=sweep_name("fashion-mnist", None))
    assert any("plain autoencoder" in i.value and "no KL term" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 1  # the plane


def test_without_the_sweep_the_page_says_how_to_train_one(monkeypatch, checkpoints_dir, tmp_path, real_models):
    bare = tmp_path / "checkpoints"
    shutil.copytree(checkpoints_dir, bare, ignore=shutil.ignore_patterns(SWEEP_DIR))
    monkeypatch.setenv("VAE_CHECKPOINTS", str(bare))
    at = open_page("elbo", picker_model="mnist-vae-z2")
    assert any("No β sweep of MNIST is shipped" in i.value and "python -m vae.sweep" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 2


@pytest.mark.parametrize("page", ["overview", "map", "interpolate", "compare", "image", "anomaly", "elbo"])
def test_every_page_opens_a_model_of_the_sweep(real_models, page):
    at = open_page(page, picker_model=sweep_name("mnist", 8.0))
    assert not at.error and at.query_params["model"] == sweep_name("mnist", 8.0)
