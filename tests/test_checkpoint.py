"""Checkpoint round-trip and the clear errors on broken files."""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vae.checkpoint import (
    CheckpointError,
    checkpoint_name,
    find_checkpoints,
    holds_model,
    load_atlas,
    load_model,
    runs_root,
    save_atlas,
    save_weights,
    weights_sha256,
    write_json,
)
from vae.models import ModelConfig, build_model


def _write_checkpoint(folder, kind="vae", latent_dim=3):
    torch.manual_seed(0)
    config = ModelConfig(kind=kind, latent_dim=latent_dim, hidden=(32, 16))
    model = build_model(config).eval()
    save_weights(model, folder / "model.safetensors")
    write_json(folder / "card.json", {"name": folder.name, "dataset": "mnist", "model": config.to_dict()})
    return model


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_round_trip_decodes_the_same(tmp_path, kind):
    model = _write_checkpoint(tmp_path / "m", kind)
    loaded, card = load_model(tmp_path / "m")
    assert card["dataset"] == "mnist"
    assert type(loaded) is type(model)
    z = torch.randn(4, 3)
    with torch.no_grad():
        # float16 storage: equal to the float32 model well within display precision
        assert torch.allclose(loaded.decode(z), model.decode(z), atol=2e-3)
        assert not torch.equal(loaded.decode(z), build_model(model.config).decode(z))


def test_truncated_weights_name_the_file(tmp_path):
    _write_checkpoint(tmp_path / "m")
    path = tmp_path / "m" / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors is corrupt or truncated"):
        load_model(tmp_path / "m")


def test_weights_that_do_not_match_the_card(tmp_path):
    _write_checkpoint(tmp_path / "m", latent_dim=3)
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["model"]["latent_dim"] = 5
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_model(tmp_path / "m")


def test_missing_and_broken_card(tmp_path):
    with pytest.raises(CheckpointError, match=r"card\.json is missing"):
        load_model(tmp_path / "nothing")
    _write_checkpoint(tmp_path / "m")
    (tmp_path / "m" / "card.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not a valid model card"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("field, value", [("activation", "gelu"), ("arch", "transformer")])
def test_card_naming_a_model_this_version_cannot_build(tmp_path, field, value):
    _write_checkpoint(tmp_path / "m")
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    card["model"][field] = value
    (tmp_path / "m" / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=rf"card\.json describes a model this version cannot build .*{value}"):
        load_model(tmp_path / "m")


def test_atlas_round_trip_and_errors(tmp_path):
    _write_checkpoint(tmp_path)
    arrays = {"mu": np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32), "labels": np.arange(10)}
    save_atlas(tmp_path, arrays, weights_sha256(tmp_path))
    loaded = load_atlas(tmp_path)
    assert set(loaded) == {"mu", "labels"}  # the fingerprint is checked, not returned
    np.testing.assert_array_equal(loaded["mu"], arrays["mu"])
    (tmp_path / "atlas.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(CheckpointError, match=r"atlas\.npz is corrupt"):
        load_atlas(tmp_path)
    (tmp_path / "atlas.npz").unlink()
    with pytest.raises(CheckpointError, match=r"atlas\.npz is missing"):
        load_atlas(tmp_path)


def test_an_atlas_beside_other_weights_says_how_to_rebuild_it(tmp_path):
    _write_checkpoint(tmp_path / "m")
    save_atlas(tmp_path / "m", {"mu": np.zeros((3, 3), np.float32)}, weights_sha256(tmp_path / "m"))
    with np.load(tmp_path / "m" / "atlas.npz", allow_pickle=False) as raw:
        assert (
            str(raw["weights_sha256"])
            == hashlib.sha256((tmp_path / "m" / "model.safetensors").read_bytes()).hexdigest()
        )
    load_atlas(tmp_path / "m")

    torch.manual_seed(1)
    save_weights(build_model(ModelConfig(latent_dim=3, hidden=(32, 16))), tmp_path / "m" / "model.safetensors")
    with pytest.raises(CheckpointError) as err:
        load_atlas(tmp_path / "m")
    message = str(err.value)
    assert str(tmp_path / "m" / "atlas.npz") in message and f"python -m vae.atlas {tmp_path / 'm'}" in message
    assert "\n" not in message

    np.savez(tmp_path / "m" / "atlas.npz", mu=np.zeros((3, 3), np.float32))  # an atlas without a fingerprint
    with pytest.raises(CheckpointError, match=r"atlas\.npz was not built from the weights beside it.*vae\.atlas"):
        load_atlas(tmp_path / "m")


def test_runs_go_under_vae_runs_and_a_folder_with_any_model_file_holds_a_model(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_RUNS", raising=False)
    assert runs_root() == Path("runs")
    monkeypatch.setenv("VAE_RUNS", str(tmp_path / "r"))
    assert runs_root() == tmp_path / "r"
    assert not holds_model(tmp_path / "nothing") and not holds_model(tmp_path)
    (tmp_path / "train_state.safetensors").write_bytes(b"")
    assert holds_model(tmp_path)


def test_pickled_atlas_is_refused(tmp_path):
    np.savez(tmp_path / "atlas.npz", evil=np.array([object()], dtype=object))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_atlas(tmp_path)


def test_pickle_in_place_of_weights_is_never_executed(tmp_path):
    _write_checkpoint(tmp_path / "m")
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "m" / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_names_and_discovery(tmp_path):
    assert checkpoint_name("fashion-mnist", "ae", 16) == "fashion-mnist-ae-z16"
    _write_checkpoint(tmp_path / "b")
    _write_checkpoint(tmp_path / "a")
    (tmp_path / "not-a-model").mkdir()
    assert [p.name for p in find_checkpoints(tmp_path)] == ["a", "b"]
