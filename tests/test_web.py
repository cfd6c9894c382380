"""The browser models' export (vae/web.py): graphs for every architecture and activation, clear refusals, and
browser files made on first use outside the checkpoint, in step with the weights. The browser itself runs them in
tests/test_browser_parity.py."""

import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from vae.checkpoint import CheckpointError, load_model, save_weights, weights_sha256, write_json
from vae.models import ModelConfig, build_model
from vae.web import PARTS, WebExportError, export_web_model, web_graph, web_model_dir, web_model_is_current

CONFIGS = [
    ModelConfig(kind=kind, arch=arch, latent_dim=3, hidden=(32, 16), channels=(4, 8), activation=activation)
    for kind in ("vae", "ae")
    for arch in ("mlp", "conv")
    for activation in ("relu", "elu")
]


def _run(net: dict, weights: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The graph's meaning, spelled out in PyTorch's functional ops: what pages/webmodel/vae_model.js computes."""
    for layer in net["layers"]:
        op, w = layer["op"], weights.get(layer.get("weight"))
        b = weights.get(layer.get("bias"))
        if op == "linear":
            x = F.linear(x, w, b)
        elif op == "conv2d":
            x = F.conv2d(x, w, b, stride=layer["stride"], padding=layer["padding"])
        elif op == "conv_transpose2d":
            x = F.conv_transpose2d(x, w, b, stride=layer["stride"], padding=layer["padding"])
        elif op == "reshape":
            x = x.reshape(len(x), *layer["shape"])
        else:
            x = {"relu": torch.relu, "elu": F.elu, "sigmoid": torch.sigmoid}[op](x)
        assert list(x.shape[1:]) == layer["shape"]
    return x.flatten(1)


def _checkpoint(folder, config=CONFIGS[0], seed=0):
    torch.manual_seed(seed)
    model = build_model(config).eval()
    save_weights(model, folder / "model.safetensors")
    write_json(folder / "card.json", {"name": folder.name, "dataset": "mnist", "model": config.to_dict()})
    return model


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.kind}-{c.arch}-{c.activation}")
def test_the_graph_of_every_architecture_and_activation_computes_what_the_model_does(config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    graph = web_graph(model)
    weights = model.state_dict()
    x, z = torch.rand(5, 1, 28, 28), torch.randn(5, 3)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        codes = _run(graph["encoder"], weights, x)
        assert torch.allclose(_run(graph["decoder"], weights, z), model.decode(z).flatten(1), atol=1e-6)
    assert graph["encoder"]["outputs"] == (["mu", "logvar"] if config.kind == "vae" else ["mu"])
    assert torch.allclose(codes[:, :3], mu, atol=1e-6)
    if logvar is not None:
        assert torch.allclose(codes[:, 3:], logvar, atol=1e-6)
    ops = {layer["op"] for net in ("encoder", "decoder") for layer in graph[net]["layers"]}
    assert config.activation in ops and "reshape" in ops
    assert ({"conv2d", "conv_transpose2d"} <= ops) == (config.arch == "conv")


def _skip_connection(model):
    class Residual(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return x + self.layer(x)

    model.decoder.net[1] = Residual(nn.Linear(16, 16))  # hidden (32, 16): the decoder runs 3 -> 16 -> 32 -> 784


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda m: m.decoder.net.__setitem__(1, nn.Tanh()), r"decoder\.net\.1 \(Tanh\(\)\)"),
        (lambda m: m.encoder.net.__setitem__(1, nn.ELU(alpha=0.5)), r"encoder\.net\.1 \(ELU\(alpha=0\.5\)\)"),
        (lambda m: m.decoder.deconv.__setitem__(0, nn.ConvTranspose2d(8, 4, 3, 2, 1, 1)), r"decoder\.deconv\.0"),
        (_skip_connection, r"decoder\.net\.0 is not one link of a chain"),
    ],
    ids=["tanh", "elu-alpha", "odd-upsampling", "skip-connection"],
)
def test_a_layer_the_browser_cannot_run_is_refused_in_one_sentence_naming_it(change, named):
    arch = "conv" if "deconv" in named else "mlp"
    model = build_model(ModelConfig(arch=arch, latent_dim=3, hidden=(32, 16), channels=(4, 8)))
    change(model)
    with pytest.raises(WebExportError, match=named) as err:
        web_graph(model)
    assert str(err.value).count(". ") == 0 and str(err.value).endswith(".")


def test_the_export_holds_the_checkpoints_own_float16_weights_and_leaves_the_checkpoint_alone(tmp_path):
    folder = tmp_path / "m"
    _checkpoint(folder, CONFIGS[2])  # a conv VAE
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    web = export_web_model(folder, tmp_path / "web")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    stored = load_file(folder / "model.safetensors")
    graph = json.loads((web / "model.json").read_text())
    for part in ("encoder", "decoder"):
        exported = load_file(web / graph[part]["weights"])
        assert exported.keys() == {k for k in stored if k.startswith(f"{part}.")}
        assert all(torch.equal(exported[k], stored[k]) and exported[k].dtype == torch.float16 for k in exported)
        assert graph[part]["bytes"] == (web / graph[part]["weights"]).stat().st_size
        named = {layer[key] for layer in graph[part]["layers"] for key in ("weight", "bias") if layer.get(key)}
        assert named == exported.keys()
    assert sorted(p.name for p in web.iterdir()) == ["decoder.safetensors", "encoder.safetensors", "model.json"]


def test_browser_files_are_built_on_first_use_under_the_weights_fingerprint_and_anew_for_new_weights(tmp_path):
    folder, cache = tmp_path / "m", tmp_path / "cache"
    _checkpoint(folder, seed=0)
    web = web_model_dir(folder, cache)
    assert web.parent == cache and web.name == weights_sha256(folder)[:16]
    assert web_model_is_current(folder, web)
    built = (web / "model.json").stat().st_mtime_ns
    assert web_model_dir(folder, cache) == web and (web / "model.json").stat().st_mtime_ns == built  # cached

    _checkpoint(folder, seed=1)  # retrained: new weights under the same name
    assert not web_model_is_current(folder, web)
    retrained = web_model_dir(folder, cache)
    assert retrained != web
    decoder = load_file(retrained / "decoder.safetensors")
    assert torch.equal(decoder["decoder.net.0.weight"], load_file(folder / "model.safetensors")["decoder.net.0.weight"])
    assert sorted(p.name for p in cache.iterdir()) == sorted([web.name, retrained.name])  # no staging folder left


def test_a_damaged_browser_file_is_rebuilt(tmp_path):
    folder, cache = tmp_path / "m", tmp_path / "cache"
    _checkpoint(folder)
    web = web_model_dir(folder, cache)
    good = (web / "encoder.safetensors").read_bytes()
    (web / "encoder.safetensors").write_bytes(good[:100])
    assert not web_model_is_current(folder, web)
    assert web_model_dir(folder, cache) == web
    assert (web / "encoder.safetensors").read_bytes() == good
    (web / "model.json").write_text("[1, 2")
    assert web_model_dir(folder, cache) == web and web_model_is_current(folder, web)


def test_a_folder_without_weights_gets_the_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.safetensors is missing"):
        web_model_dir(tmp_path, tmp_path / "cache")


def test_no_checkpoint_ships_browser_files_of_its_own(checkpoints_dir):
    assert not list(checkpoints_dir.glob("*/web")), "browser files are made on first use, outside the checkpoints"


def test_a_read_only_checkpoint_gets_a_browser_model_that_decodes_and_encodes_as_pytorch_does(
    tmp_path, monkeypatch, checkpoints_dir
):
    from pages import webmodel

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "read-only" / "mnist-vae-z2"
    shutil.copytree(checkpoints_dir / "mnist-vae-z2", folder)
    files = sorted(p.name for p in folder.iterdir())
    for path in [*folder.iterdir(), folder, folder.parent]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        component = tmp_path / "component"
        url = webmodel.model_url(component, folder)
        assert url is not None and url.startswith(f"{webmodel.MODELS}/")
        web = component / url
        graph = json.loads((web / "model.json").read_text())
        weights = {
            k: v.float() for part in PARTS for k, v in load_file(web / graph[part]["weights"]).items()
        }  # float16 on disk, float32 in the browser
        model, _ = load_model(folder)
        x, z = torch.rand(4, 1, 28, 28), torch.randn(4, 2)
        with torch.no_grad():
            assert torch.allclose(_run(graph["decoder"], weights, z), model.decode(z).flatten(1), atol=1e-5)
            assert torch.allclose(_run(graph["encoder"], weights, x)[:, :2], model.encode(x)[0], atol=1e-5)
        assert sorted(p.name for p in folder.iterdir()) == files  # nothing was written beside them
    finally:
        for path in [folder.parent, folder, *folder.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
