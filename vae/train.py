"""The training loop: `train` a VAE or autoencoder of a `TrainConfig` into a run folder, epoch by epoch.

The dataset is MNIST, Fashion-MNIST or the user's own (an .npz file or an IDX folder, see `vae.data`); the device
is the CPU or a GPU (see `vae.devices`). Data stays in memory as uint8 tensors; each epoch ends with an atomic
checkpoint write, so a kill loses at most the epoch in progress and a resumed run continues bit-for-bit from the
last one. The command line (`python -m vae.train`, the atlas, the run's folder) is `vae.cli.train`.
"""

from __future__ import annotations

import copy
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from vae import __version__
from vae.checkpoint import (
    CARD,
    WEIGHTS,
    load_model,
    load_train_state,
    save_train_state,
    save_weights,
    write_json,
)
from vae.data import DatasetSpec, Split, resolve_dataset
from vae.evaluate import evaluate
from vae.live import LiveWriter
from vae.models import Model, build_model
from vae.objectives import neg_elbo
from vae.runs import TrainConfig, prepare_run_folder


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
    its (train, test) splits. The atlas is not built here: the command line (`vae.cli.train`) builds it after training.
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


if __name__ == "__main__":  # `python -m vae.train`: the command line is vae.cli.train
    from vae.cli.train import main

    sys.exit(main())
