"""Train a VAE or autoencoder: `python -m vae.train --dataset mnist --model vae --latent-dim 2`.

The dataset is MNIST, Fashion-MNIST or the user's own (an .npz file or an IDX folder, see `vae.data`); the device
is the CPU or a GPU (`--device`, see `vae.devices`).

Every run gets a new folder under runs/ ($VAE_RUNS), named for its settings and the time; no run writes into
a folder that holds a model unless told to continue it (--resume) or replace it (--overwrite). Data stays in
memory as uint8 tensors; each epoch ends with an atomic checkpoint write, so a kill loses at most the epoch in
progress and `--resume` continues bit-for-bit from the last one. A finished run also writes its atlas.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import platform
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from vae import __version__
from vae.atlas import write_atlas
from vae.checkpoint import (
    CARD,
    TRAIN_STATE,
    WEIGHTS,
    CheckpointError,
    load_model,
    load_train_state,
    save_train_state,
    save_weights,
    write_json,
)
from vae.cli import ArgumentParser
from vae.data import (
    DATASETS,
    DatasetFormatError,
    DatasetMissingError,
    DatasetSpec,
    Split,
    load_split,
    other_dataset,
    resolve_dataset,
)
from vae.devices import DEVICES, DeviceError, resolve_device
from vae.evaluate import evaluate
from vae.live import LiveWriter
from vae.models import ConfigError, Model, ModelConfig, build_model
from vae.objectives import neg_elbo
from vae.runs import RunFolderError, TrainConfig, new_run_folder, prepare_run_folder


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


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


def start_run(
    config: TrainConfig, train_split: Split, device: torch.device | str = "cpu"
) -> tuple[Model, torch.optim.Optimizer, Model | None]:
    """A fresh model on `device`, its optimizer (fused AdamW) and, with config.ema, the average that ships."""
    torch.manual_seed(config.seed)
    model = build_model(config.model)  # initialised on the CPU, so a seed gives the same start on any device
    if config.output_bias == "data":
        model.init_output_bias(train_split.mean_image())
    model.to(device)
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
    observer: LiveWriter | None = None,
) -> float:
    """One pass over `data` in a shuffle fixed by (seed, epoch); returns the mean loss per image.

    With `average` (a copy of the model), each step also moves it towards the weights (config.ema). The data stays
    on the CPU as uint8; each batch moves to the model's device. `observer` sees each step's reconstruction and KL.
    """
    device = next(model.parameters()).device
    torch.manual_seed(config.seed * 100_003 + epoch)  # epoch-local noise: resume is exact
    order = torch.randperm(len(data))
    n_batches = math.ceil(len(data) / config.batch_size)
    total = 0.0
    model.train()
    for step, idx in enumerate(order.split(config.batch_size)):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, (epoch + step / n_batches) / config.epochs)
        x = data.as_float(idx, device)
        logits, mu, logvar = model(x)
        loss, recon, kl = neg_elbo(logits, x, mu, logvar, config.beta)
        loss = loss.mean()
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
        if observer is not None:
            observer.step(model, recon.detach().mean(), kl.detach().mean())
        total += loss.item() * len(idx)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.2f}", refresh=False)
    return total / len(data)


def _card(
    config: TrainConfig,
    name: str,
    epochs_done: int,
    wall: float,
    history: list,
    dataset: DatasetSpec,
    device: torch.device,
) -> dict:
    import torchvision

    training = {**config.to_dict(), "epochs_done": epochs_done, "wall_time_s": round(wall, 1), "device": device.type}
    return {
        "name": name,
        "dataset": dataset.name,
        "data": dataset.card_entry(),
        "model": config.model.to_dict(),
        "training": training,
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
    dataset: DatasetSpec | None = None,
    device: torch.device | str = "cpu",
    observer: LiveWriter | None = None,
) -> dict:
    """Train into folder `out` on `device` and return its card (with test metrics once all epochs are done).

    `out` must not hold a model unless `resume` (continue the run there) or `overwrite` (replace it); see
    `prepare_run_folder`. `dataset` is `resolve_dataset(config.dataset)` where the caller has it already, `data`
    its (train, test) splits. The atlas is not built here: `main` (the command line) builds it after training.
    `observer` (`--live`) is told of every step, every epoch's end and the evaluation.
    """
    out, device = Path(out), torch.device(device)
    prepare_run_folder(out, config, resume, overwrite)
    dataset = dataset or resolve_dataset(config.dataset)
    train_split, test_split = data or (dataset.split(True, data_dir), dataset.split(False, data_dir))
    model, optimizer, average = start_run(config, train_split, device)
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
    if observer is not None:
        observer.begin(model, first, n_batches)
    for epoch in range(first, config.epochs):
        t0 = time.perf_counter()
        loss = train_epoch(model, optimizer, train_split, config, epoch, bar, average, observer)
        wall += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": round(loss, 4)})
        saved = {"history": history, "wall_time_s": wall, "config": config.to_dict()}
        save_train_state(out, model, optimizer, epoch + 1, saved, average)
        save_weights(model if average is None else average, out / WEIGHTS)
        write_json(out / CARD, _card(config, name, epoch + 1, wall, history, dataset, device))
        if on_epoch is not None:
            on_epoch(epoch + 1, loss)
        if observer is not None:
            observer.epoch_done(model, epoch + 1)
    bar.close()
    if observer is not None:
        observer.evaluating()
    card = _card(config, name, config.epochs, wall, history, dataset, device)
    shipped, _ = load_model(out)  # metrics of the float16 weights that ship, not of the float32 training copy
    card["metrics"] = evaluate(shipped, test_split, iwae_k)
    write_json(out / CARD, card)
    if observer is not None:
        observer.evaluated(card["metrics"])
    return card


def _parser() -> ArgumentParser:
    d, m = TrainConfig(), ModelConfig()
    p = ArgumentParser(
        prog="python -m vae.train",
        description="Train a VAE (or a plain autoencoder) on MNIST, Fashion-MNIST or your own data, on the CPU or a "
        "GPU. Each run gets a new folder under $VAE_RUNS (default ./runs), named for its settings and the time, e.g. "
        "runs/mnist-vae-z2-b0.5-20261129-2150-3f2a; a checkpoint is written after every epoch (Ctrl-C keeps the "
        "last complete one), and a finished run writes its atlas, so the app can open it at once. For MNIST and "
        "Fashion-MNIST both datasets' test splits must be on disk or downloadable (the atlas scores the other one "
        "too); for your own data the atlas scores MNIST or Fashion-MNIST where one is on disk.",
        epilog="Example: python -m vae.train --dataset mnist --model vae --latent-dim 2 --epochs 10",
    )
    p.add_argument(
        "--dataset",
        type=_dataset_arg,
        default=d.dataset,
        metavar="NAME|PATH",
        help="mnist, fashion-mnist, or your own data: an .npz file holding x_train and x_test (uint8, N×28×28, light "
        "on dark) and optionally y_train, y_test and class_names, or a folder in the MNIST IDX layout "
        "(default: %(default)s)",
    )
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
    p.add_argument(
        "--channels",
        type=int,
        nargs=2,
        default=list(m.channels),
        metavar="N",
        help="conv channels, input side first (default: %(default)s)",
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
    p.add_argument("--data-dir", help="root of MNIST and Fashion-MNIST (default: $VAE_DATA_DIR or ./data)")
    p.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where to train: auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or mps (default: auto)",
    )
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
    p.add_argument("--threads", type=int, help="CPU threads for PyTorch (default: PyTorch's, one per core)")
    p.add_argument(
        "--live",
        action="store_true",
        help="keep live.json and live_map.npz in the run folder up to date (progress, loss curve, latent map of 2,000 "
        "test images, prior samples; see vae/live.py) for the app's training page, and stop as on Ctrl-C when the "
        "process that started this one exits",
    )
    return p


def _dataset_arg(text: str) -> str:
    """--dataset as TrainConfig records it: a built-in name as given, an existing path made absolute (so --resume
    matches from any folder); anything else as given, for `resolve_dataset` to refuse in one sentence."""
    path = Path(text).expanduser()
    return str(path.resolve()) if text not in DATASETS and path.exists() else text


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig that parsed command-line arguments ask for (ConfigError when a value is out of range)."""
    model = ModelConfig(
        kind=args.model,
        arch=args.arch,
        latent_dim=args.latent_dim,
        hidden=tuple(args.hidden),
        channels=tuple(args.channels),
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
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be 1 or more")
        torch.set_num_threads(args.threads)
    try:
        config = config_from_args(args)
        device = resolve_device(args.device)
    except (ConfigError, DeviceError) as err:
        p.error(str(err).rstrip("."))
    out: Path | None = args.out
    # Ctrl-C and `vae.jobs.stop` (SIGINT) stop a run even where the shell that started it ignores SIGINT, as it does
    # for a job started in the background (`nohup streamlit run app.py &`); Python leaves an ignored SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        dataset = resolve_dataset(config.dataset)
        data = dataset.split(True, args.data_dir), dataset.split(False, args.data_dir)
        if dataset.source is None:  # the atlas needs the other one: fail before training, not after
            load_split(other_dataset(dataset.name), False, args.data_dir)
        if out is None:
            out = new_run_folder(config)
        with LiveWriter(out, data[1], config, dataset.class_names) if args.live else contextlib.nullcontext() as live:
            card = train(
                config,
                out,
                args.resume,
                args.overwrite,
                data=data,
                iwae_k=args.iwae_k,
                progress=not args.quiet,
                dataset=dataset,
                device=device,
                observer=live,
            )
            atlas = write_atlas(out, args.data_dir)
    except RunFolderError as err:
        p.error(str(err).rstrip("."))
    except (DatasetMissingError, DatasetFormatError, CheckpointError, TrainingDiverged) as err:
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
    if "ood_complexity" not in atlas:
        print("Neither MNIST nor Fashion-MNIST is on disk, so the atlas scores no other dataset (no detection rate).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
