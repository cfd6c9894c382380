"""Anomaly scores, thresholds and ROC maths: `python -m vae.anomaly CHECKPOINT_DIR [--json]`.

A high score means "unlike the training data". Scores of the test splits come from the atlas, so
nothing here needs the datasets; a new image is scored exactly as the atlas was built
(`vae.scores`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from vae.data import DATASET_TITLES, dataset_of, other_dataset
from vae.latent import MapProjection
from vae.models import Model
from vae.scores import png_bits, score_images

SCORE_NAMES: dict[str, str] = {
    "mse": "Reconstruction MSE",
    "bce": "Reconstruction BCE",
    "neg_elbo": "Negative ELBO",
    "corrected": "Complexity-corrected likelihood",
}
"""Every score, by key, with its display name; `neg_elbo` exists for VAEs only."""

SCORE_UNITS = {"mse": "per pixel", "bce": "nats", "neg_elbo": "nats", "corrected": "bits"}
DEFAULT_PERCENTILE = 99.0
NO_OTHER_DATA = "No other dataset on disk to compare with, so there is no detection rate."


# ---------------------------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------------------------


def nats_to_bits(nats: np.ndarray) -> np.ndarray:
    """Convert nats to bits (divide by ln 2)."""
    return np.asarray(nats, dtype=np.float64) / math.log(2)


def likelihood_key(arrays: Mapping[str, np.ndarray]) -> str:
    """The likelihood-type score of a model: the negative ELBO for a VAE, the BCE for an autoencoder."""
    return "neg_elbo" if "neg_elbo" in arrays else "bce"


@dataclass(frozen=True)
class ComplexityFit:
    """nll_bits ~ intercept + slope * complexity_bits, fitted on a model's own test split."""

    intercept: float
    slope: float

    def expected_bits(self, complexity_bits: np.ndarray) -> np.ndarray:
        """The negative log-likelihood (bits) the model gives in-distribution images of this complexity."""
        return self.intercept + self.slope * np.asarray(complexity_bits, dtype=np.float64)


def complexity_fit(arrays: Mapping[str, np.ndarray]) -> ComplexityFit:
    """Least-squares line of the likelihood score (bits) on the PNG length (bits) over the in-distribution split."""
    slope, intercept = np.polyfit(
        np.asarray(arrays["complexity"], dtype=np.float64), nats_to_bits(arrays[likelihood_key(arrays)]), 1
    )
    return ComplexityFit(float(intercept), float(slope))


def corrected_score(nll_nats: np.ndarray, complexity_bits: np.ndarray, fit: ComplexityFit) -> np.ndarray:
    """Complexity-corrected likelihood in bits: the excess of -log p(x) over what in-distribution images of the same
    compressed length get. Serrà et al. (2020) subtract the length itself (slope 1); here the scale is fitted."""
    return nats_to_bits(nll_nats) - fit.expected_bits(complexity_bits)


def available_scores(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Score keys an atlas (or a row of scores) supports: no negative ELBO for an autoencoder."""
    return [k for k in SCORE_NAMES if k != "neg_elbo" or "neg_elbo" in arrays]


def scores_of(
    arrays: Mapping[str, np.ndarray], name: str, prefix: str = "", fit: ComplexityFit | None = None
) -> np.ndarray:
    """Score `name` of every image of one atlas split (`prefix` '' for the model's test split, 'ood_' for the other).

    The corrected score uses `fit`, by default the one of the unprefixed (in-distribution) arrays.
    """
    if name not in SCORE_NAMES:
        raise ValueError(f"unknown score {name!r}; choose one of {', '.join(SCORE_NAMES)}")
    if name == "corrected":
        fit = fit or complexity_fit(arrays)
        return corrected_score(arrays[prefix + likelihood_key(arrays)], arrays[prefix + "complexity"], fit)
    if prefix + name not in arrays:
        raise ValueError(f"this model has no {SCORE_NAMES[name]} score (it is not a VAE)")
    return np.asarray(arrays[prefix + name], dtype=np.float64)


def has_other_split(atlas: Mapping[str, np.ndarray]) -> bool:
    """Whether the atlas scored another dataset's test split (a model of the user's own data may have none)."""
    return "ood_complexity" in atlas


def other_dataset_title(card: Mapping, atlas: Mapping[str, np.ndarray]) -> str | None:
    """'MNIST' or 'Fashion-MNIST': the dataset of the atlas' `ood_` split; None when it has none."""
    if not has_other_split(atlas):
        return None
    name = str(atlas["ood_dataset"]) if "ood_dataset" in atlas else other_dataset(dataset_of(dict(card)).name)
    return DATASET_TITLES[name]


def split_scores(atlas: Mapping[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(in-distribution, out-of-distribution) scores `name` of the atlas' two test splits."""
    return scores_of(atlas, name), scores_of(atlas, name, "ood_", complexity_fit(atlas))


@dataclass(frozen=True)
class ImageReading:
    """What a model makes of one image: its code, its reconstruction and every score."""

    mu: np.ndarray  # (z,)
    logvar: np.ndarray | None  # (z,), None for an autoencoder
    reconstruction: np.ndarray  # (28, 28) pixel probabilities decoded from mu
    scores: dict[str, float]


@torch.no_grad()
def read_image(model: Model, pixels: np.ndarray, fit: ComplexityFit) -> ImageReading:
    """Encode, reconstruct and score one uint8 image (28, 28) exactly as the atlas scored the test splits."""
    pixels = np.asarray(pixels, dtype=np.uint8)
    x = torch.from_numpy(pixels).float().div_(255.0)[None, None]
    arrays = score_images(model, x)
    per_image = {k: v for k, v in arrays.items() if v.ndim == 1}
    per_image["complexity"] = png_bits(pixels[None])
    scores = {name: float(scores_of(per_image, name, fit=fit)[0]) for name in available_scores(per_image)}
    mu = arrays["mu"][0]
    reconstruction = model.decode(torch.from_numpy(mu)[None])[0, 0].numpy()
    return ImageReading(mu, arrays["logvar"][0] if "logvar" in arrays else None, reconstruction, scores)


# ---------------------------------------------------------------------------------------------------------------
# Thresholds and ROC
# ---------------------------------------------------------------------------------------------------------------


def threshold_at(inliers: np.ndarray, percentile: float = DEFAULT_PERCENTILE) -> float:
    """The score below which `percentile` % of the in-distribution scores lie (99 -> about 1 % false alarms)."""
    return float(np.percentile(np.asarray(inliers, dtype=np.float64), percentile))


def flagged_rate(scores: np.ndarray, threshold: float) -> float:
    """Fraction of scores strictly above the threshold: false alarms on inliers, detections on outliers."""
    return float(np.mean(np.asarray(scores) > threshold))


def is_anomaly(score: float, threshold: float) -> bool:
    """An input is flagged when its score is strictly above the threshold."""
    return score > threshold


@dataclass(frozen=True)
class Roc:
    """A ROC curve: false-alarm and detection rates for thresholds from high to low (flag: score > threshold)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    @property
    def area(self) -> float:
        """Area under the curve by the trapezoid rule."""
        return float(np.sum(np.diff(self.fpr) * (self.tpr[1:] + self.tpr[:-1]) / 2))


def roc_curve(inliers: np.ndarray, outliers: np.ndarray) -> Roc:
    """The ROC curve of outliers (positives) against inliers, from (0, 0) to (1, 1), one point per distinct score."""
    inliers = np.sort(np.asarray(inliers, dtype=np.float64))
    outliers = np.sort(np.asarray(outliers, dtype=np.float64))
    if len(inliers) == 0 or len(outliers) == 0:
        raise ValueError("a ROC curve needs at least one inlier and one outlier score")
    thresholds = np.concatenate([np.unique(np.concatenate([inliers, outliers]))[::-1], [-np.inf]])
    fpr = (len(inliers) - np.searchsorted(inliers, thresholds, side="right")) / len(inliers)
    tpr = (len(outliers) - np.searchsorted(outliers, thresholds, side="right")) / len(outliers)
    return Roc(fpr, tpr, thresholds)


def auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    """P(outlier score > inlier score) + P(tie) / 2: the area under the ROC curve (Mann-Whitney U / n0 n1)."""
    inliers = np.asarray(inliers, dtype=np.float64).ravel()
    outliers = np.asarray(outliers, dtype=np.float64).ravel()
    if len(inliers) == 0 or len(outliers) == 0:
        raise ValueError("AUROC needs at least one inlier and one outlier score")
    _, inverse, counts = np.unique(np.concatenate([inliers, outliers]), return_inverse=True, return_counts=True)
    mid_ranks = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct value
    rank_sum = mid_ranks[inverse][len(inliers) :].sum()
    n0, n1 = len(inliers), len(outliers)
    return float((rank_sum - n1 * (n1 + 1) / 2.0) / (n0 * n1))


def atlas_aurocs(atlas: Mapping[str, np.ndarray]) -> dict[str, float]:
    """AUROC of every available score: the model's own test split against the other dataset's ({} without one)."""
    if not has_other_split(atlas):
        return {}
    return {name: auroc(*split_scores(atlas, name)) for name in available_scores(atlas)}


# ---------------------------------------------------------------------------------------------------------------
# Where a new image lands among the test split
# ---------------------------------------------------------------------------------------------------------------


def nearest_indices(codes: np.ndarray, query: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the k codes (N, z) nearest to query (z,) in Euclidean distance, nearest first."""
    d = ((np.asarray(codes, dtype=np.float32) - np.asarray(query, dtype=np.float32).ravel()) ** 2).sum(1)
    k = min(k, len(d))
    nearest = np.argpartition(d, k - 1)[:k]
    return nearest[np.argsort(d[nearest], kind="stable")]


def posterior_on_map(
    mu: np.ndarray, logvar: np.ndarray | None, projection: MapProjection
) -> tuple[np.ndarray, np.ndarray | None]:
    """(mean (2,), covariance (2, 2) or None) of the posterior N(mu, diag(exp(logvar))) on a linear map.

    For z = 2 the map is the latent plane; for PCA the Gaussian is projected (C diag(var) C^T). An autoencoder
    (no logvar) or a non-linear map (UMAP) gives the mean only.
    """
    mean = projection.to_map(np.asarray(mu, dtype=np.float32)[None])[0].astype(np.float64)
    if logvar is None or projection.kind not in ("latent", "pca"):
        return mean, None
    var = np.exp(np.asarray(logvar, dtype=np.float64).ravel())
    if projection.kind == "latent":
        return mean, np.diag(var)
    c = np.asarray(projection.components, dtype=np.float64)
    return mean, (c * var) @ c.T


if __name__ == "__main__":  # `python -m vae.anomaly`: the command line is vae.cli.anomaly
    from vae.cli.anomaly import main

    sys.exit(main())
