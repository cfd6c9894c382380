"""Train a VAE or autoencoder: `python -m vae.train --dataset mnist --model vae --latent-dim 2`.

Every run gets a new folder under runs/ ($VAE_RUNS), named for its settings and the time; no run writes into
a folder that holds a model unless told to continue it (--resume) or replace it (--overwrite). Data stays in
memory as uint8 tensors; each epoch ends with an atomic checkpoint write, so a kill loses at most the epoch in
progress and `--resume` continues bit-for-bit from the last one. A finished run also writes its atlas.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import platform
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from vae import __version__
from vae.atlas import write_atlas
from vae.checkpoint import (
    CARD,
    RUN_FILES,
    TRAIN_STATE,
    WEIGHTS,
    CheckpointError,
    checkpoint_name,
    holds_model,
    load_model,
    load_train_state,
    runs_root,
    save_train_state,
    save_weights,
    train_progress,
    write_json,
)
from vae.cli import ArgumentParser
from vae.data import DATASETS, DatasetMissingError, Split, load_split, other_dataset
from vae.evaluate import evaluate
from vae.models import ConfigError, Model, ModelConfig, build_model
from vae.objectives import neg_elbo


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked: it holds a model, holds no run to resume, or another run's."""


def _whole(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on besides its data; out-of-range settings raise ConfigError on creation."""

    dataset: str = "mnist"
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
            (self.dataset in DATASETS, f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}"),
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
    tags = [checkpoint_name(config.dataset, m.kind, m.latent_dim)]
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


def learning_rate(config: TrainConfig, progress: float) -> float:
    """Cosine decay from lr to 0 over training (or a constant lr); `progress` runs from 0 to 1."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def ema_decay(config: TrainConfig, steps_done: int) -> float:
    """The average's decay after `steps_done` steps: it ramps up, so the random initial weights fade fast."""
    return min(config.ema, (1 + steps_done) / (10 + steps_done))


@torch.no_grad()
def update_average(average: Model, model: Model, decay: float) -> None:
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p, 1.0 - decay)


def start_run(config: TrainConfig, train_split: Split) -> tuple[Model, torch.optim.Optimizer, Model | None]:
    """A fresh model, its optimizer (fused AdamW) and, with config.ema, the average that ships."""
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    if config.output_bias == "data":
        model.init_output_bias(train_split.mean_image())
    # Fused: one kernel per step for all parameters; the unfused Adam step took a quarter of an MLP epoch.
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    return model, optimizer, copy.deepcopy(model) if config.ema else None


def train_epoch(
    model: Model,
    optimizer: torch.optim.Optimizer,
    data: Split,
    config: TrainConfig,
    epoch: int,
    bar: tqdm | None = None,
    average: Model | None = None,
) -> float:
    """One pass over `data` in a shuffle fixed by (seed, epoch); returns the mean loss per image.

    With `average` (a copy of the model), each step also moves it towards the weights (config.ema).
    """
    torch.manual_seed(config.seed * 100_003 + epoch)  # epoch-local noise: resume is exact
    order = torch.randperm(len(data))
    n_batches = math.ceil(len(data) / config.batch_size)
    total = 0.0
    model.train()
    for step, idx in enumerate(order.split(config.batch_size)):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, (epoch + step / n_batches) / config.epochs)
        x = data.as_float(idx)
        logits, mu, logvar = model(x)
        loss = neg_elbo(logits, x, mu, logvar, config.beta)[0].mean()
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                "lower --lr (or --beta) and train again."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            update_average(average, model, ema_decay(config, epoch * n_batches + step + 1))
        total += loss.item() * len(idx)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.2f}", refresh=False)
    return total / len(data)


def _card(config: TrainConfig, name: str, epochs_done: int, wall: float, history: list) -> dict:
    import torchvision

    return {
        "name": name,
        "dataset": config.dataset,
        "model": config.model.to_dict(),
        "training": {**config.to_dict(), "epochs_done": epochs_done, "wall_time_s": round(wall, 1)},
        "versions": {
            "vae": __version__,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "python": platform.python_version(),
        },
        "history": history,
        "metrics": None,
    }


def train(
    config: TrainConfig,
    out: Path,
    resume: bool = False,
    overwrite: bool = False,
    data: tuple[Split, Split] | None = None,
    data_dir: str | None = None,
    iwae_k: int = 100,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict:
    """Train into folder `out` and return its card (with test metrics once all epochs are done).

    `out` must not hold a model unless `resume` (continue the run there) or `overwrite` (replace it); see
    `prepare_run_folder`. The atlas is not built here: `main` (the command line) builds it after training.
    """
    out = Path(out)
    prepare_run_folder(out, config, resume, overwrite)
    train_split, test_split = data or (
        load_split(config.dataset, True, data_dir),
        load_split(config.dataset, False, data_dir),
    )
    model, optimizer, average = start_run(config, train_split)
    first, history, wall = 0, [], 0.0
    if resume:
        first, saved = load_train_state(out, model, optimizer, average)
        history, wall = saved["history"], saved["wall_time_s"]
    name = out.name
    n_batches = math.ceil(len(train_split) / config.batch_size)
    bar = tqdm(
        total=n_batches * config.epochs,
        initial=n_batches * first,
        disable=not progress,
        desc=name,
        unit="batch",
        dynamic_ncols=True,
    )
    for epoch in range(first, config.epochs):
        t0 = time.perf_counter()
        loss = train_epoch(model, optimizer, train_split, config, epoch, bar, average)
        wall += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": round(loss, 4)})
        saved = {"history": history, "wall_time_s": wall, "config": config.to_dict()}
        save_train_state(out, model, optimizer, epoch + 1, saved, average)
        save_weights(model if average is None else average, out / WEIGHTS)
        write_json(out / CARD, _card(config, name, epoch + 1, wall, history))
        if on_epoch is not None:
            on_epoch(epoch + 1, loss)
    bar.close()
    card = _card(config, name, config.epochs, wall, history)
    shipped, _ = load_model(out)  # metrics of the float16 weights that ship, not of the float32 training copy
    card["metrics"] = evaluate(shipped, test_split, iwae_k)
    write_json(out / CARD, card)
    return card


def _parser() -> ArgumentParser:
    d, m = TrainConfig(), ModelConfig()
    p = ArgumentParser(
        prog="python -m vae.train",
        description="Train a VAE (or a plain autoencoder) on MNIST or Fashion-MNIST on the CPU. Each run gets a new "
        "folder under $VAE_RUNS (default ./runs), named for its settings and the time, e.g. "
        "runs/mnist-vae-z2-b0.5-20261129-2150-3f2a; a checkpoint is written after every epoch (Ctrl-C keeps the "
        "last complete one), and a finished run writes its atlas, so the app can open it at once. "
        "Both datasets' test splits must be on disk or downloadable (the atlas scores the other one too).",
        epilog="Example: python -m vae.train --dataset mnist --model vae --latent-dim 2 --epochs 10",
    )
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="default: %(default)s")
    p.add_argument("--model", choices=("vae", "ae"), default=m.kind, help="vae or plain autoencoder (default: vae)")
    p.add_argument("--arch", choices=("mlp", "conv"), default=m.arch, help="network type (default: %(default)s)")
    p.add_argument("--latent-dim", type=int, default=m.latent_dim, help="size of the latent code (default: 2)")
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=list(m.hidden),
        metavar="N",
        help="MLP layer widths, input side first (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help="total epochs (default: %(default)s)")
    p.add_argument("--beta", type=float, default=d.beta, help="weight of the KL term (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument(
        "--lr", type=float, default=d.lr, help="peak Adam learning rate, cosine-decayed (default: %(default)s)"
    )
    p.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default=d.schedule,
        help="learning-rate schedule (default: %(default)s)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=d.weight_decay,
        help="decoupled weight decay of AdamW (default: %(default)s, plain Adam)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=d.ema,
        metavar="DECAY",
        help="ship a moving average of the weights, e.g. 0.999 (default: 0, off)",
    )
    p.add_argument(
        "--output-bias",
        choices=("data", "random"),
        default=d.output_bias,
        help="start the decoder's output bias at the mean training image (data) or at PyTorch's "
        "random init (default: %(default)s)",
    )
    p.add_argument(
        "--activation",
        choices=("relu", "elu"),
        default=m.activation,
        help="nonlinearity between layers (default: %(default)s)",
    )
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="train into this folder instead of a new one under $VAE_RUNS; refused if it already "
        "holds a model, unless --resume or --overwrite",
    )
    existing = p.add_mutually_exclusive_group()
    existing.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out DIR (required) from its last complete epoch; give the settings it was "
        "started with",
    )
    existing.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the model in --out DIR: its weights, card, atlas and training state are "
        "deleted before training starts",
    )
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for the final -log p(x) (default 100)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that parsed command-line arguments ask for (ConfigError when a value is out of range)."""
    model = ModelConfig(
        kind=args.model,
        arch=args.arch,
        latent_dim=args.latent_dim,
        hidden=tuple(args.hidden),
        activation=args.activation,
    )
    return TrainConfig(
        dataset=args.dataset,
        model=model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        beta=args.beta,
        seed=args.seed,
        schedule=args.schedule,
        weight_decay=args.weight_decay,
        ema=args.ema,
        output_bias=args.output_bias,
    )


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    if args.iwae_k < 0:
        p.error("--iwae-k must be 0 or more")
    if args.resume and args.out is None:
        p.error("--resume needs --out DIR, the folder of the run to continue")
    try:
        config = config_from_args(args)
    except ConfigError as err:
        p.error(str(err))
    out: Path | None = args.out
    try:
        data = load_split(config.dataset, True, args.data_dir), load_split(config.dataset, False, args.data_dir)
        load_split(other_dataset(config.dataset), False, args.data_dir)  # the atlas needs it: fail before training
        if out is None:
            out = new_run_folder(config)
        card = train(config, out, args.resume, args.overwrite, data=data, iwae_k=args.iwae_k, progress=not args.quiet)
        write_atlas(out, args.data_dir)
    except RunFolderError as err:
        p.error(str(err).rstrip("."))
    except (DatasetMissingError, CheckpointError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if out is not None and (out / TRAIN_STATE).exists():
            print(
                f"\ninterrupted; {out} holds the last complete epoch: continue with the same command and "
                f"--out {out} --resume.",
                file=sys.stderr,
            )
        else:
            if out is not None and args.out is None:
                with contextlib.suppress(OSError):
                    out.rmdir()  # the new run's folder, still empty
            print("\ninterrupted before the first epoch ended; nothing was saved.", file=sys.stderr)
        return 130
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in card["metrics"].items() if isinstance(v, float))
    print(f"saved {out} (model, card and atlas) after {card['training']['wall_time_s']:.0f} s: {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
