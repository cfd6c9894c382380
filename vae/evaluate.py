"""Test-split metrics of a checkpoint: `python -m vae.evaluate CHECKPOINT_DIR [--json]`."""

from __future__ import annotations

import sys

import numpy as np
import torch

from vae.data import Split
from vae.models import VAE, Model
from vae.objectives import iwae_bound
from vae.scores import score_images

METRIC_KEYS = ("neg_elbo", "recon", "kl", "iwae_nll", "bce", "mse", "active_units")


def active_units(mu: np.ndarray, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across inputs (Burda et al., 2016)."""
    return int((mu.var(axis=0) > threshold).sum())


@torch.no_grad()
def iwae_nll(model: VAE, x: torch.Tensor, k: int, seed: int = 0, batch_size: int = 100) -> float:
    """Mean k-sample IWAE estimate of -log p(x) over images x."""
    g = torch.Generator().manual_seed(seed)
    return float(torch.cat([iwae_bound(model, xb, k, g) for xb in x.split(batch_size)]).mean())


def evaluate(model: Model, split: Split, iwae_k: int = 100, seed: int = 0) -> dict[str, float | int | None]:
    """Mean test metrics; keys METRIC_KEYS, None where a key does not apply to the model."""
    x = split.as_float()
    scores = score_images(model, x, seed)
    metrics: dict[str, float | int | None] = dict.fromkeys(METRIC_KEYS)
    metrics["bce"] = float(scores["bce"].mean())
    metrics["mse"] = float(scores["mse"].mean())
    if model.is_variational:
        for key in ("neg_elbo", "recon", "kl"):
            metrics[key] = float(scores[key].mean())
        metrics["iwae_nll"] = iwae_nll(model, x, iwae_k, seed) if iwae_k > 0 else None
        metrics["active_units"] = active_units(scores["mu"])
    return metrics


if __name__ == "__main__":  # `python -m vae.evaluate`: the command line is vae.cli.evaluate
    from vae.cli.evaluate import main

    sys.exit(main())
