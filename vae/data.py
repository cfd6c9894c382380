"""MNIST and Fashion-MNIST as in-memory tensors, read through torchvision."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

DATASETS = ("mnist", "fashion-mnist")

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip

_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
_RAW_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class DatasetMissingError(RuntimeError):
    """The dataset is not on disk and could not be downloaded."""


@dataclass(frozen=True)
class Split:
    """One split as tensors: images uint8 (N, 28, 28), labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def as_float(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """Images at `index` as float pixels in [0, 1], shape (n, 1, 28, 28)."""
        return self.images[index].unsqueeze(1).float().div_(255.0)


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The dataset root: `explicit`, else $VAE_DATA_DIR, else ./data."""
    return Path(explicit or os.environ.get("VAE_DATA_DIR") or "data")


def on_disk(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether all four raw files of `name` are under the root, so loading it never downloads."""
    raw = data_dir(root) / _FOLDERS[name] / "raw"
    return all((raw / f).is_file() or (raw / f.removesuffix(".gz")).is_file() for f in _RAW_FILES)


def other_dataset(name: str) -> str:
    """The out-of-distribution partner of a dataset."""
    return DATASETS[1 - DATASETS.index(name)]


def load_split(name: str, train: bool, root: str | os.PathLike | None = None) -> Split:
    """Load a split of `name` ('mnist' or 'fashion-mnist'), downloading it if it is missing."""
    from torchvision import datasets

    if name not in _FOLDERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = data_dir(root)
    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(root=str(root), train=train, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError, OSError...
        folder = root / _FOLDERS[name] / "raw"
        raise DatasetMissingError(
            f"{name} is not in {folder} and could not be downloaded ({type(err).__name__}); "
            f"put {', '.join(_RAW_FILES)} there, or set VAE_DATA_DIR / --data-dir to a folder that holds "
            f"{_FOLDERS[name]}/raw/."
        ) from None
    return Split(images=ds.data.clone(), labels=ds.targets.clone().long())
