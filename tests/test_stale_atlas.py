"""An atlas beside weights it was not built from (the model was retrained, the atlas not rebuilt): the app names that
model's atlas and the command that rebuilds it, and the other models stay usable. AppTest on copies of the shipped
checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from vae.checkpoint import ATLAS, CARD, WEIGHTS, load_atlas, load_model, save_weights
from vae.zoo import SHIPPED

ROOT = Path(__file__).resolve().parents[1]
STALE = "mnist-vae-z2"  # the model the sidebar starts on


@pytest.fixture
def shelf(tmp_path, checkpoints_dir) -> Path:
    """Copies of the eight shipped models, STALE's weights replaced by others of the same architecture."""
    shelf = tmp_path / "checkpoints"
    for name in SHIPPED:
        (shelf / name).mkdir(parents=True)
        for f in (WEIGHTS, CARD, ATLAS):
            shutil.copy(checkpoints_dir / name / f, shelf / name / f)
    model, _ = load_model(shelf / STALE)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_weights(model, shelf / STALE / WEIGHTS)
    return shelf


def test_the_shipped_atlases_match_their_weights(checkpoints_dir):
    for name in SHIPPED:
        assert load_atlas(checkpoints_dir / name)["mu"].shape[0] == 10_000  # raises on a stale fingerprint


@pytest.mark.slow
def test_the_app_names_a_stale_atlas_and_keeps_the_other_models_usable(shelf, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_CHECKPOINTS", str(shelf))
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["model"] = STALE
    at.switch_page("pages/map.py").run()
    assert not at.exception, at.exception
    folder = shelf / STALE
    problem = f"{folder / ATLAS} was not built from the weights beside it ({folder / WEIGHTS}); "
    [warning] = [w.value for w in at.warning]
    assert warning.startswith(f"Model ` {STALE} ` in the address cannot be opened ({problem}")
    assert f"`python -m vae.atlas {folder}`" in warning and len(warning.splitlines()) == 1
    sidebar = "\n".join(m.value for m in at.sidebar.markdown)
    assert f"- **{STALE}**: {problem}" in sidebar  # listed with its sentence, not offered
    assert at.selectbox(key="picker_model").value == "mnist-ae-z2"
    assert len(at.selectbox(key="picker_model").options) == 3  # the other MNIST models

    assert not at.error, [e.value for e in at.error]  # the next model opens instead
    assert at.get("component_instance") and at.get("image"), "the map of a healthy model is not drawn"
    at.selectbox(key="picker_dataset").set_value("fashion-mnist").run()
    assert not at.exception and not at.error
    assert at.get("component_instance"), "the map of another healthy model is not drawn"
