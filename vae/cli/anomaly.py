"""`python -m vae.anomaly CHECKPOINT_DIR [--json]`: the AUROC of each anomaly score, from the checkpoint's atlas."""

from __future__ import annotations

import json
import sys

from vae.anomaly import SCORE_NAMES, atlas_aurocs, other_dataset_title
from vae.checkpoint import CheckpointError, load_atlas, load_model
from vae.cli import ArgumentParser
from vae.data import dataset_of


def _parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="python -m vae.anomaly",
        description="AUROC of each anomaly score: the model's test split against the other dataset's test split "
        "(from the checkpoint's atlas; no dataset needed).",
        epilog="Example: python -m vae.anomaly checkpoints/fashion-mnist-vae-z16 --json",
    )
    p.add_argument("checkpoint", help="checkpoint folder, e.g. checkpoints/mnist-vae-z2")
    p.add_argument("--json", action="store_true", help="print one JSON object {score: AUROC} instead of a table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _, card = load_model(args.checkpoint)
        atlas = load_atlas(args.checkpoint)
        aurocs = atlas_aurocs(atlas)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as err:
        print(
            f"error: the atlas of {args.checkpoint} lacks scores ({err}); rebuild it with "
            f"`python -m vae.atlas {args.checkpoint}`.",
            file=sys.stderr,
        )
        return 1
    if not aurocs:
        print(
            f"error: the atlas of {args.checkpoint} scores no other dataset (none was on disk when it was built), so "
            "there is no AUROC; put MNIST or Fashion-MNIST under the data root and rebuild it with "
            f"`python -m vae.atlas {args.checkpoint}`.",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(aurocs))
        return 0
    name, title = card.get("name", args.checkpoint), dataset_of(card).title
    print(f"{name}: AUROC of its {title} test split against the {other_dataset_title(card, atlas)} test split")
    print("(1 = every outlier scores higher, 0.5 = chance, below 0.5 = backwards)")
    for key, value in aurocs.items():
        print(f"  {SCORE_NAMES[key]:<33} {value:.3f}")
    return 0
