"""What the latent map page offers for download: its points as CSV (one row per test image with its label, its
place on the map and its posterior) and the manifold grid as one PNG."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np

from vae import latent, rendering
from vae.models import Model


def points_header(latent_dim: int, variational: bool) -> list[str]:
    """Column names of `points_csv`: index, label, class, x, y, mu_1 … mu_z, then logvar_1 … logvar_z for a VAE."""
    columns = ["index", "label", "class", "x", "y"] + [f"mu_{i + 1}" for i in range(latent_dim)]
    return columns + ([f"logvar_{i + 1}" for i in range(latent_dim)] if variational else [])


def points_csv(atlas: Mapping[str, np.ndarray], class_names: Sequence[str], coords: np.ndarray) -> str:
    """The map's N test images as CSV text: a header (`points_header`), then one row per image in test-split order.

    Columns: the test index, the label and its class name, the map position x, y (coords (N, 2): the drawn
    projection, the code itself for z = 2), the encoder's mean mu (N, z) and, for a VAE, its log-variance
    logvar (N, z), both in latent units. An autoencoder's atlas has no log-variance (its code is a point, not a
    distribution), so its rows end after the mu columns. Numbers are written in their shortest form that reads
    back to the same float32.
    """
    mu = np.asarray(atlas["mu"], dtype=np.float32)
    labels = np.asarray(atlas["labels"])
    coords = np.asarray(coords, dtype=np.float32)
    if coords.shape != (len(mu), 2):
        raise ValueError(f"the map positions must be ({len(mu)}, 2), one per test image; got {coords.shape}")
    logvar = atlas.get("logvar")
    numbers = [coords, mu] + ([np.asarray(logvar, dtype=np.float32)] if logvar is not None else [])
    text = np.concatenate(numbers, axis=1).astype(str)  # numpy writes float32 in its shortest round-trip form
    names = np.asarray(class_names)[labels]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(points_header(mu.shape[1], logvar is not None))
    writer.writerows(
        [i, int(label), name, *row] for i, (label, name, row) in enumerate(zip(labels, names, text, strict=True))
    )
    return out.getvalue()


def manifold_png(
    model: Model, projection: latent.MapProjection, n: int, span: float, spacing: str, center: tuple[float, float]
) -> bytes:
    """The manifold grid of `latent.manifold_grid(n, span, spacing, center)` decoded into one PNG: n x n tiles of
    28 x 28 pixels, 2 pixels apart, the top row at the largest map y, all enlarged twice."""
    points = latent.manifold_grid(n, span, spacing, center)
    return rendering.png_bytes(rendering.mosaic(latent.decode_grid(model, points, projection)), scale=2)
