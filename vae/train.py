"""Train a VAE or autoencoder: `python -m vae.train --dataset mnist --model vae --latent-dim 2`.

Data stays in memory as uint8 tensors; each epoch ends with an atomic checkpoint write, so a kill
loses at most the epoch in progress and `--resume` continues bit-for-bit from the last one.
"""

from __future__ import annotations

import copy
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from vae import __version__
from vae.checkpoint import (
    CARD,
    TRAIN_STATE,
    CheckpointError,
    checkpoint_name,
    load_train_state,
    save_train_state,
    save_weights,
    write_json,
)
from vae.cli import ArgumentParser
from vae.data import DATASETS, DatasetMissingError, Split, load_split
from vae.evaluate import evaluate
from vae.models import VAE, ModelConfig, build_model
from vae.objectives import neg_elbo


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
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

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}


def learning_rate(config: TrainConfig, progress: float) -> float:
    """Cosine decay from lr to 0 over training (or a constant lr); `progress` runs from 0 to 1."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def ema_decay(config: TrainConfig, steps_done: int) -> float:
    """The average's decay after `steps_done` steps: it ramps up, so the random initial weights fade fast."""
    return min(config.ema, (1 + steps_done) / (10 + steps_done))


@torch.no_grad()
def update_average(average: VAE, model: VAE, decay: float) -> None:
    for a, p in zip(average.parameters(), model.parameters(), strict=True):
        a.lerp_(p, 1.0 - decay)


def start_run(config: TrainConfig, train_split: Split) -> tuple[VAE, torch.optim.Optimizer, VAE | None]:
    """A fresh model, its optimizer (fused AdamW) and, with config.ema, the average that ships."""
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    if config.output_bias == "data":
        model.init_output_bias(train_split.mean_image())
    # Fused: one kernel per step for all parameters; the unfused Adam step took a quarter of an MLP epoch.
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    return model, optimizer, copy.deepcopy(model) if config.ema else None


def train_epoch(
    model: VAE, optimizer: torch.optim.Optimizer, data: Split, config: TrainConfig, epoch: int,
    bar: tqdm | None = None, average: VAE | None = None,
) -> float:  # fmt: skip
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
    data: tuple[Split, Split] | None = None,
    data_dir: str | None = None,
    iwae_k: int = 100,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict:
    """Train into folder `out` and return its card (with test metrics once all epochs are done)."""
    out = Path(out)
    train_split, test_split = data or (
        load_split(config.dataset, True, data_dir),
        load_split(config.dataset, False, data_dir),
    )
    model, optimizer, average = start_run(config, train_split)
    first, history, wall = 0, [], 0.0
    if resume and (out / TRAIN_STATE).exists():
        first, saved = load_train_state(out, model, optimizer, average)
        history, wall = saved["history"], saved["wall_time_s"]
    name = out.name
    n_batches = math.ceil(len(train_split) / config.batch_size)
    bar = tqdm(total=n_batches * config.epochs, initial=n_batches * first, disable=not progress,
               desc=name, unit="batch", dynamic_ncols=True)  # fmt: skip
    for epoch in range(first, config.epochs):
        t0 = time.perf_counter()
        loss = train_epoch(model, optimizer, train_split, config, epoch, bar, average)
        wall += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": round(loss, 4)})
        save_train_state(out, model, optimizer, epoch + 1, {"history": history, "wall_time_s": wall}, average)
        save_weights(model if average is None else average, out / "model.safetensors")
        write_json(out / CARD, _card(config, name, epoch + 1, wall, history))
        if on_epoch is not None:
            on_epoch(epoch + 1, loss)
    bar.close()
    card = _card(config, name, config.epochs, wall, history)
    # Metrics of the float16 weights that ship, not of the float32 training copy.
    from vae.checkpoint import load_model

    shipped, _ = load_model(out)
    card["metrics"] = evaluate(shipped, test_split, iwae_k)
    write_json(out / CARD, card)
    return card


def _parser() -> ArgumentParser:
    d = TrainConfig()
    p = ArgumentParser(
        prog="python -m vae.train",
        description="Train a VAE (or a plain autoencoder) on MNIST or Fashion-MNIST on the CPU. "
        "Writes a checkpoint folder after every epoch; Ctrl-C keeps the last complete epoch.",
        epilog="Example: python -m vae.train --dataset mnist --model vae --latent-dim 2 --epochs 10",
    )
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset, help="default: %(default)s")
    p.add_argument("--model", choices=("vae", "ae"), default="vae", help="vae or plain autoencoder (default: vae)")
    p.add_argument("--arch", choices=("mlp", "conv"), default="mlp", help="network type (default: mlp)")
    p.add_argument("--latent-dim", type=int, default=2, help="size of the latent code (default: 2)")
    p.add_argument("--hidden", type=int, nargs="+", default=list(ModelConfig.hidden), metavar="N",
                   help="MLP layer widths, input side first (default: %(default)s)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=d.epochs, help="total epochs (default: %(default)s)")
    p.add_argument("--beta", type=float, default=d.beta, help="weight of the KL term (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument(
        "--lr", type=float, default=d.lr, help="peak Adam learning rate, cosine-decayed (default: %(default)s)"
    )
    p.add_argument("--schedule", choices=("cosine", "constant"), default=d.schedule,
                   help="learning-rate schedule (default: %(default)s)")  # fmt: skip
    p.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="decoupled weight decay of AdamW (default: %(default)s, plain Adam)")  # fmt: skip
    p.add_argument("--ema", type=float, default=d.ema, metavar="DECAY",
                   help="ship a moving average of the weights, e.g. 0.999 (default: 0, off)")  # fmt: skip
    p.add_argument("--output-bias", choices=("data", "random"), default=d.output_bias,
                   help="start the decoder's output bias at the mean training image (data) or at PyTorch's "
                        "random init (default: %(default)s)")  # fmt: skip
    p.add_argument("--activation", choices=("relu", "elu"), default=ModelConfig.activation,
                   help="nonlinearity between layers (default: %(default)s)")  # fmt: skip
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--out", type=Path, help="checkpoint folder (default: checkpoints/DATASET-MODEL-zN)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last complete epoch")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for the final -log p(x) (default 100)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    for flag, value in (
        ("--latent-dim", args.latent_dim),
        ("--epochs", args.epochs),
        ("--batch-size", args.batch_size),
        *(("--hidden", h) for h in args.hidden),
    ):
        if value < 1:
            p.error(f"{flag} must be at least 1")
    if not (args.lr > 0 and args.beta >= 0):
        p.error("--lr must be positive and --beta non-negative")
    if not 0 <= args.ema < 1:
        p.error("--ema must be at least 0 and below 1")
    config = TrainConfig(
        dataset=args.dataset,
        model=ModelConfig(kind=args.model, arch=args.arch, latent_dim=args.latent_dim, hidden=tuple(args.hidden),
                          activation=args.activation),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta, seed=args.seed,
        schedule=args.schedule, weight_decay=args.weight_decay, ema=args.ema, output_bias=args.output_bias,
    )  # fmt: skip
    out = args.out or Path("checkpoints") / checkpoint_name(args.dataset, args.model, args.latent_dim)
    try:
        card = train(config, out, args.resume, data_dir=args.data_dir, iwae_k=args.iwae_k, progress=not args.quiet)
    except (DatasetMissingError, CheckpointError, TrainingDiverged) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; {out} holds the last complete epoch (continue with --resume).", file=sys.stderr)
        return 130
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in card["metrics"].items() if isinstance(v, float))
    print(f"saved {out} after {card['training']['wall_time_s']:.0f} s: {metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
