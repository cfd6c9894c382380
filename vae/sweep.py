"""Grids of training settings, and the shipped β sweep.

`grid(base, axes)` expands a base `TrainConfig` over the values of some of its settings (paths as `vae.settings`
names them: "beta", "model.kind", "model.latent_dim", "dataset") into named configs, one per combination.

`BETA_SWEEP` is the shipped sweep: for MNIST and Fashion-MNIST, one z = 2 MLP trained with one recipe at each β in
`BETAS`, plus the plain autoencoder of the same network (the β → 0 end with a deterministic encoder). Each is a
normal model folder under `sweep_root()` (checkpoints/sweep/), so every page opens it; `python -m vae.sweep` (the
command line is `vae.cli.sweep`) trains them, or any grid, with several processes.
"""

from __future__ import annotations

import json
import sys
from itertools import product
from pathlib import Path

from vae.checkpoint import shipped_root, write_json
from vae.data import DATASETS, load_split
from vae.models import ModelConfig
from vae.runs import TrainConfig, run_name
from vae.settings import ConfigError, replace_settings

BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
SWEEP_DIR = "sweep"  # under checkpoints/
LIMITS = "limits.json"  # in the sweep's folder: {dataset: {"collapse_distortion": nats per image}}
# A small MLP: 0.43 MB of float16 weights, so sixteen models stay a small part of the repository.
SWEEP_BASE = TrainConfig(
    model=ModelConfig(kind="vae", latent_dim=2, arch="mlp", hidden=(128, 64)),
    epochs=30,
    batch_size=128,
    lr=1e-3,
    seed=0,
)


def sweep_root() -> Path:
    """checkpoints/sweep: the shipped β sweep's model folders."""
    return shipped_root() / SWEEP_DIR


def write_limits(folder: Path, datasets: list[str], data_dir: str | None = None) -> Path:
    """Write folder/limits.json: for each built-in dataset, the distortion at rate 0 (`vae.tradeoff.
    collapse_distortion`), which the rate–distortion plane draws as the collapse limit; measured on the real splits."""
    from vae.tradeoff import collapse_distortion

    limits = {}
    for dataset in datasets:
        train, test = (load_split(dataset, split, data_dir).as_float() for split in (True, False))
        limits[dataset] = {"collapse_distortion": round(collapse_distortion(train, test), 3)}
    write_json(folder / LIMITS, limits)
    return folder / LIMITS


def read_limits(folder: Path) -> dict[str, dict[str, float]]:
    """folder/limits.json as `write_limits` wrote it; {} when it is missing or unreadable."""
    try:
        limits = json.loads((folder / LIMITS).read_text())
    except (OSError, ValueError):
        return {}
    return limits if isinstance(limits, dict) else {}


def sweep_name(dataset: str, beta: float | None) -> str:
    """'sweep-mnist-b0.25'; beta None is the autoencoder: 'sweep-mnist-ae'."""
    return f"sweep-{dataset}-" + ("ae" if beta is None else f"b{beta:g}")


def _sweep() -> dict[str, TrainConfig]:
    configs = {}
    for dataset in DATASETS:
        for beta in BETAS:
            configs[sweep_name(dataset, beta)] = replace_settings(SWEEP_BASE, {"dataset": dataset, "beta": beta})
        configs[sweep_name(dataset, None)] = replace_settings(SWEEP_BASE, {"dataset": dataset, "model.kind": "ae"})
    return configs


BETA_SWEEP: dict[str, TrainConfig] = _sweep()


def parse_value(text: str) -> object:
    """A grid value as written on the command line: a JSON number, list or boolean, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_axis(text: str) -> tuple[str, list]:
    """'beta=0.5,1,2' -> ('beta', [0.5, 1, 2]); ConfigError in one sentence when it is not SETTING=V1,V2,..."""
    path, sep, values = text.partition("=")
    if not sep or not path or not values:
        raise ConfigError(f"a grid axis is SETTING=VALUE,VALUE,... (e.g. beta=0.5,1,2), not {text!r}.")
    return path.strip(), [parse_value(v.strip()) for v in values.split(",")]


def grid(base: TrainConfig, axes: list[tuple[str, list]]) -> dict[str, TrainConfig]:
    """One config per combination of the axes' values, named by `vae.runs.run_name` (what differs from the
    defaults). ConfigError when a value is out of range, a setting is unknown, or two combinations share a name."""
    configs: dict[str, TrainConfig] = {}
    paths = [path for path, _ in axes]
    for values in product(*(vals for _, vals in axes)):
        try:
            config = replace_settings(base, dict(zip(paths, values, strict=True)))
        except KeyError as err:
            raise ConfigError(f"there is no setting {err.args[0]!r} in the grid's {'.'.join(paths)}.") from None
        name = run_name(config)
        if name in configs and configs[name] != config:
            raise ConfigError(f"two settings of the grid are both named {name}; vary a setting the name shows.")
        configs[name] = config
    return configs


if __name__ == "__main__":  # `python -m vae.sweep`: the command line is vae.cli.sweep
    from vae.cli.sweep import main

    sys.exit(main())
