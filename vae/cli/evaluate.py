"""`python -m vae.evaluate CHECKPOINT_DIR [--json]`: test-split metrics of a checkpoint."""

from __future__ import annotations

import json
import sys

from vae.checkpoint import CheckpointError, load_model
from vae.cli import ArgumentParser
from vae.data import DatasetFormatError, DatasetMissingError, dataset_of
from vae.evaluate import evaluate


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
