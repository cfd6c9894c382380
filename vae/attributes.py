"""Attributes measured from an image's pixels (after Morpho-MNIST, Castro et al. 2019) and the latent directions
they define (White 2016).

`measure` gives, per 28 x 28 image: `area` (ink pixels, > 127), `thickness` (stroke width in pixels: twice the
mean Euclidean distance to the background along the stroke's ridge, measured on the image upsampled 2x so that odd
widths come out exact), `slant` (radians, positive when the top leans right: atan(−μ11/μ02) of the intensity's
central moments), `width` and `height` (pixels, the bounding box of the ink). They depend only on the images, so
MNIST's and Fashion-MNIST's test splits ship once under `checkpoints/attributes/` (`python -m vae.attributes`
writes them); the user's data is measured on demand. That folder holds no model file, so the catalog skips it.

`attribute_vector` and `class_vector` give a direction in latent space; `along` decodes the line through the mean
code in that direction and `rank_correlation` says whether an attribute of the decoded images follows it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from vae.checkpoint import atomic_write, shipped_root
from vae.data import DATASETS, DatasetSpec

ATTRIBUTES = ("area", "thickness", "slant", "width", "height")
TITLES = {
    "area": "ink area (pixels)",
    "thickness": "stroke thickness (pixels)",
    "slant": "slant (radians)",
    "width": "width (pixels)",
    "height": "height (pixels)",
}
INK = 127  # a pixel is ink when its value (0–255) is above this
_UPSAMPLE = 2


class AttributeFileError(ValueError):
    """An attribute file is unreadable or describes another dataset."""


def attributes_root() -> Path:
    """Where the shipped attribute files live: checkpoints/attributes/."""
    return shipped_root() / "attributes"


def attributes_path(dataset: str) -> Path:
    return attributes_root() / f"{dataset}.npz"


def _thickness(ink: np.ndarray) -> np.ndarray:
    """Stroke width (N,) in pixels of boolean images (N, 28, 28): 2 x the mean distance transform at its ridge
    (pixels no neighbour exceeds), on the image upsampled 2x; 0 for an image without ink."""
    out = np.zeros(len(ink), np.float32)
    for i, image in enumerate(ink):
        if not image.any():
            continue
        big = np.pad(image.repeat(_UPSAMPLE, axis=0).repeat(_UPSAMPLE, axis=1), 1)  # a background border
        edt = ndimage.distance_transform_edt(big)
        ridge = big & (edt >= ndimage.maximum_filter(edt, size=3))
        # A stroke u pixels wide is 2u wide upsampled: its centre lies u from either side, so the width is 2u / 2.
        out[i] = 2 * edt[ridge].mean() / _UPSAMPLE
    return out


def _slant(images: np.ndarray) -> np.ndarray:
    """atan(−μ11/μ02) (N,) in radians of intensity-weighted central moments (x the column, y the row, downwards):
    the shear x ≈ x̄ + s·(y − ȳ) fitted to the ink, sign flipped so that a top leaning right is positive."""
    w = images.astype(np.float32) / 255.0
    rows = np.arange(images.shape[1], dtype=np.float64)
    cols = np.arange(images.shape[2], dtype=np.float64)
    by_row, by_col = w.sum(axis=2, dtype=np.float64), w.sum(axis=1, dtype=np.float64)  # (N, H), (N, W)
    mass = by_row.sum(axis=1)
    safe = np.maximum(mass, 1e-9)
    xbar, ybar = by_col @ cols / safe, by_row @ rows / safe
    mu11 = np.einsum("nij,i,j->n", w, rows.astype(np.float32), cols.astype(np.float32)) / safe - xbar * ybar
    mu02 = by_row @ rows**2 / safe - ybar**2
    slant = np.arctan(-mu11 / np.maximum(mu02, 1e-9))
    return np.where(mass > 0, slant, 0.0).astype(np.float32)


def _extent(ink: np.ndarray, axis: int) -> np.ndarray:
    """Ink extent (N,) in pixels along one image axis (1: rows → height, 2: columns → width); 0 without ink."""
    seen = ink.any(axis=3 - axis)  # (N, 28) over the other axis
    size = seen.shape[1]
    first = seen.argmax(axis=1)
    last = size - 1 - seen[:, ::-1].argmax(axis=1)
    return np.where(seen.any(axis=1), last - first + 1, 0).astype(np.float32)


def measure(images: np.ndarray) -> dict[str, np.ndarray]:
    """Each attribute of `ATTRIBUTES` as float32 (N,) for uint8 images (N, 28, 28) (0 = background)."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"measure takes uint8 images (N, H, W), not {images.dtype} {images.shape}")
    ink = images > INK
    return {
        "area": ink.sum(axis=(1, 2)).astype(np.float32),
        "thickness": _thickness(ink),
        "slant": _slant(images),
        "width": _extent(ink, 2),
        "height": _extent(ink, 1),
    }


def save_attributes(path: Path, dataset: str, values: dict[str, np.ndarray]) -> None:
    """Write the attributes as float16 arrays with the dataset's name and the image count (atomically)."""
    count = len(values[ATTRIBUTES[0]])
    arrays = {k: values[k].astype(np.float16) for k in ATTRIBUTES}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, dataset=np.array(dataset), count=np.array(count), **arrays)

    atomic_write(path, write)


def load_attributes(path: str | os.PathLike, dataset: str, count: int | None = None) -> dict[str, np.ndarray]:
    """The float32 attributes stored at `path` for `dataset` (never unpickles); AttributeFileError naming the file when
    it is unreadable, for another dataset, or (given `count`) for another number of images."""
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = str(f["dataset"])
            n = int(f["count"])
            values = {k: f[k].astype(np.float32) for k in ATTRIBUTES}
    except (OSError, KeyError, ValueError) as err:
        raise AttributeFileError(f"{path} is not a readable attribute file ({err}).") from err
    if stored != dataset or any(len(v) != n for v in values.values()) or (count is not None and n != count):
        raise AttributeFileError(f"{path} holds the attributes of {n} {stored} images, not of this test split.")
    return values


def dataset_attributes(spec: DatasetSpec, root: str | os.PathLike | None = None) -> dict[str, np.ndarray] | None:
    """The attributes of a dataset's test split, in its order: the shipped file for MNIST and Fashion-MNIST, else
    measured from the user's test images when they are on disk; None when neither is there."""
    if spec.source is None and spec.name in DATASETS:
        path = attributes_path(spec.name)
        if path.exists():
            return load_attributes(path, spec.name)
    if not spec.on_disk(root):
        return None
    return measure(spec.split(train=False, root=root).images.numpy())


def attribute_vector(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The mean code (z,) of the images in the top quartile of `values` (N,) minus that of the bottom quartile."""
    codes = np.asarray(codes, dtype=np.float32)
    low, high = np.quantile(values, [0.25, 0.75])
    top, bottom = values >= high, values <= low
    if not top.any() or not bottom.any() or low == high:
        return np.zeros(codes.shape[1], np.float32)
    return codes[top].mean(axis=0) - codes[bottom].mean(axis=0)


def class_vector(codes: np.ndarray, labels: np.ndarray, a: int, b: int) -> np.ndarray:
    """The mean code (z,) of class `b` minus that of class `a` (zeros where either class has no image)."""
    codes = np.asarray(codes, dtype=np.float32)
    if not (labels == a).any() or not (labels == b).any():
        return np.zeros(codes.shape[1], np.float32)
    return codes[labels == b].mean(axis=0) - codes[labels == a].mean(axis=0)


def line(codes: np.ndarray, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The line of a direction through the codes: (origin (z,) the mean code, unit (z,) the direction, σ the std
    of the codes projected on it); a zero vector gives a zero unit and σ = 0."""
    codes = np.asarray(codes, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    unit = (vector / norm if norm > 0 else np.zeros_like(vector)).astype(np.float32)
    origin = codes.mean(axis=0)
    return origin, unit, float(((codes - origin) @ unit).std())


def along(codes: np.ndarray, vector: np.ndarray, steps: int = 21, extent: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(t (steps,) from −extent to +extent, codes (steps, z)): origin + t·σ·unit on `line(codes, vector)`."""
    origin, unit, sigma = line(codes, vector)
    ts = np.linspace(-extent, extent, steps, dtype=np.float32)
    return ts, origin + ts[:, None] * sigma * unit


def rank_correlation(model, codes: np.ndarray, vector: np.ndarray, attribute: str = "thickness", steps: int = 21):
    """Spearman ρ between t and the attribute measured on the images decoded along the vector over ±2σ (decoded
    pixels > 0.5 are ink), with the measured values (steps,)."""
    from vae.latent import decode  # torch only when decoding

    ts, points = along(codes, vector, steps)
    images = (decode(model, points) > 0.5).astype(np.uint8) * 255
    values = measure(images)[attribute]
    return float(stats.spearmanr(ts, values).statistic), values


def write_shipped(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """Measure MNIST's and Fashion-MNIST's test splits and write checkpoints/attributes/{dataset}.npz."""
    written = {}
    for name in DATASETS:
        spec = DatasetSpec(name, ())
        path = attributes_path(name)
        save_attributes(path, name, measure(spec.split(train=False, root=root).images.numpy()))
        written[name] = path
    return written


if __name__ == "__main__":  # `python -m vae.attributes`: the command line is vae.cli.attributes
    import sys

    from vae.cli.attributes import main

    sys.exit(main())
