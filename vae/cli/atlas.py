"""`python -m vae.atlas CHECKPOINT_DIR...`: rebuild the atlas of checkpoints (see `vae.atlas`)."""

from __future__ import annotations

import sys
from pathlib import Path

from vae.atlas import write_atlas
from vae.checkpoint import CheckpointError, read_card
from vae.cli import ArgumentParser
from vae.data import DatasetFormatError, DatasetMissingError


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m vae.atlas",
        description="Rebuild atlas.npz (codes, scores, projections of both test splits) for a checkpoint.",
    )
    p.add_argument("checkpoint", type=Path, nargs="+", help="checkpoint folder(s)")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    args = p.parse_args(argv)
    try:
        for folder in args.checkpoint:
            read_card(folder)
            arrays = write_atlas(folder, args.data_dir)
            print(f"wrote {folder / 'atlas.npz'} ({len(arrays)} arrays)")
    except (CheckpointError, DatasetMissingError, DatasetFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
