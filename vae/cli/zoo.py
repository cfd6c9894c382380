"""`python -m vae.zoo`: retrain the eight shipped models (replacing them) and their atlases.

Each model is trained by `python -m vae.train --config` with its recipe (`vae.zoo.RECIPES`), straight into its folder
under checkpoints/ (the zoo replaces the shipped models on purpose; a run interrupted there is continued with
`--resume`); the run also writes its atlas. Jobs run side by side, one process and one thread each
(`vae.cli.sweep.run_all`, which also trains the β sweep).
"""

from __future__ import annotations

from pathlib import Path

from vae.cli import ArgumentParser
from vae.cli.sweep import run_all
from vae.zoo import RECIPES, SHIPPED


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m vae.zoo",
        description="Retrain the eight shipped models (replacing them) and their atlases; `python -m vae.sweep` "
        "trains the β sweep.",
    )
    p.add_argument("--only", nargs="+", choices=SHIPPED, help="build only these models")
    p.add_argument("--out", type=Path, default=Path("checkpoints"), help="default: checkpoints")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (default 2)")
    args = p.parse_args(argv)
    recipes = {name: RECIPES[name] for name in args.only or SHIPPED}
    for line in run_all(recipes, args.out, args.data_dir, args.jobs, overwrite=True):
        print(line, flush=True)
    return 0
