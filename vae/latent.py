"""Latent-space maths of the explorer: grids, decoding, interpolation, traversals, projections, gap metrics.

Pure functions on numpy arrays (and a model for the decoding ones); nothing here imports Streamlit.
Codes are float arrays (N, z); map coordinates are (N, 2): the code itself for z = 2, a projection otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

from vae.models import Model

SPACINGS = ("linear", "gaussian")

# ---------------------------------------------------------------------------------------------------------------
# Grids
# ---------------------------------------------------------------------------------------------------------------


def grid_axis(n: int, low: float, high: float, spacing: str = "linear") -> np.ndarray:
    """n values from low to high, evenly spaced or ('gaussian', Kingma & Welling's manifold figure) evenly spaced
    in N(0, 1) probability: inv_cdf of even steps between cdf(low) and cdf(high), crowding where the prior is."""
    if n < 1:
        raise ValueError("a grid needs at least one value per axis")
    if not high > low:
        raise ValueError(f"the grid's upper end ({high}) must be above its lower end ({low})")
    if spacing == "linear":
        return np.linspace(low, high, n)
    if spacing == "gaussian":
        normal = NormalDist()
        eps = 1e-9
        probs = np.linspace(max(normal.cdf(low), eps), min(normal.cdf(high), 1 - eps), n)
        return np.array([normal.inv_cdf(float(p)) for p in probs])
    raise ValueError(f"unknown grid spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")


def grid_points(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Grid of 2-D points (rows, cols, 2) as an image reads: top row has the largest y, left column the smallest x."""
    gx, gy = np.meshgrid(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)[::-1])
    return np.stack([gx, gy], axis=-1)


def manifold_grid(n: int, span: float, spacing: str = "linear", center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """An n x n grid of map points (n, n, 2) covering center ± span on both axes."""
    if not span > 0:
        raise ValueError("the grid span must be positive")
    cx, cy = center
    if spacing == "gaussian":  # Gaussian spacing is about the prior, so it stays centred on the origin
        axis = grid_axis(n, -span, span, spacing)
        return grid_points(axis + cx, axis + cy)
    return grid_points(grid_axis(n, cx - span, cx + span, spacing), grid_axis(n, cy - span, cy + span, spacing))


def tile_sizes(points: np.ndarray, fill: float = 0.96) -> np.ndarray:
    """Width and height (rows, cols, 2) of the cell around each grid point: the distance to its neighbours."""
    xs = points[0, :, 0]
    ys = points[:, 0, 1]

    def widths(v: np.ndarray) -> np.ndarray:
        if len(v) == 1:
            return np.ones(1)
        gaps = np.abs(np.diff(v))
        left = np.concatenate([gaps[:1], gaps])
        right = np.concatenate([gaps, gaps[-1:]])
        return np.minimum(left, right)

    wx, wy = widths(xs), widths(ys)
    return fill * np.stack(np.meshgrid(wx, wy), axis=-1)


# ---------------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def decode(model: Model, codes: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Pixel probabilities (..., 28, 28) float32 decoded from codes (..., z)."""
    codes = np.asarray(codes, dtype=np.float32)
    flat = torch.from_numpy(codes.reshape(-1, codes.shape[-1]))
    parts = [model.decode(chunk)[:, 0] for chunk in flat.split(batch_size)] if len(flat) else []
    images = torch.cat(parts).numpy() if parts else np.zeros((0, 28, 28), np.float32)
    return images.reshape(*codes.shape[:-1], *images.shape[-2:])


def decode_grid(model: Model, points: np.ndarray, projection: MapProjection | None = None) -> np.ndarray:
    """Decode a grid of map points (rows, cols, 2) to images (rows, cols, 28, 28); `projection` lifts them to z."""
    codes = (
        points if projection is None else projection.to_latent(points.reshape(-1, 2)).reshape(*points.shape[:-1], -1)
    )
    return decode(model, codes)


def prior_samples(n: int, latent_dim: int, seed: int = 0) -> np.ndarray:
    """n codes drawn from the prior N(0, I), float32 (n, latent_dim); the same seed gives the same codes."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Interpolation and traversals
# ---------------------------------------------------------------------------------------------------------------

METHODS = ("linear", "spherical")


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """`steps` codes (steps, z) from z0 to z1, ends included: 'linear' on the straight line; 'spherical' (slerp)
    turns the direction at constant angular speed and changes the norm linearly (kept when both norms agree)."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    z0 = np.asarray(z0, dtype=np.float64).ravel()
    z1 = np.asarray(z1, dtype=np.float64).ravel()
    if z0.shape != z1.shape:
        raise ValueError(f"codes of different sizes: {z0.shape[0]} and {z1.shape[0]}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if method == "linear":
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    if method != "spherical":
        raise ValueError(f"unknown interpolation {method!r}; choose one of {', '.join(METHODS)}")
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-12 or n1 < 1e-12:
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    u0, u1 = z0 / n0, z1 / n1
    omega = np.arccos(np.clip(u0 @ u1, -1.0, 1.0))
    if omega < 1e-6:  # same direction: only the length changes
        direction = np.broadcast_to(u0, (steps, len(u0)))
    elif np.pi - omega < 1e-6:  # opposite directions: any great circle will do; pick one deterministically
        w = _orthogonal_unit(u0)
        direction = np.cos(np.pi * t) * u0 + np.sin(np.pi * t) * w
    else:
        direction = (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / np.sin(omega)
    length = (1 - t) * n0 + t * n1
    return (direction * length).astype(np.float32)


def _orthogonal_unit(u: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to unit vector u."""
    e = np.zeros_like(u)
    e[np.argmin(np.abs(u))] = 1.0
    v = e - (e @ u) * u
    return v / np.linalg.norm(v)


def traversal_codes(center: np.ndarray, scale: np.ndarray, steps: int = 9, extent: float = 3.0) -> np.ndarray:
    """Codes (z, steps, z): row d moves dimension d of `center` from -extent to +extent times scale[d]."""
    center = np.asarray(center, dtype=np.float32).ravel()
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float32), center.shape)
    offsets = np.linspace(-extent, extent, steps, dtype=np.float32)
    codes = np.broadcast_to(center, (len(center), steps, len(center))).copy()
    for d in range(len(center)):
        codes[d, :, d] = center[d] + offsets * scale[d]
    return codes


def code_ranges(codes: np.ndarray, q: float = 0.001, pad: float = 0.1, prior: bool = False) -> np.ndarray:
    """Slider range (z, 2) per latent dimension: the codes' q..1-q quantiles widened by `pad` of their span, and
    with `prior` also the prior's -3..3, so a VAE's sliders reach everything it generates."""
    lo, hi = np.quantile(np.asarray(codes, dtype=np.float64), [q, 1 - q], axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    if prior:
        lo, hi = np.minimum(lo, -3.0), np.maximum(hi, 3.0)
    return np.stack([np.floor(lo * 10) / 10, np.ceil(hi * 10) / 10], axis=1)


# ---------------------------------------------------------------------------------------------------------------
# Map projections: 2-D map coordinates <-> latent codes
# ---------------------------------------------------------------------------------------------------------------

PROJECTIONS = {"latent": "Latent (z₁, z₂)", "pca": "PCA", "umap": "UMAP"}


def available_projections(atlas: dict[str, np.ndarray]) -> list[str]:
    """Projection names an atlas supports: 'latent' for z = 2; 'pca' and 'umap' (when stored) above."""
    if atlas["mu"].shape[1] == 2:
        return ["latent"]
    return [p for p in ("pca", "umap") if f"proj_{p}" in atlas and (p != "pca" or "pca_components" in atlas)]


@dataclass(frozen=True)
class MapProjection:
    """Latent codes <-> 2-D map coordinates: identity ('latent', z = 2), the atlas' PCA plane ('pca'), or for
    'umap' the mean position of the k nearest test codes (and back, the mean code of the k nearest map points)."""

    kind: str
    codes: np.ndarray  # (N, z) the test codes
    coords: np.ndarray  # (N, 2) their map positions
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    k: int = 10

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[1]

    @property
    def axis_titles(self) -> tuple[str, str]:
        """Titles of the map's axes: z₁, z₂ for a 2-D code, else the projection's name."""
        if self.kind == "latent":
            return ("z₁", "z₂")
        return (f"{PROJECTIONS[self.kind]} 1", f"{PROJECTIONS[self.kind]} 2")

    def to_map(self, codes: np.ndarray) -> np.ndarray:
        """Map coordinates (n, 2) of codes (n, z)."""
        codes = np.asarray(codes, dtype=np.float32).reshape(-1, self.latent_dim)
        if self.kind == "latent":
            return codes.copy()
        if self.kind == "pca":
            return (codes - self.mean) @ self.components.T
        return _nearest_mean(self.codes, self.coords, codes, self.k)

    def to_latent(self, points: np.ndarray) -> np.ndarray:
        """Latent codes (n, z) for map points (n, 2)."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if self.kind == "latent":
            return points.copy()
        if self.kind == "pca":
            return (self.mean + points @ self.components).astype(np.float32)
        return _nearest_mean(self.coords, self.codes, points, self.k)

    def spec(self, points: str | None = None) -> dict:
        """What the browser needs to map codes and map points as this projection does (pages/webmodel/component.js),
        as plain JSON values: {"kind": "latent"}; {"kind": "pca", "mean": (z,), "components": (2, z)}; or
        {"kind": "umap", "k": k, "points": URL or None}, where the URL's file holds the map positions (N, 2) and
        then the codes (N, z) as float32; without it the browser has no UMAP inverse."""
        if self.kind == "latent":
            return {"kind": "latent"}
        if self.kind == "pca":
            return {
                "kind": "pca",
                "mean": self.mean.astype(float).tolist(),
                "components": self.components.astype(float).tolist(),
            }
        return {"kind": "umap", "k": self.k, "points": points}


def map_projection(atlas: dict[str, np.ndarray], kind: str | None = None) -> MapProjection:
    """The projection `kind` of an atlas (default: its first available one)."""
    options = available_projections(atlas)
    kind = kind or options[0]
    if kind not in options:
        raise ValueError(f"this model's atlas has no {kind!r} projection; choose one of {', '.join(options)}")
    codes = np.asarray(atlas["mu"], dtype=np.float32)
    if kind == "latent":
        return MapProjection("latent", codes, codes)
    coords = np.asarray(atlas[f"proj_{kind}"], dtype=np.float32)
    if kind == "pca":
        mean, components = atlas["pca_mean"].astype(np.float32), atlas["pca_components"].astype(np.float32)
        return MapProjection("pca", codes, coords, mean, components)
    return MapProjection("umap", codes, coords)


def _nearest_mean(keys: np.ndarray, values: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """For each query, the mean of `values` at its k nearest `keys` (Euclidean)."""
    k = min(k, len(keys))
    out = np.empty((len(queries), values.shape[1]), dtype=np.float32)
    key_sq = (keys.astype(np.float32) ** 2).sum(1)
    for start in range(0, len(queries), 256):
        q = queries[start : start + 256].astype(np.float32)
        d = key_sq[None, :] - 2 * q @ keys.T.astype(np.float32)
        nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
        out[start : start + len(q)] = values[nearest].mean(1)
    return out


# ---------------------------------------------------------------------------------------------------------------
# How smooth and how full is a latent space? (VAE vs AE)
# ---------------------------------------------------------------------------------------------------------------


def occupied_region(coords: np.ndarray, trim: float = 0.005) -> tuple[tuple[float, float], tuple[float, float]]:
    """((x_low, x_high), (y_low, y_high)) holding the map points, trimming `trim` of outliers on each side."""
    lo = np.quantile(coords, trim, axis=0)
    hi = np.quantile(coords, 1 - trim, axis=0)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def empty_cell_fraction(coords: np.ndarray, bins: int = 24, trim: float = 0.005) -> float:
    """Fraction of the cells of a bins x bins grid over the occupied region that hold no point (0 = evenly filled)."""
    (x0, x1), (y0, y1) = occupied_region(coords, trim)
    counts, _, _ = np.histogram2d(coords[:, 0], coords[:, 1], bins=bins, range=[[x0, x1], [y0, y1]])
    return float((counts == 0).mean())


def neighbour_changes(images: np.ndarray) -> np.ndarray:
    """Mean absolute pixel change between each pair of horizontally or vertically neighbouring grid images."""
    images = np.asarray(images, dtype=np.float32)
    across = np.abs(np.diff(images, axis=1)).mean(axis=(-2, -1)).ravel()
    down = np.abs(np.diff(images, axis=0)).mean(axis=(-2, -1)).ravel()
    return np.concatenate([across, down])


def jump_ratio(images: np.ndarray, q: float = 99.0) -> float:
    """The q-th percentile over the median of the neighbour changes of a decoded grid: 1 = even, large = jumps."""
    changes = neighbour_changes(images)
    median = float(np.median(changes))
    return float(np.percentile(changes, q) / max(median, 1e-8))


def latent_extent(codes: np.ndarray, q: float = 99.0) -> float:
    """The q-th percentile of the codes' distance from the origin, in latent units."""
    return float(np.percentile(np.linalg.norm(np.asarray(codes, dtype=np.float64), axis=1), q))


def prior_extent(latent_dim: int, q: float = 99.0, n: int = 200_000, seed: int = 0) -> float:
    """`latent_extent` of the N(0, I) prior in latent_dim dimensions (by a seeded sample)."""
    return latent_extent(prior_samples(n, latent_dim, seed), q)


@dataclass(frozen=True)
class GapMetrics:
    """How well a model's test codes fill its latent map, and how evenly its decoder changes over it."""

    empty_cells: float  # fraction of empty cells over the occupied region
    jump_ratio: float  # p99 / median pixel change between neighbouring grid decodes
    extent: float  # p99 distance of the codes from the origin


def gap_metrics(
    model: Model, projection: MapProjection, coords: np.ndarray, bins: int = 24, grid: int = 24
) -> GapMetrics:
    """Gap metrics of a model's test codes (map coords (N, 2)) and of a grid decoded over their region."""
    (x0, x1), (y0, y1) = occupied_region(coords)
    points = grid_points(grid_axis(grid, x0, x1), grid_axis(grid, y0, y1))
    images = decode_grid(model, points, projection)
    return GapMetrics(empty_cell_fraction(coords, bins), jump_ratio(images), latent_extent(projection.codes))
