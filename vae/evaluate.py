"""Test-split metrics of a checkpoint: `python -m vae.evaluate CHECKPOINT_DIR [--json]`."""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from vae.checkpoint import CheckpointError, load_model
from vae.cli import ArgumentParser
from vae.data import DatasetFormatError, DatasetMissingError, Split, dataset_of
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


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m vae.evaluate",
        description="Evaluate a trained checkpoint on the test split of its dataset.",
        epilog="Example: python -m vae.evaluate checkpoints/mnist-vae-z2 --json",
    )
    p.add_argument("checkpoint", help="checkpoint folder, e.g. checkpoints/mnist-vae-z2")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for -log p(x) (default 100; 0 skips)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled terms (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.iwae_k < 0:
        _parser().error("--iwae-k must be 0 or more")
    try:
        model, card = load_model(args.checkpoint)
        split = dataset_of(card).split(train=False, root=args.data_dir)
    except (CheckpointError, DatasetMissingError, DatasetFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    metrics = evaluate(model, split, args.iwae_k, args.seed)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{card.get('name', args.checkpoint)} on the {dataset_of(card).title} test split (per image, nats):")
        for key, value in metrics.items():
            print(f"  {key:<13} {'n/a' if value is None else round(value, 3)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
