"""The ELBO's trade-off in numbers: each model as a point on the rate–distortion plane, and its KL per latent
dimension.

The negative ELBO is D + R (nats per image): the distortion D = E_q[−log p(x | z)], the reconstruction term, and the
rate R = KL(q(z | x) ‖ p(z)), the information the codes carry about the image (Alemi et al. 2018). β-VAE minimises
D + βR, so its model sits where the frontier's slope is −β: a small β buys a low distortion with a high rate, a large
β drives the rate to 0, where the decoder ignores z (posterior collapse) and D is the cost of the best constant
image. A plain autoencoder's encoder is deterministic, so its rate is unbounded: the other end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class RDPoint:
    """One model on the rate–distortion plane; test-split means in nats per image."""

    name: str
    kind: str  # "vae" or "ae"
    latent_dim: int
    beta: float | None  # the KL weight it was trained with; None for an autoencoder
    distortion: float  # the VAE's recon; the autoencoder's BCE of the image decoded from its code
    rate: float  # the VAE's test KL; math.inf for an autoencoder

    @property
    def neg_elbo(self) -> float:
        return self.distortion + self.rate


def rd_point(card: dict, name: str) -> RDPoint | None:
    """Model `name` as a point, from its card's test metrics (`vae.checkpoint.read_card`); None when the card has
    none."""
    metrics, model = card.get("metrics") or {}, card["model"]
    z = int(model["latent_dim"])
    if model["kind"] == "ae":
        bce = metrics.get("bce")
        return None if bce is None else RDPoint(name, "ae", z, None, float(bce), math.inf)
    if metrics.get("recon") is None or metrics.get("kl") is None:
        return None
    beta = float((card.get("training") or {}).get("beta", 1.0))
    return RDPoint(name, "vae", z, beta, float(metrics["recon"]), float(metrics["kl"]))


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean KL(q(z_d | x) ‖ N(0, 1)) of each latent dimension over the codes, (z,) nats; they sum to the test KL.

    mu, logvar: (N, z), the encoder's outputs for N images.
    """
    mu, logvar = mu.astype(np.float64), logvar.astype(np.float64)
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(0)


def code_activity(mu: np.ndarray) -> np.ndarray:
    """Variance over the images of each dimension's posterior mean, (z,): a dimension the encoder ignores is near 0
    (Burda et al. 2016 call it active above 0.01; `vae.evaluate.active_units`)."""
    return mu.astype(np.float64).var(0)


def collapse_distortion(train: torch.Tensor, test: torch.Tensor) -> float:
    """D at rate 0: the test images' mean cross-entropy (nats per image) under the best image that ignores z, the
    training split's mean image (a Bernoulli mean per pixel). train, test: (N, 1, 28, 28) in [0, 1]."""
    p = train.double().mean(0).clamp(1e-6, 1 - 1e-6)
    x = test.double()
    return float(-(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean())


def iso_elbo_line(neg_elbo: float, rate_max: float) -> tuple[list[float], list[float]]:
    """The line D + R = neg_elbo from R = 0 to `rate_max` (or to D = 0), as (rates, distortions)."""
    end = min(rate_max, neg_elbo)
    return [0.0, end], [neg_elbo, neg_elbo - end]
