"""Per-image scores, computed one way for the atlas, the test metrics and a new image.

`score_images` gives each image's code and its likelihood-type scores; `png_bits` its compressed length,
the complexity term of the corrected anomaly score (`vae.anomaly`).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from vae.models import Model
from vae.objectives import neg_elbo, reconstruction_bce


@torch.no_grad()
def score_images(model: Model, x: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Per-image codes and scores for float images x (N, 1, 28, 28).

    Keys: mu (N, z), logvar (N, z; VAE), neg_elbo, recon, kl (N,; VAE, one seeded sample of z, nats per image),
    and bce (N,; nats per image), mse (N,; per pixel) of the reconstruction decoded from the mean code (both models).
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[torch.Tensor]] = {}
    for xb in x.split(batch_size):
        mu, logvar = model.encode(xb)
        logits = model.decode_logits(mu)
        rows = {
            "mu": mu,
            "bce": reconstruction_bce(logits, xb),
            "mse": (torch.sigmoid(logits) - xb).pow(2).flatten(1).mean(1),
        }
        if model.is_variational:
            z = model.reparameterize(mu, logvar, g)
            rows["logvar"] = logvar
            rows["neg_elbo"], rows["recon"], rows["kl"] = neg_elbo(model.decode_logits(z), xb, mu, logvar)
        for key, value in rows.items():
            out.setdefault(key, []).append(value)
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def png_bits(images: np.ndarray) -> np.ndarray:
    """Length in bits (N,) of each uint8 image (N, 28, 28) compressed as PNG at the highest level."""
    out = np.empty(len(images), dtype=np.float32)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", optimize=True)
        out[i] = 8 * buf.tell()
    return out
