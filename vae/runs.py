"""What a run is and where it goes: `TrainConfig` (the recipe, checked on creation), the run's folder name, and
the checks that keep a run from writing into a folder that holds another model. Used by the training command line
(`vae.cli.train`) and by the training page's job control (`vae.jobs`), so neither imports the other.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import RUN_FILES, TRAIN_STATE, checkpoint_name, holds_model, runs_root, train_progress
from vae.data import DATASETS, dataset_name
from vae.models import ModelConfig
from vae.settings import ConfigError, from_dict, nested, problems, setting, to_dict

CONFIG = "config.json"  # in a run's folder: the TrainConfig the training page started it with (`to_dict`)


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked: it holds a model, holds no run to resume, or another run's."""


def _dataset_like(value: object) -> bool:
    """A built-in dataset's name, or what can only be a path: an .npz file's, a folder's, or one with a slash."""
    if not isinstance(value, str) or not value:
        return False
    return value in DATASETS or value.endswith(".npz") or "/" in value or os.sep in value or Path(value).is_dir()


def dataset_argument(text: str) -> str:
    """--dataset as TrainConfig records it: a built-in name as given, an existing path made absolute (so --resume
    matches from any folder); anything else as given, for `resolve_dataset` to refuse in one sentence."""
    path = Path(text).expanduser()
    return str(path.resolve()) if text not in DATASETS and path.exists() else text


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides its data; out-of-range settings raise ConfigError on creation.

    `to_dict` writes it as JSON values (a run's config.json, its card's "training"), `from_dict` reads it back.
    """

    dataset: str = setting(
        "mnist",
        "mnist, fashion-mnist, or your own data: an .npz file holding x_train and x_test (uint8, N×28×28, light on "
        "dark) and optionally y_train, y_test and class_names, or a folder in the MNIST IDX layout",
        valid=_dataset_like,
        must="mnist, fashion-mnist, an .npz file or an IDX folder",
        parse=dataset_argument,
        metavar="NAME|PATH",
        widget="dataset",
    )
    model: ModelConfig = nested(ModelConfig)
    epochs: int = setting(50, "total epochs", minimum=1, maximum=1000)
    batch_size: int = setting(128, "images per step", minimum=1, maximum=8192, step=32)
    lr: float = setting(
        2e-3,
        "peak Adam learning rate, decayed by the schedule",
        label="Learning rate",
        minimum=0.0,
        above=True,
        maximum=1.0,
        step=1e-3,
        format="%.4f",
    )
    beta: float = setting(
        1.0,
        "weight of the KL term (VAE only)",
        label="β (KL weight)",
        minimum=0.0,
        maximum=1000.0,
        step=0.25,
        applies=(("model.kind", "vae"),),
    )
    seed: int = setting(0, "random seed", minimum=0, maximum=2**31 - 1)
    schedule: str = setting(
        "cosine",
        "learning-rate schedule: cosine decay to 0, or constant",
        choices=("cosine", "constant"),
        advanced=True,
    )
    weight_decay: float = setting(
        0.0,
        "decoupled weight decay of AdamW (0: plain Adam)",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
        format="%.4f",
        advanced=True,
    )
    ema: float = setting(
        0.0,
        "ship a moving average of the weights with this decay, e.g. 0.999 (0: off)",
        label="Weight average (EMA decay)",
        minimum=0.0,
        maximum=1.0,
        below=True,
        step=0.001,
        format="%.4f",
        metavar="DECAY",
        advanced=True,
    )
    output_bias: str = setting(
        "data",
        "start the decoder's output bias at the mean training image (data) or at PyTorch's random init (random)",
        label="Decoder output bias",
        choices=("data", "random"),
        titles=(("data", "Mean image"), ("random", "Random")),
        advanced=True,
    )

    def __post_init__(self) -> None:
        found = problems(self)
        if found:
            raise ConfigError(found)

    def to_dict(self) -> dict:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config a config.json (as `to_dict` writes it) or a card's "training" describes; ConfigError with one
        sentence per problem."""
        return from_dict(cls, d)


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
