"""`python -m vae.sweep`: train the shipped β sweep (`vae.sweep.BETA_SWEEP`) or any grid of settings, several
models at once.

Each model is trained by `python -m vae.train --config` in its own process, one thread each (small MLPs use the
cores better as separate processes), into OUT/NAME; the run also writes its atlas and sampler. A folder that holds a
finished model is left alone unless `--overwrite` is given; one holding an interrupted run is continued (`--resume`).
With `--engine ray` the same commands run as Ray tasks on the cluster `ray.init()` finds (RAY_ADDRESS), for which
`pip install ray` (the `cluster` extra) is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vae.checkpoint import TRAIN_STATE, CheckpointError, holds_model, read_card, write_json
from vae.cli import ArgumentParser
from vae.runs import TrainConfig
from vae.settings import ConfigError
from vae.sweep import BETA_SWEEP, SWEEP_BASE, grid, parse_axis, sweep_root, write_limits

ENGINES = ("local", "ray")


class EngineError(RuntimeError):
    """The cluster engine asked for cannot be used here."""


def train_command(config_file: Path, folder: Path, data_dir: str | None, overwrite: bool) -> list[str]:
    """The `vae.train` command line that trains the recipe in `config_file` into `folder`: continued where an
    interrupted run is there, replacing a finished model only with `overwrite`."""
    cmd = [sys.executable, "-m", "vae.train", "--config", str(config_file), "--out", str(folder), "--quiet"]
    if (folder / TRAIN_STATE).exists():
        cmd.append("--resume")
    elif overwrite:
        cmd.append("--overwrite")
    return cmd + (["--data-dir", data_dir] if data_dir else [])


def build(name: str, config: TrainConfig, out: Path, data_dir: str | None, overwrite: bool = False) -> str:
    """Train `config` into `out / name` in a child process; its last line of output, or why it was skipped.
    RuntimeError with the child's error output when it fails."""
    folder = out / name
    if holds_model(folder) and not (folder / TRAIN_STATE).exists() and not overwrite:
        return f"{name}: {folder} already holds a model; left as it is (--overwrite replaces it)."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / f"{name}.json"
        write_json(config_file, config.to_dict())
        cmd = train_command(config_file, folder, data_dir, overwrite)
        result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return f"{name}: {result.stdout.strip().splitlines()[-1]}"


def _ray_map(task: Callable[[str], str], names: list[str]) -> Iterator[str]:
    try:
        import ray
    except ImportError:
        raise EngineError("--engine ray needs Ray: pip install ray (or the cluster extra), then run again.") from None
    ray.init(ignore_reinit_error=True)
    remote = ray.remote(num_cpus=1)(task)
    return iter(ray.get([remote.remote(name) for name in names]))


def run_all(
    configs: dict[str, TrainConfig],
    out: Path,
    data_dir: str | None = None,
    jobs: int = 2,
    engine: str = "local",
    overwrite: bool = False,
) -> Iterator[str]:
    """Train every config into `out / NAME`, `jobs` at a time (or as Ray tasks); yields each model's line in order."""
    out.mkdir(parents=True, exist_ok=True)

    def task(name: str) -> str:
        return build(name, configs[name], out, data_dir, overwrite)

    if engine == "ray":
        yield from _ray_map(task, list(configs))
        return
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each job is a child process
        yield from pool.map(task, configs)


def table(configs: dict[str, TrainConfig], out: Path) -> str:
    """A Markdown table of the models trained into `out`: β, test rate, distortion and −ELBO (nats per image),
    active units and training time; models not trained yet are left out."""
    rows = [
        "| model | β | rate R | distortion D | −ELBO | active units | trained in |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for name in configs:
        try:
            card = read_card(out / name)
        except (CheckpointError, OSError):
            continue
        m, t = card.get("metrics"), card.get("training") or {}
        if not m:  # still training
            continue
        if card["model"]["kind"] == "ae":
            rows.append(f"| {name} | – | ∞ | {m['bce']:.2f} | – | – | {t['wall_time_s']:.0f} s |")
        else:
            rows.append(
                f"| {name} | {t['beta']:g} | {m['kl']:.2f} | {m['recon']:.2f} | {m['neg_elbo']:.2f} | "
                f"{m['active_units']} | {t['wall_time_s']:.0f} s |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(
        prog="python -m vae.sweep",
        description="Train the shipped β sweep (MNIST and Fashion-MNIST, z = 2, β in 0.1 ... 8 and the plain "
        "autoencoder) into checkpoints/sweep, or with --grid any grid of settings, several models at once.",
        epilog="Example: python -m vae.sweep --grid beta=0.5,1,2 --grid model.latent_dim=2,8 --out runs/grid",
    )
    p.add_argument(
        "--grid",
        action="append",
        metavar="SETTING=V1,V2,...",
        help="vary a setting of the base recipe (repeat for a product), e.g. beta=0.5,1 or model.kind=vae,ae",
    )
    p.add_argument("--base", type=Path, metavar="CONFIG", help="the base recipe, a config.json (default: the sweep's)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="train only these models of the sweep or grid")
    p.add_argument("--out", type=Path, help="where the model folders go (default: checkpoints/sweep)")
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--jobs", type=int, default=2, help="models trained at once (default 2)")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local processes, or Ray tasks (default local)")
    p.add_argument("--overwrite", action="store_true", help="retrain models whose folders already hold one")
    p.add_argument("--list", action="store_true", help="print the models' names and settings, train nothing")
    p.add_argument("--table", action="store_true", help="print the trained models' test rate and distortion as a table")
    args = p.parse_args(argv)
    try:
        if args.grid:
            base = TrainConfig.from_dict(json.loads(args.base.read_text())) if args.base else SWEEP_BASE
            configs = grid(base, [parse_axis(axis) for axis in args.grid])
        else:
            configs = dict(BETA_SWEEP)
        unknown = sorted(set(args.only or ()) - set(configs))
        if unknown:
            raise ConfigError(f"{', '.join(unknown)} is not in the sweep; --list shows its models.")
        configs = {name: c for name, c in configs.items() if not args.only or name in args.only}
    except (ConfigError, OSError, ValueError) as err:
        p.error(str(err))
    if args.list:
        for name, config in configs.items():
            print(name, config.to_dict())
        return 0
    out = args.out or sweep_root()
    if args.table:
        print(table(configs, out))
        return 0
    start = time.perf_counter()
    try:
        for line in run_all(configs, out, args.data_dir, args.jobs, args.engine, args.overwrite):
            print(line, flush=True)
    except (EngineError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(configs)} models in {out} after {time.perf_counter() - start:.0f} s of wall time", flush=True)
    if not args.grid:  # the shipped sweep: the plane's collapse limit, measured on the same data
        datasets = sorted({c.dataset for c in configs.values()})
        print(f"wrote {write_limits(out, datasets, args.data_dir)}", flush=True)
    return 0
