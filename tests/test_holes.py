"""The prior's holes: q(z) of the shipped models against N(0, I), and the statistics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from vae.checkpoint import load_atlas
from vae.holes import density_grid, mmd2, mmd_bandwidths, prior_gap

PAIRS = [(d, z) for d in ("mnist", "fashion-mnist") for z in (2, 16)]


def _gaussian_codes(n: int, z: int, shift: float = 0.0, sigma: float = 0.5, seed: int = 0) -> dict[str, np.ndarray]:
    """Atlas arrays of posteriors N(mu_n, sigma²) with mu_n ~ N(shift, 1 - sigma²): q(z) = N(shift, I) exactly in the
    limit of many codes."""
    mu = np.random.default_rng(seed).standard_normal((n, z)) * np.sqrt(1 - sigma**2) + shift
    return {"mu": mu, "logvar": np.full_like(mu, np.log(sigma**2))}


@pytest.mark.parametrize(("dataset", "z"), PAIRS)
def test_each_autoencoder_is_farther_from_the_prior_than_its_vae_partner(checkpoints_dir, dataset, z):
    vae = prior_gap(load_atlas(checkpoints_dir / f"{dataset}-vae-z{z}"))
    ae = prior_gap(load_atlas(checkpoints_dir / f"{dataset}-ae-z{z}"))
    assert vae["mmd2"] >= 0 and ae["mmd2"] >= 0
    assert ae["mmd2"] > 5 * vae["mmd2"], (ae, vae)
    if z == 2:
        assert 0 <= vae["kl"] < ae["kl"], (ae, vae)
    else:
        assert "kl" not in ae


def test_a_q_equal_to_the_prior_has_no_gap_and_a_shifted_q_has_the_analytic_kl():
    same, shifted = prior_gap(_gaussian_codes(10_000, 2)), prior_gap(_gaussian_codes(10_000, 2, shift=1.5))
    assert same["kl"] < 0.01 and abs(same["mmd2"]) < 0.002 and same["hole_mass"] < 0.01
    assert shifted["kl"] == pytest.approx(1.5**2 * 2 / 2, rel=0.05)  # KL(N(m, I) ‖ N(0, I)) = |m|² / 2
    assert shifted["mmd2"] > 50 * max(same["mmd2"], 0.002)
    assert shifted["hole_mass"] > 0.3


def test_in_sixteen_dimensions_the_mmd_is_near_zero_for_the_prior_and_clearly_positive_for_a_shift():
    same, shifted = prior_gap(_gaussian_codes(10_000, 16)), prior_gap(_gaussian_codes(10_000, 16, shift=0.5))
    assert abs(same["mmd2"]) < 0.002
    assert shifted["mmd2"] > 0.02


def test_the_unbiased_mmd_of_two_samples_of_one_distribution_averages_zero():
    rng = np.random.default_rng(3)
    values = [mmd2(rng.standard_normal((200, 4)), rng.standard_normal((200, 4)), mmd_bandwidths(4)) for _ in range(40)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    assert min(values) < 0 < max(values)  # unbiased, so not clipped at 0


def test_the_density_grid_of_a_shipped_vae_gives_arrays_a_figure_can_draw(checkpoints_dir):
    grid = density_grid(load_atlas(checkpoints_dir / "mnist-vae-z2"), cells=100, span=4.0)
    assert grid.edges.shape == (101,) and grid.centers.shape == (100,)
    for name in ("q", "p", "holes", "log_ratio"):
        array = getattr(grid, name)
        assert array.shape == (100, 100) and np.isfinite(array).all(), name
    area = (grid.edges[1] - grid.edges[0]) ** 2
    assert (grid.q.sum() * area + grid.q_outside) == pytest.approx(1.0, abs=1e-6)
    assert grid.p.sum() * area == pytest.approx(1.0, abs=1e-3)  # ±4: all but 1e-4 of the prior
    assert ((grid.holes == 0) | (grid.holes == grid.p)).all()
    assert 0 < grid.hole_mass < 0.5 and grid.kl > 0


def test_a_density_grid_needs_a_two_dimensional_latent_space():
    with pytest.raises(ValueError, match="2-D latent space"):
        density_grid(_gaussian_codes(100, 3))
