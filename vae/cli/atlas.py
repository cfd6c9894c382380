"""`python -m vae.atlas CHECKPOINT_DIR...`: rebuild the atlas and the sampler of checkpoints (see `vae.atlas`);
`--sampler-only` refits just sampler.npz (see `vae.samplers`) and leaves the atlas as it is."""

from __future__ import annotations

import sys
from pathlib import Path

from vae.atlas import write_atlas
from vae.checkpoint import CheckpointError, read_card
from vae.cli import ArgumentParser
from vae.data import DatasetFormatError, DatasetMissingError
from vae.samplers import SAMPLER, write_sampler


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m vae.atlas",
        description="Rebuild atlas.npz (codes, scores, projections of both test splits) and sampler.npz (a Gaussian "
        "mixture fitted on the training codes) for a checkpoint.",
    )
    p.add_argument("checkpoint", type=Path, nargs="+", help="checkpoint folder(s)")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument(
        "--sampler-only",
        action="store_true",
        help=f"refit only {SAMPLER} on the training split; the atlas is left untouched",
    )
    args = p.parse_args(argv)
    try:
        for folder in args.checkpoint:
            read_card(folder)
            if args.sampler_only:
                path = write_sampler(folder, args.data_dir)
                print(f"wrote {path} ({path.stat().st_size:,} bytes)")
            else:
                arrays = write_atlas(folder, args.data_dir)
                print(f"wrote {folder / 'atlas.npz'} ({len(arrays)} arrays) and {folder / SAMPLER}")
    except (CheckpointError, DatasetMissingError, DatasetFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
