"""MNIST and Fashion-MNIST as in-memory tensors: torchvision's layout and downloads; the raw IDX files read directly
when they are on disk (importing torchvision is far slower than reading a split; see bench/README.md)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
# The raw files of each split, unpacked; torchvision downloads them gzipped (_RAW_FILES) and unpacks them.
_SPLIT_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}  # fmt: skip
_RAW_FILES = tuple(f"{f}.gz" for train in (True, False) for f in _SPLIT_FILES[train])


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

    def mean_image(self) -> torch.Tensor:
        """The mean image as float pixels in [0, 1], shape (28, 28)."""
        return (self.images.sum(0, dtype=torch.float64) / (255.0 * len(self))).float()


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The dataset root: `explicit`, else $VAE_DATA_DIR, else ./data (relative to the working directory)."""
    return Path(explicit or os.environ.get("VAE_DATA_DIR") or "data")


def missing_message(name: str, root: str | os.PathLike | None = None, error: BaseException | None = None) -> str:
    """The one sentence saying that `name` is not on disk and could not be downloaded (because of `error`)."""
    folder = _FOLDERS[name]
    files = ", ".join(_RAW_FILES[:-1]) + f" and {_RAW_FILES[-1]}"
    because = f" ({type(error).__name__})" if error else ""
    return (
        f"{name} is not in {data_dir(root) / folder / 'raw'} and could not be downloaded{because}: put {files} "
        f"there, or in {folder}/raw/ under the folder that --data-dir or VAE_DATA_DIR names (default ./data)."
    )


def on_disk(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether all four raw files of `name` are under the root, so loading it never downloads."""
    raw = data_dir(root) / _FOLDERS[name] / "raw"
    return all((raw / f).is_file() or (raw / f.removesuffix(".gz")).is_file() for f in _RAW_FILES)


def other_dataset(name: str) -> str:
    """The out-of-distribution partner of a dataset."""
    return DATASETS[1 - DATASETS.index(name)]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the format of the MNIST raw files) as an array of its shape."""
    data = path.read_bytes()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(shape):
        raise ValueError(f"{path} holds {body.size} bytes for a {shape} array: truncated or padded")
    return body.reshape(shape)


def load_split(name: str, train: bool, root: str | os.PathLike | None = None) -> Split:
    """Load a split of `name` ('mnist' or 'fashion-mnist'), downloading it if it is missing."""
    if name not in _FOLDERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    root = data_dir(root)
    images_file, labels_file = (root / _FOLDERS[name] / "raw" / f for f in _SPLIT_FILES[train])
    if images_file.is_file() and labels_file.is_file():
        try:
            images, labels = read_idx(images_file), read_idx(labels_file)
        except ValueError as err:
            raise DatasetMissingError(f"{err}; delete {images_file.parent} to download {name} again.") from None
        return Split(images=torch.from_numpy(images.copy()), labels=torch.from_numpy(labels.astype(np.int64)))
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(root=str(root), train=train, download=True)
    except Exception as err:  # torchvision raises URLError, RuntimeError, OSError...
        raise DatasetMissingError(missing_message(name, root, err)) from None
    return Split(images=ds.data.clone(), labels=ds.targets.clone().long())
