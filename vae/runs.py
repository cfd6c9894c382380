"""What a run is and where it goes: `TrainConfig` (the recipe, checked on creation), the run's folder name, and
the checks that keep a run from writing into a folder that holds another model. Used by the training CLI
(`vae.train`) and by the training page's job control (`vae.jobs`), so neither imports the other.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vae.checkpoint import RUN_FILES, TRAIN_STATE, checkpoint_name, holds_model, runs_root, train_progress
from vae.data import DATASETS, dataset_name
from vae.models import ConfigError, ModelConfig


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked: it holds a model, holds no run to resume, or another run's."""


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _dataset_like(value: object) -> bool:
    """A built-in dataset's name, or what can only be a path: an .npz file's, a folder's, or one with a slash."""
    if not isinstance(value, str) or not value:
        return False
    return value in DATASETS or value.endswith(".npz") or "/" in value or os.sep in value or Path(value).is_dir()


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides its data; out-of-range settings raise ConfigError on creation."""

    dataset: str = "mnist"  # 'mnist', 'fashion-mnist', or the path of an .npz file or an IDX folder
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 1.0
    seed: int = 0
    schedule: str = "cosine"  # or "constant"
    weight_decay: float = 0.0  # decoupled (AdamW); 0 is plain Adam
    ema: float = 0.0  # decay of a moving average of the weights, which is what ships; 0: no average
    output_bias: str = "data"  # "data": the decoder's output bias = logit of the mean image; "random": PyTorch's init

    def __post_init__(self) -> None:
        checks = (
            (
                _dataset_like(self.dataset),
                f"unknown dataset {self.dataset!r}; choose mnist, fashion-mnist, an .npz file or an IDX folder",
            ),
            (isinstance(self.model, ModelConfig), f"model must be a ModelConfig, not {self.model!r}"),
            (_whole(self.epochs, 1), f"epochs must be a whole number of at least 1, not {self.epochs!r}"),
            (_whole(self.batch_size, 1), f"batch_size must be a whole number of at least 1, not {self.batch_size!r}"),
            (_number(self.lr) and self.lr > 0, f"lr must be a positive number, not {self.lr!r}"),
            (_number(self.beta) and self.beta >= 0, f"beta must be a number of at least 0, not {self.beta!r}"),
            (_whole(self.seed, 0), f"seed must be a whole number of at least 0, not {self.seed!r}"),
            (self.schedule in ("cosine", "constant"), f"unknown schedule {self.schedule!r}; choose cosine or constant"),
            (
                _number(self.weight_decay) and self.weight_decay >= 0,
                f"weight_decay must be a number of at least 0, not {self.weight_decay!r}",
            ),
            (_number(self.ema) and 0 <= self.ema < 1, f"ema must be at least 0 and below 1, not {self.ema!r}"),
            (
                self.output_bias in ("data", "random"),
                f"unknown output_bias {self.output_bias!r}; choose data or random",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}


_NAME_TAGS = {"epochs": "e", "batch_size": "bs", "lr": "lr", "weight_decay": "wd", "ema": "ema", "seed": "seed"}


def run_name(config: TrainConfig) -> str:
    """What a run is: dataset, kind and latent size, then each setting that differs from the defaults.

    e.g. 'mnist-vae-z2-b0.5-conv' or 'fashion-mnist-vae-z16-conv-elu-e40-bs64-lr0.001-ema0.999-bias-random'.
    """
    m, default, default_model = config.model, TrainConfig(), ModelConfig()
    tags = [checkpoint_name(dataset_name(config.dataset), m.kind, m.latent_dim)]
    if config.beta != default.beta:
        tags.append(f"b{config.beta:g}")
    if m.arch != default_model.arch:
        tags.append(m.arch)
    if m.arch == "mlp" and m.hidden != default_model.hidden:
        tags.append("h" + "x".join(map(str, m.hidden)))
    if m.arch == "conv" and m.channels != default_model.channels:
        tags.append("c" + "x".join(map(str, m.channels)))
    if m.activation != default_model.activation:
        tags.append(m.activation)
    for key, tag in _NAME_TAGS.items():
        if getattr(config, key) != getattr(default, key):
            tags.append(f"{tag}{getattr(config, key):g}")
    if config.schedule != default.schedule:
        tags.append(config.schedule)
    if config.output_bias != default.output_bias:
        tags.append(f"bias-{config.output_bias}")
    return "-".join(tags)


def new_run_folder(config: TrainConfig, root: Path | None = None) -> Path:
    """Create and return an empty folder for a new run under `root` (default: `runs_root()`).

    Its name is `run_name(config)`, the date and minute and four random hex digits, e.g.
    runs/mnist-vae-z2-b0.5-20261129-2150-3f2a; creating it claims it, so two runs never share one.
    """
    root = Path(root or runs_root())
    root.mkdir(parents=True, exist_ok=True)
    while True:
        folder = root / f"{run_name(config)}-{time.strftime('%Y%m%d-%H%M')}-{secrets.token_hex(2)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _flat_settings(config: dict) -> dict:
    return {**{k: v for k, v in config.items() if k != "model"}, **config["model"]}


def prepare_run_folder(out: Path, config: TrainConfig, resume: bool = False, overwrite: bool = False) -> None:
    """Check that `out` may take this run, and with `overwrite` delete the old run's files.

    Raises RunFolderError when `out` holds a model and neither `resume` nor `overwrite` is set, when `resume`
    finds no training state, or when the run there was started with other settings than `config`.
    """
    if resume:
        if not (out / TRAIN_STATE).exists():
            raise RunFolderError(f"there is no run to resume in {out} (no {TRAIN_STATE}); leave out --resume.")
        recorded = train_progress(out).get("config")
        now = json.loads(json.dumps(config.to_dict()))  # lists where the config has tuples, as recorded
        if recorded is not None and recorded != now:
            recorded, now = _flat_settings(recorded), _flat_settings(now)
            differ = ", ".join(f"{k}={recorded.get(k)}" for k in now if recorded.get(k) != now[k])
            raise RunFolderError(f"the run in {out} was started with {differ}; resume it with the same settings.")
    elif holds_model(out):
        if not overwrite:
            raise RunFolderError(
                f"{out} already holds a model; pass --resume to continue that run or --overwrite to replace it."
            )
        for name in RUN_FILES:  # only the run's own files: anything else in the folder stays
            (out / name).unlink(missing_ok=True)
        for leftover in out.glob(".*.tmp"):  # of a write that was killed
            leftover.unlink()
