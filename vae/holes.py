"""The prior's holes: how far a model's aggregate posterior q(z) is from its prior p(z) = N(0, I).

q(z) = (1/N) Σ_n N(z; mu_n, diag(σ_n²)) over the N test codes of the atlas (`mu`, and `logvar` for a VAE, σ_n =
exp(logvar_n / 2)). An autoencoder has no posterior variance: its q(z) is the empirical distribution of its codes.
Where a density is needed (the z = 2 grid), each code is widened into a Gaussian kernel with Scott's bandwidth,
σ_d = std_d · N^(-1/(z+4)) per dimension (`scott_bandwidth`, about 0.2 standard deviations for 10,000 codes in 2-D);
where samples are enough (the MMD), the codes themselves are the samples.

Two numbers, `prior_gap(atlas)`:

- z = 2: KL(q ‖ p) in nats on a grid (`density_grid`): both densities are integrated exactly over each cell (the
  normal CDF, so a posterior narrower than a cell is not missed) with one more cell for everything outside the
  grid, and the KL of these two discrete distributions is taken. It is a lower bound on the KL of the continuous
  densities (a coarser partition never increases a KL) that rises towards it as the grid is refined; 200 x 200
  cells over the codes' extent (at least ±4) is what `prior_gap` uses. With it the share of the prior's mass in the
  holes, the cells where q < p / 10.
- every z: the unbiased MMD² (Gretton et al., 2012) between 2,000 seeded samples of q (a random subset of the test
  codes, plus σ_n·ε for a VAE) and 2,000 of p, with the mean of three Gaussian kernels of bandwidths
  (0.5, 1, 2)·√z (fixed for each z, so models of one latent size compare on one scale). About 0 when q = p; the
  unbiased estimate can dip just below 0 by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr

PRIOR_SPAN = 4.0  # the grid covers at least ±4 prior standard deviations
GRID_CELLS = 200
MMD_SAMPLES = 2000
HOLE_RATIO = 10.0  # a cell is a hole where q < p / HOLE_RATIO


def scott_bandwidth(codes: np.ndarray) -> np.ndarray:
    """Scott's rule kernel width per dimension (z,) for codes (N, z): std_d · N^(-1/(z+4))."""
    n, z = codes.shape
    return codes.std(0) * n ** (-1.0 / (z + 4))


def posterior(atlas: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(means (N, z), standard deviations (N, z)) of the components of q(z), float64: a VAE's posteriors, or an
    autoencoder's codes widened by `scott_bandwidth` (see the module docstring)."""
    mu = np.asarray(atlas["mu"], dtype=np.float64)
    if "logvar" in atlas:
        return mu, np.exp(0.5 * np.asarray(atlas["logvar"], dtype=np.float64))
    return mu, np.broadcast_to(scott_bandwidth(mu), mu.shape)


@dataclass(frozen=True)
class DensityGrid:
    """q(z) and p(z) on a square grid of a 2-D latent space. Arrays (cells, cells) are indexed [y, x] (rows: the
    second latent dimension), ready for a heatmap over `centers` on both axes."""

    edges: np.ndarray  # (cells + 1,) cell edges on each axis
    q: np.ndarray  # (cells, cells) density of q: its mass in the cell over the cell's area
    p: np.ndarray  # (cells, cells) density of the prior, likewise
    holes: np.ndarray  # (cells, cells) p where q < p / 10, else 0: where the prior puts mass and q does not
    log_ratio: np.ndarray  # (cells, cells) log(p / q) per cell, clipped to [-20, 20]
    kl: float  # KL(q ‖ p) of the cell masses (with the outside as one more cell), nats
    hole_mass: float  # the prior's mass in the holes, in [0, 1]
    q_outside: float  # q's mass outside the grid

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2


def _cell_masses(edges: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Mass (N, cells) of each 1-D Gaussian N(mu_n, sigma_n²) in each interval between consecutive edges."""
    cdf = ndtr((edges[None, :] - mu[:, None]) / sigma[:, None])
    return np.diff(cdf, axis=1)


def _log_prior_masses(edges: np.ndarray) -> np.ndarray:
    """log of the N(0, 1) mass in each interval, exact far out in the tails (no underflow to log 0)."""
    a, b = edges[:-1], edges[1:]
    upper = a > 0  # there take the mirror image [-b, -a], whose CDF values are small and precise
    lo, hi = np.where(upper, -b, a), np.where(upper, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    return log_hi + np.log1p(-np.exp(log_lo - log_hi))


def grid_span(mu: np.ndarray, sigma: np.ndarray) -> float:
    """Half-width of a grid that holds the prior's ±4 and every component of q to 3 standard deviations."""
    return float(max(PRIOR_SPAN, np.max(np.abs(mu) + 3 * sigma)))


def density_grid(atlas: dict[str, np.ndarray], cells: int = GRID_CELLS, span: float | None = None) -> DensityGrid:
    """q(z) against N(0, I) on a cells x cells grid over [-span, span]² (default `grid_span`) for a z = 2 atlas."""
    mu, sigma = posterior(atlas)
    if mu.ndim != 2 or mu.shape[1] != 2:
        raise ValueError(f"a density grid needs a 2-D latent space, not codes of shape {mu.shape}")
    span = grid_span(mu, sigma) if span is None else float(span)
    edges = np.linspace(-span, span, cells + 1)
    area = (edges[1] - edges[0]) ** 2
    qx, qy = _cell_masses(edges, mu[:, 0], sigma[:, 0]), _cell_masses(edges, mu[:, 1], sigma[:, 1])
    q_mass = np.clip(qy.T @ qx / len(mu), 0, None)  # [y, x]: the components are independent across dimensions
    log_p1 = _log_prior_masses(edges)
    log_p = log_p1[:, None] + log_p1[None, :]
    p_mass = np.exp(log_p)
    q_out = max(0.0, 1.0 - float(q_mass.sum()))
    p_out = max(1.0 - float(p_mass.sum()), 1e-300)
    inside = q_mass > 0
    kl = float((q_mass[inside] * (np.log(q_mass[inside]) - log_p[inside])).sum())
    if q_out > 0:
        kl += q_out * float(np.log(q_out / p_out))
    hole = q_mass < p_mass / HOLE_RATIO
    with np.errstate(divide="ignore"):
        log_ratio = np.clip(log_p - np.log(q_mass), -20.0, 20.0)
    return DensityGrid(
        edges=edges,
        q=q_mass / area,
        p=p_mass / area,
        holes=np.where(hole, p_mass / area, 0.0),
        log_ratio=log_ratio,
        kl=max(kl, 0.0),
        hole_mass=float(p_mass[hole].sum()),
        q_outside=q_out,
    )


def aggregate_samples(atlas: dict[str, np.ndarray], n: int = MMD_SAMPLES, seed: int = 0) -> np.ndarray:
    """n seeded samples (n, z) of q(z): a random subset of the test codes (all of them when there are fewer), plus
    σ·ε for a VAE; an autoencoder's codes are used as they are."""
    rng = np.random.default_rng(seed)
    mu = np.asarray(atlas["mu"], dtype=np.float64)
    idx = rng.choice(len(mu), size=min(n, len(mu)), replace=False)
    z = mu[idx]
    if "logvar" in atlas:
        z = z + np.exp(0.5 * np.asarray(atlas["logvar"], dtype=np.float64)[idx]) * rng.standard_normal(z.shape)
    return z


def mmd2(x: np.ndarray, y: np.ndarray, bandwidths: tuple[float, ...]) -> float:
    """Unbiased MMD² between samples x (m, z) and y (n, z), with the mean of Gaussian kernels
    exp(-|a - b|² / (2 h²)) over `bandwidths`."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"an MMD needs at least 2 samples on each side, not {m} and {n}")
    pooled = np.concatenate([x, y])
    pooled -= pooled.mean(0)  # distances do not change; float32 rounding does less harm near the origin
    p32 = pooled.astype(np.float32)
    sq = (p32**2).sum(1)
    d2 = p32 @ p32.T  # float32 kernel matrices (the sums below are float64)
    d2 *= -2
    d2 += sq[:, None]
    d2 += sq[None, :]
    np.maximum(d2, 0, out=d2)
    k = np.zeros_like(d2)
    for h in bandwidths:
        k += np.exp(d2 * np.float32(-1 / (2 * h * h)))
    k /= len(bandwidths)

    def block_sum(block: np.ndarray, diagonal: bool) -> float:
        return float(block.sum(dtype=np.float64) - (np.trace(block, dtype=np.float64) if diagonal else 0.0))

    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    return (
        block_sum(kxx, True) / (m * (m - 1))
        + block_sum(kyy, True) / (n * (n - 1))
        - 2 * block_sum(kxy, False) / (m * n)
    )


def mmd_bandwidths(latent_dim: int) -> tuple[float, ...]:
    """The kernel widths for a z-dimensional space: (0.5, 1, 2)·√z."""
    return tuple(s * np.sqrt(latent_dim) for s in (0.5, 1.0, 2.0))


def prior_mmd2(atlas: dict[str, np.ndarray], n: int = MMD_SAMPLES, seed: int = 0) -> float:
    """Unbiased MMD² between n samples of q(z) (`aggregate_samples`) and n of N(0, I), seeded."""
    q = aggregate_samples(atlas, n, seed)
    p = np.random.default_rng(seed + 1).standard_normal((n, q.shape[1]))
    return mmd2(q, p, mmd_bandwidths(q.shape[1]))


def prior_gap(atlas: dict[str, np.ndarray]) -> dict[str, float | int]:
    """How far q(z) is from the prior: {"latent_dim", "mmd2"} for every model, plus for z = 2 "kl" (nats, on the
    grid), "hole_mass" and "grid_cells" (see the module docstring)."""
    z = int(np.shape(atlas["mu"])[1])
    gap: dict[str, float | int] = {"latent_dim": z, "mmd2": prior_mmd2(atlas)}
    if z == 2:
        grid = density_grid(atlas)
        gap |= {"kl": grid.kl, "hole_mass": grid.hole_mass, "grid_cells": GRID_CELLS}
    return gap
