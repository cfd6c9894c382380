"""vae.export: the latent map's points as CSV, on the shipped atlases."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from vae import latent
from vae.checkpoint import load_atlas
from vae.data import CLASS_NAMES
from vae.export import manifold_png, points_csv, points_header


def read_rows(text: str) -> tuple[list[str], list[list[str]]]:
    header, *rows = csv.reader(io.StringIO(text))
    return header, rows


def test_a_vae_map_exports_every_test_image_with_its_mean_and_log_variance(checkpoints_dir):
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z2")
    header, rows = read_rows(points_csv(atlas, CLASS_NAMES["mnist"], atlas["mu"]))
    assert header == ["index", "label", "class", "x", "y", "mu_1", "mu_2", "logvar_1", "logvar_2"]
    assert len(rows) == len(atlas["mu"]) == 10_000
    values = np.array([row[3:] for row in rows], dtype=np.float32)
    assert np.array_equal(values[:, 2:4], atlas["mu"]) and np.array_equal(values[:, 4:], atlas["logvar"])
    assert np.array_equal(values[:, :2], atlas["mu"])  # for z = 2 the map is the code itself
    assert [int(row[0]) for row in rows] == list(range(10_000))
    assert [int(row[1]) for row in rows] == atlas["labels"].tolist()
    assert rows[0][2] == CLASS_NAMES["mnist"][atlas["labels"][0]]


def test_a_projected_map_exports_its_map_positions_and_the_full_code(checkpoints_dir):
    atlas = load_atlas(checkpoints_dir / "fashion-mnist-vae-z16")
    umap = latent.map_projection(atlas, "umap")
    header, rows = read_rows(points_csv(atlas, CLASS_NAMES["fashion-mnist"], umap.coords))
    assert header == points_header(16, variational=True) and len(header) == 5 + 32
    row = rows[1234]
    assert np.array_equal(np.array(row[3:5], dtype=np.float32), atlas["proj_umap"][1234])
    assert np.array_equal(np.array(row[5:21], dtype=np.float32), atlas["mu"][1234])
    assert np.array_equal(np.array(row[21:], dtype=np.float32), atlas["logvar"][1234])
    assert row[2] == CLASS_NAMES["fashion-mnist"][atlas["labels"][1234]]


def test_an_autoencoder_has_no_log_variance_columns(checkpoints_dir):
    atlas = load_atlas(checkpoints_dir / "mnist-ae-z2")
    header, rows = read_rows(points_csv(atlas, CLASS_NAMES["mnist"], atlas["mu"]))
    assert header == ["index", "label", "class", "x", "y", "mu_1", "mu_2"]
    assert {len(row) for row in rows} == {7}


def test_map_positions_of_the_wrong_shape_are_refused(checkpoints_dir):
    atlas = load_atlas(checkpoints_dir / "mnist-vae-z2")
    with pytest.raises(ValueError, match="one per test image"):
        points_csv(atlas, CLASS_NAMES["mnist"], atlas["mu"][:10])


def test_the_manifold_png_is_the_decoded_grid_top_row_at_the_largest_y(checkpoints_dir):
    from PIL import Image

    from vae.checkpoint import load_model

    model = load_model(checkpoints_dir / "mnist-vae-z2")[0]
    projection = latent.map_projection(load_atlas(checkpoints_dir / "mnist-vae-z2"))
    png = manifold_png(model, projection, n=5, span=2.0, spacing="linear", center=(0.0, 0.0))
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    assert pixels.shape == (2 * (5 * 28 + 4 * 2), 2 * (5 * 28 + 4 * 2))
    top_left = latent.decode(model, np.array([[-2.0, 2.0]]))[0]  # smallest x, largest y
    assert np.abs(pixels[:56:2, :56:2] / 255.0 - top_left).max() < 1 / 255 + 1e-6
