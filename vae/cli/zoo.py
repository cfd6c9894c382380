"""`python -m vae.zoo`: retrain the eight shipped models (replacing them) and their atlases.

Each model is trained by `python -m vae.train --config` with its recipe (`vae.zoo.RECIPES`), straight into its folder
under checkpoints/ (`--overwrite`: the zoo replaces the shipped models on purpose; a run interrupted there is
continued with `--resume`); the run also writes its atlas. Jobs run side by side, one thread each (small MLPs use two
cores better as two processes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vae.checkpoint import TRAIN_STATE, write_json
from vae.cli import ArgumentParser
from vae.zoo import RECIPES, SHIPPED


def train_command(name: str, out: Path, data_dir: str | None, config_file: Path) -> list[str]:
    """The `vae.train` command line that produces the shipped model `name` in `out / name` from `config_file`, which
    holds its recipe (`write_recipe`)."""
    interrupted = (out / name / TRAIN_STATE).exists()
    cmd = [sys.executable, "-m", "vae.train", "--config", str(config_file), "--out", str(out / name), "--quiet"]
    cmd.append("--resume" if interrupted else "--overwrite")
    return cmd + (["--data-dir", data_dir] if data_dir else [])


def write_recipe(name: str, folder: Path) -> Path:
    """Write the recipe of shipped model `name` as `folder/NAME.json` (a TrainConfig, as a run's config.json)."""
    path = folder / f"{name}.json"
    write_json(path, RECIPES[name].to_dict())
    return path


def build(name: str, out: Path, data_dir: str | None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = train_command(name, out, data_dir, write_recipe(name, Path(tmp)))
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m vae.zoo", description="Retrain the eight shipped models (replacing them) and their atlases."
    )
    p.add_argument("--only", nargs="+", choices=SHIPPED, help="build only these models")
    p.add_argument("--out", type=Path, default=Path("checkpoints"), help="default: checkpoints")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (default 2)")
    args = p.parse_args(argv)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for line in pool.map(lambda n: build(n, args.out, args.data_dir), args.only or SHIPPED):
            print(line, flush=True)
    return 0
