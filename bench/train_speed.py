"""Training time-to-quality: our trainer against the PyTorch examples' VAE, side by side in one process.

Reference (github.com/pytorch/examples, vae/main.py): MLP 784-400-20, Adam lr 1e-3, batch 128, a torchvision
DataLoader over MNIST with `ToTensor`, sigmoid + BCE(sum) + analytic KL; test loss = the same loss summed over
the test set / 10,000, after every epoch. Ours: `vae.train.start_run` (the decoder's output bias at the mean
image, fused AdamW) and `vae.train.train_epoch` on in-memory uint8 tensors (an MLP VAE; see --ours-*), scored by
`vae.evaluate.evaluate` (the same single-sample negative ELBO). Epochs are
interleaved (reference, ours, reference, ...), each side with its own random stream, on the same thread
count; only training is timed (the test evaluations are not). Each side stops once it reaches the target.

    python -m bench.train_speed                          # 2 threads, target 105.6 nats
    python -m bench.train_speed --json train_speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.server import machine, print_table
from vae.data import Split, data_dir, load_split
from vae.evaluate import evaluate
from vae.models import ModelConfig
from vae.train import TrainConfig, start_run, train_epoch

TARGET = 105.6  # nats: the reference reaches about 105.5 after its 10 epochs


class ReferenceVAE(nn.Module):
    """The PyTorch examples' VAE, verbatim in structure."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def reference_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


@dataclass
class Side:
    """One trainer's progress: per-epoch training seconds and test losses, and its private random state."""

    name: str
    config: str
    epoch_seconds: list[float] = field(default_factory=list)
    test_losses: list[float] = field(default_factory=list)
    rng: torch.Tensor | None = None

    def reached(self, target: float) -> int | None:
        """The first epoch (1-based) whose test loss is at or below target."""
        return next((i + 1 for i, loss in enumerate(self.test_losses) if loss <= target), None)

    def seconds_to(self, target: float) -> float | None:
        epoch = self.reached(target)
        return None if epoch is None else sum(self.epoch_seconds[:epoch])


class Reference:
    def __init__(self, root: Path, seed: int = 1):
        from torchvision import datasets, transforms

        torch.manual_seed(seed)  # as the example does (its --seed default is 1)
        train = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
        test = datasets.MNIST(str(root), train=False, download=False, transform=transforms.ToTensor())
        self.train_loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True)
        self.test_loader = torch.utils.data.DataLoader(test, batch_size=128, shuffle=False)
        self.model = ReferenceVAE()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.side = Side("pytorch/examples VAE", "MLP 784-400-20, Adam 1e-3, batch 128, DataLoader + ToTensor")

    def train_epoch(self) -> None:
        self.model.train()
        train_loss = 0.0
        for data, _ in self.train_loader:
            self.optimizer.zero_grad()
            recon_batch, mu, logvar = self.model(data)
            loss = reference_loss(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            self.optimizer.step()

    def test_loss(self) -> float:
        self.model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in self.test_loader:
                recon_batch, mu, logvar = self.model(data)
                test_loss += reference_loss(recon_batch, data, mu, logvar).item()
        return test_loss / len(self.test_loader.dataset)


class Ours:
    """`vae.train.train_epoch` on the model and optimizer `vae.train.train` starts from."""

    def __init__(self, train: Split, test: Split, config: TrainConfig):
        self.train, self.test, self.config = train, test, config
        self.model, self.optimizer, _ = start_run(config, train)
        m = config.model
        shape = "-".join(str(n) for n in (784, *m.hidden, m.latent_dim))
        name = "ours (vae.train)" if config.output_bias == "data" else f"ours, {config.output_bias} output bias"
        self.side = Side(
            name,
            f"MLP {shape}, output bias {config.output_bias}, fused Adam "
            f"{config.lr:g} {config.schedule} over {config.epochs} epochs, batch {config.batch_size}, "
            "in-memory uint8",
        )

    def train_epoch(self, epoch: int) -> None:
        train_epoch(self.model, self.optimizer, self.train, self.config, epoch)

    def test_loss(self) -> float:
        self.model.eval()
        return float(evaluate(self.model, self.test, iwae_k=0)["neg_elbo"])


def _timed(side: Side, step) -> None:
    """Run one training epoch on the side's own random stream, timing it."""
    saved = torch.random.get_rng_state()
    if side.rng is not None:
        torch.random.set_rng_state(side.rng)
    t0 = time.perf_counter()
    step()
    side.epoch_seconds.append(time.perf_counter() - t0)
    side.rng = torch.random.get_rng_state()
    torch.random.set_rng_state(saved)


def run(root: Path, configs: list[TrainConfig], target: float, max_ref_epochs: int, log=print) -> list[Side]:
    """Interleave the trainers epoch by epoch until each reaches the target; returns their sides, reference first."""
    reference = Reference(root)
    reference.side.rng = torch.random.get_rng_state()
    data = load_split("mnist", True, root), load_split("mnist", False, root)
    trainers = [(reference, max_ref_epochs, lambda epoch: reference.train_epoch())]
    for config in configs:
        ours = Ours(*data, config)
        ours.side.rng = torch.random.get_rng_state()
        trainers.append((ours, config.epochs, ours.train_epoch))
    for epoch in range(max(max_ref_epochs, *(c.epochs for c in configs))):
        for trainer, epochs, train in trainers:
            side = trainer.side
            if epoch >= epochs or side.reached(target) is not None:
                continue
            _timed(side, lambda: train(epoch))  # noqa: B023 (called right away)
            saved = torch.random.get_rng_state()
            torch.random.set_rng_state(side.rng)
            side.test_losses.append(trainer.test_loss())
            side.rng = torch.random.get_rng_state()
            torch.random.set_rng_state(saved)
            log(
                f"  {side.name:<22} epoch {epoch + 1:>2}: {side.epoch_seconds[-1]:6.2f} s, "
                f"test -ELBO {side.test_losses[-1]:.2f}"
            )
    return [trainer.side for trainer, _, _ in trainers]


def summary(sides: list[Side], target: float) -> list[dict]:
    rows = []
    reference_seconds = sides[0].seconds_to(target)
    for side in sides:
        epoch = side.reached(target)
        seconds = side.seconds_to(target)
        rows.append(
            {
                "trainer": side.name,
                "config": side.config,
                "s_per_epoch": sum(side.epoch_seconds) / len(side.epoch_seconds),
                "epochs_to_target": epoch or f">{len(side.test_losses)}",
                "seconds_to_target": seconds,
                "best_test_neg_elbo": min(side.test_losses),
                "speedup": reference_seconds / seconds if reference_seconds and seconds else None,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.train_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for both trainers (default 2)")
    p.add_argument("--target", type=float, default=TARGET, help="test negative ELBO to reach (default 105.6)")
    p.add_argument("--max-ref-epochs", type=int, default=20, help="stop the reference here if it never gets there")
    p.add_argument("--ours-hidden", default="400", help="MLP widths, comma-separated (default 400)")
    p.add_argument("--ours-latent", type=int, default=20)
    p.add_argument("--ours-epochs", type=int, default=5)
    p.add_argument("--ours-batch", type=int, default=128)
    p.add_argument("--ours-lr", type=float, default=4e-3)
    p.add_argument("--ours-schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument(
        "--ablate",
        action="store_true",
        help="also train ours with PyTorch's random output bias (otherwise the same), interleaved",
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    hidden = tuple(int(h) for h in args.ours_hidden.split(","))
    config = TrainConfig(
        dataset="mnist",
        model=ModelConfig(kind="vae", arch="mlp", latent_dim=args.ours_latent, hidden=hidden),
        epochs=args.ours_epochs,
        batch_size=args.ours_batch,
        lr=args.ours_lr,
        seed=0,
        schedule=args.ours_schedule,
    )
    print(f"threads: {torch.get_num_threads()}; target {args.target} nats; {machine()}")
    configs = [config, replace(config, output_bias="random")] if args.ablate else [config]
    sides = run(data_dir(args.data_dir), configs, args.target, args.max_ref_epochs)
    rows = summary(sides, args.target)
    print_table(f"Time to a test negative ELBO <= {args.target} nats (MNIST, training time only)", rows, list(rows[0]))
    if args.json:
        raw = [{k: v for k, v in side.__dict__.items() if k != "rng"} for side in sides]
        command = "python -m bench.train_speed " + " ".join(sys.argv[1:] if argv is None else argv)
        args.json.write_text(
            json.dumps(
                {"rows": rows, "machine": machine(), "threads": args.threads, "raw": raw, "command": command}, indent=1
            )
        )
    return 0 if all(row["seconds_to_target"] is not None for row in rows[:2]) else 1  # the ablation may miss


if __name__ == "__main__":
    raise SystemExit(main())
