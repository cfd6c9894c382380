"""vae.latent: grids, decoding, interpolation, traversals, projections and the VAE-vs-AE gap metrics."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
import torch

from vae import latent
from vae.checkpoint import find_checkpoints, load_atlas, load_model
from vae.models import ModelConfig, build_model


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(kind="vae", latent_dim=3, hidden=(16,))).eval()


def _real(checkpoints_dir, latent_dim: int, kind: str = "vae"):
    """The first shipped checkpoint with this kind and latent size (model, atlas)."""
    folders = [p for p in find_checkpoints(checkpoints_dir) if p.name.endswith(f"-{kind}-z{latent_dim}")]
    assert folders, f"no *-{kind}-z{latent_dim} checkpoint under {checkpoints_dir}"
    return load_model(folders[0])[0], load_atlas(folders[0])


# --- grids ------------------------------------------------------------------------------------------------------


def test_linear_axis_is_evenly_spaced_between_its_ends():
    axis = latent.grid_axis(7, -2.0, 4.0)
    assert axis[0] == -2.0 and axis[-1] == 4.0
    assert np.allclose(np.diff(axis), 1.0)


def test_gaussian_axis_is_even_in_probability_and_crowds_at_the_centre():
    axis = latent.grid_axis(9, -2.5, 2.5, "gaussian")
    assert axis[0] == pytest.approx(-2.5) and axis[-1] == pytest.approx(2.5)
    probabilities = [NormalDist().cdf(v) for v in axis]
    assert np.allclose(np.diff(probabilities), np.diff(probabilities)[0])
    steps = np.diff(axis)
    assert steps[len(steps) // 2] < steps[0] and np.allclose(axis, -axis[::-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, -1, 1), "at least one"), ((3, 1, 1), "above"), ((3, -1, 1, "cubic"), "unknown grid spacing")],
)
def test_grid_axis_rejects_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        latent.grid_axis(*args)


def test_grid_points_read_like_an_image():
    points = latent.grid_points(np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0]))
    assert points.shape == (2, 3, 2)
    assert points[0, 0].tolist() == [0.0, 20.0]  # top-left: smallest x, largest y
    assert points[-1, -1].tolist() == [2.0, 10.0]


def test_manifold_grid_covers_centre_plus_minus_span():
    points = latent.manifold_grid(5, 2.0, center=(1.0, -1.0))
    assert points.shape == (5, 5, 2)
    assert points[..., 0].min() == pytest.approx(-1.0) and points[..., 0].max() == pytest.approx(3.0)
    assert points[..., 1].min() == pytest.approx(-3.0) and points[..., 1].max() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="span"):
        latent.manifold_grid(5, 0.0)


def test_tile_sizes_fit_between_neighbours():
    points = latent.manifold_grid(6, 3.0, "gaussian")
    sizes = latent.tile_sizes(points)
    gaps_x = np.abs(np.diff(points[0, :, 0]))
    assert sizes.shape == points.shape and (sizes > 0).all()
    assert (sizes[0, 1:, 0] <= gaps_x + 1e-9).all() and (sizes[0, :-1, 0] <= gaps_x + 1e-9).all()


# --- decoding ---------------------------------------------------------------------------------------------------


def test_decode_keeps_leading_shape_and_returns_probabilities(tiny_model):
    codes = np.random.default_rng(0).standard_normal((2, 4, 3))
    images = latent.decode(tiny_model, codes)
    assert images.shape == (2, 4, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.allclose(images[1, 2], latent.decode(tiny_model, codes[1, 2][None])[0], atol=1e-6)


def test_decode_grid_lifts_map_points_through_the_projection(tiny_model):
    codes = np.random.default_rng(1).standard_normal((200, 3)).astype(np.float32)
    mean, components = codes.mean(0), np.linalg.svd(codes - codes.mean(0))[2][:2]
    projection = latent.MapProjection("pca", codes, (codes - mean) @ components.T, mean, components)
    points = latent.manifold_grid(3, 1.0)
    images = latent.decode_grid(tiny_model, points, projection)
    expected = latent.decode(tiny_model, projection.to_latent(points.reshape(-1, 2))).reshape(3, 3, 28, 28)
    assert np.allclose(images, expected, atol=1e-6)


def test_prior_samples_are_seeded_standard_normal():
    a, b = latent.prior_samples(4000, 3, seed=7), latent.prior_samples(4000, 3, seed=7)
    assert a.shape == (4000, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, latent.prior_samples(4000, 3, seed=8))
    assert np.abs(a.mean(0)).max() < 0.1 and np.abs(a.std(0) - 1).max() < 0.1


# --- interpolation and traversals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", latent.METHODS)
def test_interpolation_endpoints_are_the_codes(method):
    rng = np.random.default_rng(2)
    z0, z1 = rng.standard_normal(16), rng.standard_normal(16) * 3
    path = latent.interpolate(z0, z1, 9, method)
    assert path.shape == (9, 16)
    assert np.allclose(path[0], z0, atol=1e-5) and np.allclose(path[-1], z1, atol=1e-5)


def test_linear_interpolation_walks_the_straight_line():
    path = latent.interpolate(np.array([0.0, 2.0]), np.array([4.0, -2.0]), 5)
    assert np.allclose(path, [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]])


def test_slerp_keeps_the_norm_of_equal_norm_codes():
    rng = np.random.default_rng(3)
    z0, z1 = rng.standard_normal(16), rng.standard_normal(16)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    norms = np.linalg.norm(latent.interpolate(z0, z1, 11, "spherical"), axis=1)
    assert np.allclose(norms, np.linalg.norm(z0), rtol=1e-5)
    linear = np.linalg.norm(latent.interpolate(z0, z1, 11, "linear"), axis=1)
    assert linear[5] < norms[5] - 1e-3  # the straight line cuts through the centre


def test_slerp_changes_the_norm_linearly_and_the_angle_evenly():
    z0, z1 = np.array([2.0, 0.0]), np.array([0.0, 4.0])
    path = latent.interpolate(z0, z1, 5, "spherical").astype(np.float64)
    assert np.allclose(np.linalg.norm(path, axis=1), np.linspace(2, 4, 5))
    assert np.allclose(np.diff(np.arctan2(path[:, 1], path[:, 0])), np.pi / 8)


@pytest.mark.parametrize(
    ("z0", "z1"),
    [([1.0, 2.0, 2.0], [-1.0, -2.0, -2.0]), ([1.0, 0.0, 0.0], [3.0, 0.0, 0.0]), ([0.0, 0.0, 0.0], [1.0, 1.0, 0.0])],
)
def test_slerp_handles_opposite_parallel_and_zero_codes(z0, z1):
    path = latent.interpolate(np.array(z0), np.array(z1), 7, "spherical")
    assert np.isfinite(path).all()
    assert np.allclose(path[0], z0, atol=1e-5) and np.allclose(path[-1], z1, atol=1e-5)


def test_interpolate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 2"):
        latent.interpolate(np.zeros(2), np.ones(2), 1)
    with pytest.raises(ValueError, match="different sizes"):
        latent.interpolate(np.zeros(2), np.ones(3), 4)
    with pytest.raises(ValueError, match="unknown interpolation"):
        latent.interpolate(np.zeros(2), np.ones(2), 4, "cubic")


def test_traversals_move_one_dimension_per_row_from_minus_to_plus_three_sigma():
    center, scale = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, 2.0])
    codes = latent.traversal_codes(center, scale, steps=7)
    assert codes.shape == (3, 7, 3)
    for d in range(3):
        assert np.allclose(codes[d, :, d], center[d] + np.linspace(-3, 3, 7) * scale[d])
        others = np.delete(codes[d], d, axis=1)
        assert np.allclose(others, np.delete(center, d))


def test_code_ranges_cover_the_codes_and_for_a_vae_the_prior():
    codes = np.random.default_rng(4).normal(5.0, 0.5, (1000, 2))
    ranges = latent.code_ranges(codes)
    assert (ranges[:, 0] <= codes.min(0) + 0.1).all() and (ranges[:, 1] >= codes.max(0) - 0.1).all()
    assert ranges[0, 0] > 0  # far from the prior unless asked
    with_prior = latent.code_ranges(codes, prior=True)
    assert (with_prior[:, 0] <= -3).all() and (with_prior[:, 1] >= ranges[:, 1]).all()


# --- projections --------------------------------------------------------------------------------------------------


def test_latent_projection_is_the_identity():
    codes = np.random.default_rng(5).standard_normal((50, 2)).astype(np.float32)
    projection = latent.map_projection({"mu": codes})
    assert projection.kind == "latent"
    assert np.array_equal(projection.to_map(codes), codes) and np.array_equal(projection.to_latent(codes), codes)


def test_umap_projection_places_points_by_their_nearest_test_codes():
    rng = np.random.default_rng(6)
    centres = np.array([[5.0] * 4, [-5.0] * 4])
    codes = np.concatenate([c + 0.1 * rng.standard_normal((30, 4)) for c in centres]).astype(np.float32)
    coords = np.repeat(np.array([[10.0, 0.0], [-10.0, 0.0]], dtype=np.float32), 30, axis=0)
    atlas = {"mu": codes, "proj_umap": coords}
    projection = latent.map_projection(atlas, "umap")
    assert latent.available_projections(atlas) == ["umap"]
    assert np.allclose(projection.to_map(centres), [[10, 0], [-10, 0]])
    assert np.allclose(projection.to_latent(np.array([[9.0, 1.0]])), centres[0], atol=0.2)
    with pytest.raises(ValueError, match="no 'pca' projection"):
        latent.map_projection(atlas, "pca")


def test_pca_projection_matches_the_atlas_and_inverts_on_its_plane(checkpoints_dir):
    _, atlas = _real(checkpoints_dir, 16)
    assert latent.available_projections(atlas) == ["pca", "umap"]
    projection = latent.map_projection(atlas, "pca")
    assert np.allclose(projection.to_map(atlas["mu"][:100]), atlas["proj_pca"][:100], atol=1e-4)
    points = atlas["proj_pca"][:100]
    assert np.allclose(projection.to_map(projection.to_latent(points)), points, atol=1e-4)


# --- gap metrics --------------------------------------------------------------------------------------------------


def test_empty_cell_fraction_is_zero_when_filled_and_high_for_islands():
    gx, gy = np.meshgrid(np.linspace(0, 1, 100), np.linspace(0, 1, 100))
    filled = np.stack([gx.ravel(), gy.ravel()], 1)
    assert latent.empty_cell_fraction(filled, bins=10) == 0.0
    rng = np.random.default_rng(7)
    islands = np.concatenate([rng.normal(0, 0.01, (500, 2)), rng.normal(10, 0.01, (500, 2))])
    assert latent.empty_cell_fraction(islands, bins=10) > 0.9


def test_jump_ratio_is_one_for_an_even_ramp_and_large_for_a_cliff():
    steps = np.add.outer(np.arange(8), np.arange(8)) / 14  # every neighbour differs by the same 1/14
    ramp = steps[:, :, None, None] * np.ones((8, 8, 28, 28))
    assert latent.jump_ratio(ramp) == pytest.approx(1.0, abs=0.05)
    cliff = ramp * 0.05
    cliff[:, 4:] += 0.9
    assert latent.jump_ratio(cliff) > 5
    assert latent.neighbour_changes(ramp).shape == (8 * 7 * 2,)


def test_latent_extent_scales_with_the_codes_and_matches_the_prior():
    codes = latent.prior_samples(20000, 2, seed=1)
    assert latent.latent_extent(3 * codes) == pytest.approx(3 * latent.latent_extent(codes))
    chi2_99_2dof = -2 * np.log(0.01)  # the 2-D chi-square quantile has a closed form
    assert latent.prior_extent(2) == pytest.approx(np.sqrt(chi2_99_2dof), rel=0.02)


@pytest.mark.parametrize("latent_dim", [2, 16])
def test_gap_metrics_of_shipped_models_are_in_range_and_the_vae_stays_nearer_the_prior(checkpoints_dir, latent_dim):
    results = {}
    for kind in ("vae", "ae"):
        model, atlas = _real(checkpoints_dir, latent_dim, kind)
        projection = latent.map_projection(atlas)
        results[kind] = latent.gap_metrics(model, projection, projection.coords)
        assert 0.0 <= results[kind].empty_cells <= 1.0
        assert results[kind].jump_ratio >= 1.0 and results[kind].extent > 0
    assert results["vae"].extent < results["ae"].extent


def test_real_vae_decodes_interpolation_endpoints_to_its_reconstructions(checkpoints_dir):
    model, atlas = _real(checkpoints_dir, 2)
    z0, z1 = atlas["mu"][0], atlas["mu"][1]
    strip = latent.decode(model, latent.interpolate(z0, z1, 6, "spherical"))
    ends = latent.decode(model, np.stack([z0, z1]))
    assert strip.shape == (6, 28, 28)
    assert np.allclose(strip[[0, -1]], ends, atol=1e-4)
