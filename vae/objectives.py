"""Training objectives and likelihood bounds, all per image in nats."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from vae.models import VAE


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) under a Bernoulli decoder, summed over pixels: shape (N,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions: shape (N,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def neg_elbo(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor | None,
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, recon, kl) per image; loss = recon + beta * kl. Without logvar (an autoencoder) kl = 0."""
    recon = reconstruction_bce(logits, x)
    kl = torch.zeros_like(recon) if logvar is None else kl_to_standard_normal(mu, logvar)
    return recon + beta * kl, recon, kl


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def iwae_bound(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-sample importance-weighted estimate of -log p(x) per image (Burda et al., 2016): shape (N,).

    Tends to -log p(x) from above as k grows; k = 1 gives a one-sample negative ELBO.
    """
    mu, logvar = model.encode(x)  # (N, z)
    eps = torch.randn((k, *mu.shape), generator=generator)  # (k, N, z)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode_logits(z.flatten(0, 1))  # (k*N, 1, 28, 28)
    x_rep = x.expand(k, *x.shape).flatten(0, 1)
    log_px_z = -reconstruction_bce(logits, x_rep).view(k, -1)  # (k, N)
    log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    log_qz = _log_normal(z, mu, logvar)
    log_w = log_px_z + log_pz - log_qz
    return -(torch.logsumexp(log_w, dim=0) - math.log(k))
