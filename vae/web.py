"""The models in the browser: a checkpoint's encoder and decoder as small layer graphs and float16 weights.

`export_web_model(folder, target)` writes a checkpoint's browser files into the folder `target`:

    model.json           the layer graph of the encoder and of the decoder, and the SHA-256 of the
                         model.safetensors they were made from
    encoder.safetensors  the encoder's weights, float16, named and laid out as in model.safetensors
    decoder.safetensors  the decoder's

and `web_model_dir(folder, cache)` returns `cache/<the weights' fingerprint>/`, built there on first use (and again
if damaged). Nothing is ever written into the checkpoint folder, so a read-only one works; new weights get a new
fingerprint, hence new files.
pages/webmodel/vae_model.js runs the graphs in the browser with TensorFlow.js (bench/browser_runtime.md says
why that runtime). The weights are the checkpoint's own float16 numbers, so the browser computes in float32 from
exactly the weights PyTorch loads.

A graph is the chain of layers PyTorch runs, read off the traced modules (torch.fx). Each layer is one of

    {"op": "linear", "weight": NAME, "bias": NAME or null}           y = x W^T + b, W (out, in)
    {"op": "conv2d", ..., "stride": [sh, sw], "padding": [ph, pw]}   W (out, in, kh, kw), zero padding
    {"op": "conv_transpose2d", ...same}                              W (in, out, kh, kw), kernel = stride + 2 padding
    {"op": "relu"}, {"op": "elu"}, {"op": "sigmoid"}
    {"op": "reshape"}                                                a flatten or view, batch kept

with "shape", the layer's output shape for one image or code, channels first as in PyTorch. The decoder's
graph ends with the sigmoid of `Model.decode` (pixel probabilities); the encoder's output row is split into
"outputs": mu and logvar for a VAE (as `VAE.encode`), mu alone for an autoencoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from vae.checkpoint import atomic_write, load_model, weights_sha256, write_json
from vae.models import IMAGE_SHAPE, Model

FORMAT = 1  # bump when the graph's meaning changes: every browser model is then rebuilt
GRAPH = "model.json"
PARTS = ("encoder", "decoder")
KNOWN_LAYERS = (
    "Linear, Conv2d and ConvTranspose2d (zero padding, no groups or dilation; a transposed kernel of stride + 2 "
    "padding), ReLU, ELU, Sigmoid, flatten and view"
)


class WebExportError(RuntimeError):
    """A model holds a layer, or a wiring of layers, that the browser's model code cannot run."""


def web_graph(model: Model) -> dict:
    """The browser graph of `model` (no weights): kind, latent size and one chain of layers per part."""
    z = model.config.latent_dim
    outputs = ["mu", "logvar"] if model.is_variational else ["mu"]
    encoder = _chain(model.encoder, "encoder", IMAGE_SHAPE)
    decoder = [*_chain(model.decoder, "decoder", (z,)), {"op": "sigmoid", "shape": list(IMAGE_SHAPE)}]
    if encoder[-1]["shape"] != [len(outputs) * z] or decoder[-2]["shape"] != list(IMAGE_SHAPE):
        raise WebExportError(
            f"the encoder must end in {len(outputs) * z} numbers and the decoder in {list(IMAGE_SHAPE)}, "
            f"not {encoder[-1]['shape']} and {decoder[-2]['shape']}."
        )
    return {
        "format": FORMAT,
        "kind": model.config.kind,
        "latent_dim": z,
        "encoder": {"input": list(IMAGE_SHAPE), "layers": encoder, "outputs": outputs},
        "decoder": {"input": [z], "layers": decoder, "outputs": ["probabilities"]},
    }


def _chain(net: nn.Module, part: str, input_shape: tuple[int, ...]) -> list[dict]:
    """The layers of `net` in the order it runs them, each with its output shape (batch left out)."""
    try:
        traced = fx.symbolic_trace(net)
    except Exception as err:  # data-dependent control flow and the like
        raise WebExportError(f"the {part} cannot be traced into a chain of layers ({_first_line(err)}).") from None
    with torch.no_grad():
        ShapeProp(traced).propagate(torch.zeros(2, *input_shape))  # a batch of 2 shows a layer that mixes images
    layers, previous = [], None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            previous = node
        elif node.op == "output":
            if node.args[0] is not previous:
                raise WebExportError(f"the {part}'s output is not its last layer's.")
        else:
            if node.all_input_nodes != [previous] or list(node.users) != [node.next]:
                raise WebExportError(f"{_name(part, node)} is not one link of a chain of layers.")
            shape = list(node.meta["tensor_meta"].shape)
            if shape[0] != 2:
                raise WebExportError(f"{_name(part, node)} mixes the images of a batch.")
            layers.append({**_layer(traced, part, node), "shape": shape[1:]})
            previous = node
    return layers


def _layer(traced: fx.GraphModule, part: str, node: fx.Node) -> dict:
    if node.op == "call_method" and node.target in ("view", "reshape", "flatten"):
        return {"op": "reshape"}
    if node.op == "call_function" and node.target in (torch.flatten, torch.reshape):
        return {"op": "reshape"}
    if node.op != "call_module":
        raise WebExportError(f"the browser model cannot run {_name(part, node)}; it runs {KNOWN_LAYERS}.")
    module, name = traced.get_submodule(node.target), f"{part}.{node.target}"
    kind = type(module)
    if kind is nn.Linear:
        return {"op": "linear", **_params(module, name)}
    if kind in (nn.Conv2d, nn.ConvTranspose2d) and _plain_conv(module):
        op = "conv2d" if kind is nn.Conv2d else "conv_transpose2d"
        return {"op": op, **_params(module, name), "stride": list(module.stride), "padding": list(module.padding)}
    if kind is nn.ReLU:
        return {"op": "relu"}
    if kind is nn.ELU and module.alpha == 1.0:
        return {"op": "elu"}
    if kind is nn.Sigmoid:
        return {"op": "sigmoid"}
    if kind is nn.Flatten and module.start_dim == 1 and module.end_dim == -1:
        return {"op": "reshape"}
    raise WebExportError(f"the browser model cannot run {name} ({module}); it runs {KNOWN_LAYERS}.")


def _name(part: str, node: fx.Node) -> str:
    """How an error names a traced step: the module's path ("decoder.net.1"), else the function's name."""
    if node.op == "call_module":
        return f"{part}.{node.target}"
    return f"{part}'s {getattr(node.target, '__name__', node.target)}"


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _plain_conv(conv: nn.Conv2d | nn.ConvTranspose2d) -> bool:
    """Whether the browser runs this convolution: zero padding, no groups or dilation; when transposed, an exact
    upsampling by its stride (kernel = stride + 2 padding), which it runs as one small convolution per phase."""
    if isinstance(conv.padding, str) or conv.groups != 1 or conv.padding_mode != "zeros":
        return False
    if tuple(conv.dilation) != (1, 1):
        return False
    if isinstance(conv, nn.ConvTranspose2d):
        upsampling = all(k == s + 2 * p for k, s, p in zip(conv.kernel_size, conv.stride, conv.padding, strict=True))
        return upsampling and tuple(conv.output_padding) == (0, 0)
    return True


def _params(module: nn.Module, name: str) -> dict:
    return {"weight": f"{name}.weight", "bias": None if module.bias is None else f"{name}.bias"}


def export_web_model(folder: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write the checkpoint's browser files into the folder `target` (model.json last) and return it.

    Raises `vae.checkpoint.CheckpointError` for a checkpoint that does not load, `WebExportError` for a model the
    browser cannot run (then nothing is written). Reads `folder` only.
    """
    folder, target = Path(folder), Path(target)
    fingerprint = weights_sha256(folder)  # before loading: weights replaced meanwhile leave files rebuilt next time
    model, _ = load_model(folder)
    graph = {**web_graph(model), "weights_sha256": fingerprint}
    state = model.state_dict()
    for part in PARTS:
        data = safetensors_bytes(
            {k: v.to(torch.float16).contiguous() for k, v in state.items() if k.startswith(f"{part}.")}
        )
        atomic_write(target / f"{part}.safetensors", lambda tmp, data=data: Path(tmp).write_bytes(data))
        graph[part] |= {
            "weights": f"{part}.safetensors",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    write_json(target / GRAPH, graph)  # last: a graph that names these weights marks a complete folder
    return target


def web_model_dir(folder: str | os.PathLike, cache: str | os.PathLike) -> Path:
    """The checkpoint's browser files, in `cache/<first 16 hex digits of the weights' SHA-256>/`: exported there on
    first use, and again when a file is damaged. The folder is written whole and then renamed into place, so a
    reader never sees half of it, and another process that got there first wins."""
    folder, cache = Path(folder), Path(cache)
    fingerprint = weights_sha256(folder)
    target = cache / fingerprint[:16]
    if not _is_current(target, fingerprint):
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=cache))
        try:
            export_web_model(folder, staging)
            if target.exists():  # damaged or of an older format
                shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        except OSError:
            if not _is_current(target, fingerprint):
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def web_model_is_current(folder: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Whether `target` is a complete export, in this format, of the weights now in `folder`."""
    try:
        fingerprint = weights_sha256(folder)
    except OSError:
        return False
    return _is_current(Path(target), fingerprint)


def _is_current(target: Path, fingerprint: str) -> bool:
    try:
        graph = json.loads((target / GRAPH).read_text())
        if graph["format"] != FORMAT or graph["weights_sha256"] != fingerprint:
            return False
        return all(_sha256(target / graph[p]["weights"]) == graph[p]["sha256"] for p in PARTS)
    except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable or not our graph: export again
        return False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
