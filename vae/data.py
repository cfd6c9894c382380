"""The datasets as in-memory tensors. MNIST and Fashion-MNIST: torchvision's layout and downloads; the raw IDX files
read directly when they are on disk (importing torchvision is far slower than reading a split; see bench/README.md).
The user's own data: an .npz file or a folder in the MNIST IDX layout (`resolve_dataset`)."""

from __future__ import annotations

import gzip
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.lib.format as fmt
import torch

DATASETS = ("mnist", "fashion-mnist")

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
MAX_CLASSES = 256  # labels are stored as uint8 in the atlas
MAX_DATASET_BYTES = 1 << 30  # the user's data, unpacked: at most 1 GiB (1.3 million 28 x 28 images)

_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
# The raw files of each split, unpacked; torchvision downloads them gzipped (_RAW_FILES) and unpacks them.
_SPLIT_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_RAW_FILES = tuple(f"{f}.gz" for train in (True, False) for f in _SPLIT_FILES[train])


class DatasetMissingError(RuntimeError):
    """The dataset is not on disk and could not be downloaded."""


class DatasetFormatError(RuntimeError):
    """A dataset file or folder of the user's holds something other than 28 x 28 uint8 images (and their labels)."""


@dataclass(frozen=True)
class Split:
    """One split as tensors: images uint8 (N, 28, 28), labels int64 (N,) (all 0 for data without labels)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def as_float(
        self, index: torch.Tensor | slice = slice(None), device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Images at `index` as float pixels in [0, 1], shape (n, 1, 28, 28), on `device` (moved there as uint8)."""
        return self.images[index].to(device).unsqueeze(1).float().div_(255.0)

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


def read_idx(path: Path, limit: int = MAX_DATASET_BYTES) -> np.ndarray:
    """An IDX file of unsigned bytes (the format of the MNIST raw files; gzipped if it ends in .gz) as an array.

    ValueError when it is not one, or when its header asks for more than `limit` bytes (checked before the body is
    read: a gzipped file is unpacked no further than that)."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:3] != b"\x00\x00\x08":
            raise ValueError(f"{path} is not an IDX file of unsigned bytes")
        dims = f.read(4 * head[3])
        shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(len(dims) // 4))
        if math.prod(shape) > limit:
            raise ValueError(f"{path} declares a {shape} array, more than the {limit >> 20} MiB a dataset may hold")
        body = np.frombuffer(f.read(math.prod(shape) + 1), dtype=np.uint8)
    if len(shape) != head[3] or body.size != math.prod(shape):
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


# --- The user's own data ----------------------------------------------------------------------------------------

_NPZ_LAYOUT = (
    "an .npz dataset holds x_train and x_test (uint8, N×28×28, light on dark), optionally y_train, y_test and "
    "class_names"
)
_IDX_FILES = {f"{xy}_{split}": _SPLIT_FILES[split == "train"][xy == "y"] for split in ("train", "test") for xy in "xy"}
_IDX_LAYOUT = (
    f"an IDX dataset folder holds {_IDX_FILES['x_train']} and {_IDX_FILES['x_test']}, optionally "
    f"{_IDX_FILES['y_train']} and {_IDX_FILES['y_test']} (each may be gzipped)"
)


@dataclass(frozen=True)
class DatasetSpec:
    """What a model is trained on: MNIST, Fashion-MNIST, or the user's own .npz file or IDX folder.

    `name` is short, for run folders and the card ('mnist', or the file's stem, e.g. 'shapes'); `class_names` has
    one name per label (an unlabelled dataset has one class, named after the dataset, so its map has one colour);
    `source` is the file or folder (absolute), None for MNIST and Fashion-MNIST, which live under the data root.
    """

    name: str
    class_names: tuple[str, ...]
    labelled: bool = True
    source: Path | None = None

    @property
    def title(self) -> str:
        """How pages write it: 'MNIST', 'Fashion-MNIST', or the name of the user's dataset."""
        return DATASET_TITLES[self.name] if self.source is None else self.name

    def split(self, train: bool, root: str | os.PathLike | None = None) -> Split:
        """The train or test split; `root` is the data root of MNIST and Fashion-MNIST (the user's data has a path).

        Raises DatasetMissingError when the data is not there, DatasetFormatError when the user's file has changed
        into something unusable.
        """
        if self.source is None:
            return load_split(self.name, train, root)
        if not self.source.exists():
            raise DatasetMissingError(f"{self.source}, the data of {self.name}, is gone; put it back there.")
        _check_kind(self.source)
        keys = ("x_train", "y_train") if train else ("x_test", "y_test")
        arrays = _read_arrays(self.source, keys)
        images = _checked_images(self.source, keys[0], arrays)
        if not self.labelled:
            return Split(torch.from_numpy(images.copy()), torch.zeros(len(images), dtype=torch.int64))
        labels = _checked_labels(self.source, keys[1], arrays, len(images))
        if labels.max() >= len(self.class_names):
            raise DatasetFormatError(
                f"{_where(self.source, keys[1])} holds label {labels.max()}, but {self.name} has "
                f"{len(self.class_names)} classes."
            )
        return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))

    def on_disk(self, root: str | os.PathLike | None = None) -> bool:
        """Whether the data is there to read without downloading."""
        return on_disk(self.name, root) if self.source is None else self.source.exists()

    def card_entry(self) -> dict:
        """What a model card records about its data (`dataset_of` reads it back)."""
        source = None if self.source is None else str(self.source)
        return {"source": source, "class_names": list(self.class_names), "labelled": self.labelled}


def resolve_dataset(name_or_path: str | os.PathLike) -> DatasetSpec:
    """The dataset that `name_or_path` names: 'mnist', 'fashion-mnist', an .npz file or a folder in the IDX layout.

    A file or folder is read and checked in full, both splits: DatasetMissingError when nothing is there,
    DatasetFormatError (one sentence) when it holds something unusable. MNIST and Fashion-MNIST are not read here.
    """
    text = str(name_or_path)
    if text in DATASETS:
        return DatasetSpec(text, CLASS_NAMES[text])
    path = Path(text).expanduser()
    if not text or not path.exists():
        raise DatasetMissingError(
            f"there is no dataset {text!r}: name mnist or fashion-mnist, or give the path of an .npz file or of a "
            "folder in the MNIST IDX layout."
        )
    path = path.resolve()
    _check_kind(path)
    arrays = _read_arrays(path, ("x_train", "y_train", "x_test", "y_test", "class_names"))
    n = {key: len(_checked_images(path, key, arrays)) for key in ("x_train", "x_test")}
    given = [key for key in ("y_train", "y_test") if key in arrays]
    name = dataset_name(path)
    if not given:
        if "class_names" in arrays:
            raise DatasetFormatError(
                f"{path} has class_names but no labels; add y_train and y_test, or leave out class_names."
            )
        return DatasetSpec(name, (name,), labelled=False, source=path)
    if len(given) == 1:
        missing = "y_test" if given == ["y_train"] else "y_train"
        raise DatasetFormatError(
            f"{path} has {_item(path, given[0])} but no {_item(path, missing)}; label both splits or neither."
        )
    top = max(int(_checked_labels(path, key, arrays, n["x" + key[1:]]).max()) for key in given)
    return DatasetSpec(name, _class_names(path, arrays, top), labelled=True, source=path)


def dataset_of(card: dict) -> DatasetSpec:
    """The dataset a model card records: its `data` entry (the user's own data), else MNIST or Fashion-MNIST by its
    `dataset` name (the shipped cards). No file is read; KeyError, TypeError or ValueError for a card without one."""
    data = card.get("data") or {}
    if data.get("source") is None:
        name = card["dataset"]
        if name not in DATASETS:
            raise ValueError(f"the card names dataset {name!r} but does not say where its data is")
        return DatasetSpec(name, CLASS_NAMES[name])
    names = tuple(str(n) for n in data["class_names"])
    if not names:
        raise ValueError("the card's data entry names no class")
    return DatasetSpec(str(card["dataset"]), names, bool(data["labelled"]), Path(data["source"]))


def ood_partner(spec: DatasetSpec, root: str | os.PathLike | None = None) -> str | None:
    """The dataset whose test split the atlas scores as unlike the training data: the other one for MNIST and
    Fashion-MNIST (required); for the user's data MNIST, else Fashion-MNIST, where on disk, else None."""
    if spec.source is None:
        return other_dataset(spec.name)
    return next((name for name in DATASETS if on_disk(name, root)), None)


def dataset_name(name_or_path: str | os.PathLike) -> str:
    """The short name of a dataset: 'mnist', 'fashion-mnist', or a file's stem or a folder's name (its parent's for a
    folder named 'raw') as a folder-name-safe word, never one of the first two."""
    if str(name_or_path) in DATASETS:
        return str(name_or_path)
    path = Path(name_or_path).expanduser().resolve()
    stem = path.stem if path.is_file() else (path.parent.name if path.name == "raw" else path.name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "data"
    return f"{name}-own" if name.lower() in DATASETS else name


def _item(source: Path, key: str) -> str:
    """One array's name in its source: the key of an .npz file, the file name in an IDX folder."""
    return _IDX_FILES[key] if source.is_dir() else key


def _where(source: Path, key: str) -> str:
    """How a sentence names one array: 'x_train in /data/shapes.npz', or the IDX file."""
    return str(_idx_file(source, key) or source / _IDX_FILES[key]) if source.is_dir() else f"{key} in {source}"


def _idx_file(folder: Path, key: str) -> Path | None:
    for name in (_IDX_FILES[key], _IDX_FILES[key] + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _check_kind(path: Path) -> None:
    """DatasetFormatError, without opening it, unless `path` is a regular file or a folder."""
    if not (path.is_file() or path.is_dir()):
        raise DatasetFormatError(f"{path} is neither a regular file nor a folder; {_NPZ_LAYOUT}.")


def _check_npz_sizes(source: Path, archive: zipfile.ZipFile, keys: tuple[str, ...]) -> None:
    """DatasetFormatError when the arrays `keys` of an .npz archive would unpack to more than MAX_DATASET_BYTES, read
    from the archive's directory and each array's .npy header alone."""
    total = 0
    for key in keys:
        try:
            info = archive.getinfo(f"{key}.npy")
        except KeyError:
            continue
        with archive.open(info) as member:
            read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(
                fmt.read_magic(member)
            )
            if read_header is None:
                raise DatasetFormatError(f"{source} holds {key} in an .npy version this reader does not know.")
            shape, _, dtype = read_header(member)
        total += max(info.file_size, math.prod(shape) * dtype.itemsize)
    if total > MAX_DATASET_BYTES:
        raise DatasetFormatError(
            f"{source} would unpack to {total >> 20} MiB, more than the {MAX_DATASET_BYTES >> 20} MiB a dataset may "
            "hold."
        )


def _read_arrays(source: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Those of `keys` that an .npz file or IDX folder holds (never unpickling), or DatasetFormatError (one sentence,
    also for any OSError)."""
    try:
        return _read_arrays_unchecked(source, keys)
    except OSError as err:
        raise DatasetFormatError(f"{source} could not be read ({err.strerror or type(err).__name__}).") from None


def _read_arrays_unchecked(source: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if source.is_dir():
        out = {}
        for key in keys:
            path = _idx_file(source, key) if key in _IDX_FILES else None
            if path is None:
                continue
            try:
                out[key] = read_idx(path)
            except ValueError as err:
                raise DatasetFormatError(f"{err}; {_IDX_LAYOUT}.") from None
            except (OSError, EOFError) as err:  # gzip.BadGzipFile, a truncated archive
                raise DatasetFormatError(f"{path} is not a readable gzip file ({type(err).__name__}).") from None
        return out
    with open(source, "rb") as f:
        magic = f.read(6)
    if magic[:2] != b"PK":
        what = (
            "pickled Python objects, which are never loaded"
            if magic[:1] == b"\x80"
            else "one array (.npy), not an .npz archive"
            if magic == b"\x93NUMPY"
            else "neither an .npz archive nor an IDX folder"
        )
        raise DatasetFormatError(f"{source} holds {what}; {_NPZ_LAYOUT}.")
    try:
        with zipfile.ZipFile(source) as archive:
            _check_npz_sizes(source, archive, keys)
        with np.load(source, allow_pickle=False) as npz:
            return {key: npz[key] for key in keys if key in npz.files}
    except ValueError as err:
        if "pickle" in str(err):  # an object array: numpy would have to unpickle it
            raise DatasetFormatError(
                f"{source} holds Python objects (an object array), which are never loaded; save numbers and strings "
                "only: uint8 images, integer labels and class_names as a string array."
            ) from None
        raise DatasetFormatError(f"{source} is not a readable .npz archive ({err}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetFormatError(f"{source} is not a readable .npz archive ({type(err).__name__}).") from None


def _checked_images(source: Path, key: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    if key not in arrays:
        layout = _IDX_LAYOUT if source.is_dir() else _NPZ_LAYOUT
        raise DatasetFormatError(f"{source} has no {_item(source, key)}; {layout}.")
    x, where = arrays[key], _where(source, key)
    if x.dtype.kind in "fc" and np.isnan(x).any():
        raise DatasetFormatError(f"{where} holds NaN values; images must be uint8 pixels 0-255, light on dark.")
    if x.dtype != np.uint8:
        raise DatasetFormatError(f"{where} is {x.dtype}, but images must be uint8 pixels 0-255, light on dark.")
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DatasetFormatError(f"{where} has shape {x.shape}, but images must be N×28×28.")
    if len(x) == 0:
        raise DatasetFormatError(f"{where} holds no images; each split needs at least one.")
    return x


def _checked_labels(source: Path, key: str, arrays: dict[str, np.ndarray], n: int) -> np.ndarray:
    y, where = arrays[key], _where(source, key)
    if y.dtype.kind not in "iu":
        raise DatasetFormatError(f"{where} is {y.dtype}, but labels must be whole numbers (an integer array).")
    if y.shape != (n,):
        raise DatasetFormatError(f"{where} has shape {y.shape}, but there is one label per image: ({n},).")
    if y.min() < 0 or y.max() >= MAX_CLASSES:
        raise DatasetFormatError(
            f"{where} holds labels from {y.min()} to {y.max()}, but labels run from 0 to {MAX_CLASSES - 1}."
        )
    return y


def _class_names(source: Path, arrays: dict[str, np.ndarray], top: int) -> tuple[str, ...]:
    """The names of classes 0..top: the .npz file's class_names, else '0', '1', ..."""
    if "class_names" not in arrays:
        return tuple(str(c) for c in range(top + 1))
    names = arrays["class_names"]
    if names.dtype.kind not in "US" or names.ndim != 1:
        raise DatasetFormatError(
            f"class_names in {source} is {names.dtype} of shape {names.shape}, but it must be a 1-D array of strings."
        )
    if len(names) <= top:
        raise DatasetFormatError(
            f"class_names in {source} names {len(names)} classes, but the labels go up to {top} ({top + 1} classes)."
        )
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names.tolist())
