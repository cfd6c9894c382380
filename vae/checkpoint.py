"""Checkpoint folders: `model.safetensors`, `card.json`, `atlas.npz` (and `train_state.safetensors`).

Nothing here unpickles: weights go through safetensors, arrays through numpy with allow_pickle=False.
Every failure to read raises `CheckpointError` with one sentence naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vae.models import VAE, ModelConfig, build_model

WEIGHTS = "model.safetensors"
CARD = "card.json"
ATLAS = "atlas.npz"
TRAIN_STATE = "train_state.safetensors"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt or does not match its card."""


def checkpoint_name(dataset: str, kind: str, latent_dim: int) -> str:
    """Folder name of a model, e.g. 'mnist-vae-z2'."""
    return f"{dataset}-{kind}-z{latent_dim}"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename over `path`, so a kill never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, data: dict) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(data, indent=2) + "\n")

    atomic_write(path, write)


def read_card(folder: Path) -> dict:
    path = Path(folder) / CARD
    try:
        card = json.loads(path.read_text())
        ModelConfig.from_dict(card["model"])
        card["dataset"]
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is not a valid model card ({err}); restore it from git.") from None
    return card


def save_weights(model: VAE, path: Path) -> None:
    """Inference weights in float16: half the size, well below the models' noise."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({err}); restore it from git.") from None


def load_model(folder: str | os.PathLike) -> tuple[VAE, dict]:
    """Rebuild the model of a checkpoint folder in eval mode, with its card."""
    folder = Path(folder)
    card = read_card(folder)
    try:
        model = build_model(ModelConfig.from_dict(card["model"]))
    except ValueError as err:  # an unknown kind, architecture or activation
        raise CheckpointError(f"{folder / CARD} describes a model this version cannot build ({err}).") from None
    weights = _read_tensors(folder / WEIGHTS)
    expected = model.state_dict()
    if set(weights) != set(expected) or any(weights[k].shape != v.shape for k, v in expected.items()):
        raise CheckpointError(
            f"{folder / WEIGHTS} does not match the architecture in {folder / CARD}; "
            "retrain the model or restore both files together."
        )
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    return model.eval(), card


def save_atlas(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
            np.savez_compressed(f, **arrays)

    atomic_write(Path(folder) / ATLAS, write)


def load_atlas(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """The atlas arrays of a checkpoint folder (never unpickles)."""
    path = Path(folder) / ATLAS
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; rebuild it with `python -m vae.atlas {folder}`.") from None
    except Exception as err:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError...
        raise CheckpointError(
            f"{path} is corrupt ({type(err).__name__}); rebuild it with `python -m vae.atlas {folder}`."
        ) from None


def save_train_state(
    folder: Path, model: VAE, optimizer: torch.optim.Optimizer, epochs_done: int, progress: dict,
    average: VAE | None = None,
) -> None:  # fmt: skip
    """Full-precision weights (and their moving average), optimizer moments and `progress`, for --resume."""
    tensors = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    if average is not None:
        tensors |= {f"average.{k}": v.detach().clone() for k, v in average.state_dict().items()}
    for i, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim.{i}.{name}"] = torch.as_tensor(value).clone()
    tensors["epochs_done"] = torch.tensor(epochs_done)
    metadata = {"progress": json.dumps(progress)}
    atomic_write(Path(folder) / TRAIN_STATE, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_train_state(
    folder: Path, model: VAE, optimizer: torch.optim.Optimizer, average: VAE | None = None
) -> tuple[int, dict]:
    """Restore weights, average and optimizer from `save_train_state`; return (epochs done, progress)."""
    path = Path(folder) / TRAIN_STATE
    tensors = _read_tensors(path)
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if average is not None:
            average.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("average.")})
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, i, name = key.split(".", 2)
                state.setdefault(int(i), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
        with safe_open(str(path), "pt") as f:
            progress = json.loads((f.metadata() or {})["progress"])
        return int(tensors["epochs_done"]), progress
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path} does not match this model ({err}); start without --resume.") from None


def find_checkpoints(root: str | os.PathLike = "checkpoints") -> list[Path]:
    """Checkpoint folders (those with a card) under `root`, sorted by name."""
    return sorted(p.parent for p in Path(root).glob(f"*/{CARD}"))
