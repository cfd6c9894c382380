"""Checkpoint folders: `model.safetensors`, `card.json`, `atlas.npz` (and `train_state.safetensors`).

Nothing here unpickles: weights go through safetensors, arrays through numpy with allow_pickle=False.
Every failure to read raises `CheckpointError` with one sentence naming the file. An atlas records the
SHA-256 of the weights it was built from, and is refused beside any other weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vae.data import dataset_of
from vae.models import ConfigError, Model, ModelConfig, build_model

WEIGHTS = "model.safetensors"
CARD = "card.json"
ATLAS = "atlas.npz"
TRAIN_STATE = "train_state.safetensors"
RUN_FILES = (WEIGHTS, CARD, ATLAS, TRAIN_STATE)
FINGERPRINT = "weights_sha256"  # the atlas array holding the SHA-256 (hex) of the weights it was built from
_UMASK = os.umask(0o022)  # the process's umask: reading it means setting it, so set it back
os.umask(_UMASK)


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt or does not match its card."""


def checkpoint_name(dataset: str, kind: str, latent_dim: int) -> str:
    """Folder name of a model, e.g. 'mnist-vae-z2'."""
    return f"{dataset}-{kind}-z{latent_dim}"


def shipped_root() -> Path:
    """Where the shipped models live: $VAE_CHECKPOINTS or ./checkpoints."""
    return Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints"))


def runs_root() -> Path:
    """Where `vae.train` puts new runs: $VAE_RUNS or ./runs."""
    return Path(os.environ.get("VAE_RUNS", "runs"))


def holds_model(folder: str | os.PathLike) -> bool:
    """Whether a folder holds (part of) a trained model: weights, card, atlas or training state."""
    return any((Path(folder) / name).exists() for name in RUN_FILES)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename over `path`, so a kill never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; give it the mode open() would
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
        dataset_of(card)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is not a valid model card ({err}); restore it from git.") from None
    except ConfigError as err:  # an unknown kind, architecture or activation
        raise CheckpointError(f"{path} describes a model this version cannot build ({str(err).rstrip('.')}).") from None
    except ValueError as err:  # a dataset it does not say where to find
        raise CheckpointError(f"{path} is not a valid model card ({err}); restore it from git.") from None
    return card


def save_weights(model: Model, path: Path) -> None:
    """Inference weights in float16: half the size, well below the models' noise."""
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({err}); restore it from git.") from None


def weight_shapes(folder: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in a folder's model.safetensors, read from its JSON header alone (no weights)."""
    path = Path(folder) / WEIGHTS
    try:
        with safe_open(str(path), "pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({err}); restore it from git.") from None


def check_weights(folder: str | os.PathLike, card: dict) -> ModelConfig:
    """The card's ModelConfig once the weights' header (`weight_shapes`) matches the network it describes, which is
    built on PyTorch's meta device (shapes only, no memory), so a card with huge widths costs nothing; else
    CheckpointError."""
    folder = Path(folder)
    try:
        config = ModelConfig.from_dict(card["model"])
    except (ConfigError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{folder / CARD} describes a model this version cannot build ({str(err).rstrip('.')})."
        ) from None
    shapes = weight_shapes(folder)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    if shapes != expected:
        raise CheckpointError(
            f"{folder / WEIGHTS} does not match the architecture in {folder / CARD}; "
            "retrain the model or restore both files together."
        )
    return config


def load_model(folder: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[Model, dict]:
    """Rebuild the model of a checkpoint folder in eval mode on `device` (whatever it was trained on), with its card.

    The card is checked against the weights' header before the network is built (`check_weights`)."""
    folder = Path(folder)
    card = read_card(folder)
    model = build_model(check_weights(folder, card))
    model.load_state_dict({k: v.float() for k, v in _read_tensors(folder / WEIGHTS).items()})
    return model.to(device).eval(), card


_FINGERPRINTS: dict[Path, tuple[tuple, str]] = {}  # weights file -> (its stat as hashed, SHA-256)


def weights_sha256(folder: str | os.PathLike) -> str:
    """The fingerprint of a folder's weights: SHA-256 of the bytes of model.safetensors, in hex.

    Kept per file while its inode, size and modification time stay the same, so a page view hashes nothing."""
    path = Path(folder) / WEIGHTS
    try:
        st = path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        known = _FINGERPRINTS.get(path)
        if known is None or known[0] != key:
            known = _FINGERPRINTS[path] = (key, hashlib.sha256(path.read_bytes()).hexdigest())
        return known[1]
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; retrain the model or restore the folder.") from None


def save_atlas(folder: Path, arrays: dict[str, np.ndarray], fingerprint: str) -> None:
    """Write atlas.npz, recording `fingerprint` (`weights_sha256` of the weights the arrays were built from)."""
    arrays = {**arrays, FINGERPRINT: np.array(fingerprint)}  # a fixed-width unicode scalar, no pickle

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
            np.savez_compressed(f, **arrays)

    atomic_write(Path(folder) / ATLAS, write)


def _read_atlas(folder: str | os.PathLike, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Arrays `names` (default: all) of a folder's atlas, unchecked; CheckpointError when missing or unreadable."""
    path, rebuild = Path(folder) / ATLAS, f"rebuild it with `python -m vae.atlas {folder}`."
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files if names is None or k in names}
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; {rebuild}") from None
    except Exception as err:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError...
        raise CheckpointError(f"{path} is corrupt ({type(err).__name__}); {rebuild}") from None


def _check_fingerprint(folder: str | os.PathLike, recorded: np.ndarray | None, fingerprint: str | None) -> None:
    if recorded is None or recorded.shape != () or str(recorded) != (fingerprint or weights_sha256(folder)):
        raise CheckpointError(
            f"{Path(folder) / ATLAS} was not built from the weights beside it ({Path(folder) / WEIGHTS}); "
            f"rebuild it with `python -m vae.atlas {folder}`."
        )


def load_atlas(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """The atlas arrays of a checkpoint folder (never unpickles), once its fingerprint matches the folder's weights."""
    arrays = _read_atlas(folder)
    _check_fingerprint(folder, arrays.pop(FINGERPRINT, None), None)
    return arrays


def check_atlas(folder: str | os.PathLike, fingerprint: str | None = None) -> None:
    """Raise `load_atlas`'s CheckpointError when the folder's atlas is missing, unreadable or stale, reading only the
    fingerprint it records; `fingerprint` is the weights' `weights_sha256` when the caller has it already."""
    _check_fingerprint(folder, _read_atlas(folder, (FINGERPRINT,)).get(FINGERPRINT), fingerprint)


def save_train_state(
    folder: Path,
    model: Model,
    optimizer: torch.optim.Optimizer,
    epochs_done: int,
    progress: dict,
    average: Model | None = None,
) -> None:
    """Full-precision weights (and their moving average), optimizer moments and `progress`, for --resume; copied to
    the CPU, so a run continues on any device."""
    tensors = {f"model.{k}": v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    if average is not None:
        tensors |= {f"average.{k}": v.detach().to("cpu", copy=True) for k, v in average.state_dict().items()}
    for i, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"optim.{i}.{name}"] = torch.as_tensor(value).to("cpu", copy=True)
    tensors["epochs_done"] = torch.tensor(epochs_done)
    metadata = {"progress": json.dumps(progress)}
    atomic_write(Path(folder) / TRAIN_STATE, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def train_progress(folder: str | os.PathLike) -> dict:
    """The `progress` record that `save_train_state` stored with a run's training state (no tensors read)."""
    path = Path(folder) / TRAIN_STATE
    try:
        with safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {})["progress"])
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing; there is no run to resume there.") from None
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is corrupt or truncated ({err}); pass --overwrite to start over.") from None


def load_train_state(
    folder: Path, model: Model, optimizer: torch.optim.Optimizer, average: Model | None = None
) -> tuple[int, dict]:
    """Restore weights, average and optimizer from `save_train_state`; return (epochs done, progress)."""
    path = Path(folder) / TRAIN_STATE
    progress = train_progress(folder)
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
        return int(tensors["epochs_done"]), progress
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path} does not match this model ({err}); pass --overwrite to start over.") from None


def find_checkpoints(root: str | os.PathLike = "checkpoints") -> list[Path]:
    """Checkpoint folders (those with a card) under `root`, sorted by name."""
    return sorted(p.parent for p in Path(root).glob(f"*/{CARD}"))
