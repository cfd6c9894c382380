"""Sample quality of the shipped models: prior vs. a Gaussian mixture fitted on the training codes.

    python scripts/sample_quality.py train   # trains the two classifiers into checkpoints/classifiers/
    python scripts/sample_quality.py table   # the markdown table of checkpoints/README.md, for all shipped models,
                                             # and checkpoints/classifiers/sample_quality.json, which /map shows

Both run on one CPU thread (the machine is shared); `--data-dir` defaults to $VAE_DATA_DIR or ./data.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vae.checkpoint import CheckpointError, find_checkpoints, load_atlas, load_model, read_card, write_json  # noqa: E402
from vae.cli import ArgumentParser  # noqa: E402
from vae.data import DATASETS, DatasetFormatError, DatasetMissingError, dataset_of, load_split  # noqa: E402
from vae.latent import decode  # noqa: E402
from vae.quality import (  # noqa: E402
    CARD_NAME,
    CLASSIFIERS,
    MEASURED,
    ClassifierError,
    accuracy,
    architecture,
    classifier_path,
    load_classifier,
    reference_stats,
    save_classifier,
    score_samples,
    train_classifier,
)
from vae.samplers import MixtureFileError  # noqa: E402

EPOCHS = 6
SAMPLES = 10_000


def train(data_dir: str | None, folder: Path, epochs: int) -> None:
    card = {
        "architecture": architecture(),
        "features": "the 128-D ReLU output of the dense layer (the input of the last layer)",
        "weights": "float16 safetensors",
        "command": "python scripts/sample_quality.py train",
        "training": {
            "split": "train (60,000 images, pixels in [0, 1])",
            "optimizer": "Adam, lr 2e-3, cosine decay to 0",
            "batch_size": 128,
            "epochs": epochs,
            "seed": 0,
            "threads": 1,
        },
        "datasets": {},
    }
    for dataset in DATASETS:
        start = time.perf_counter()
        net = train_classifier(load_split(dataset, True, data_dir), epochs=epochs)
        seconds = time.perf_counter() - start
        path = classifier_path(dataset, folder)
        save_classifier(net, path)
        acc = accuracy(load_classifier(dataset, folder), load_split(dataset, False, data_dir))
        card["datasets"][dataset] = {
            "file": path.name,
            "test_accuracy": round(acc, 4),
            "wall_time_s": round(seconds, 1),
            "bytes": path.stat().st_size,
        }
        print(f"{dataset}: test accuracy {acc:.4f}, {seconds:.0f} s, {path} ({path.stat().st_size} bytes)")
    write_json(folder / CARD_NAME, card)


def table(data_dir: str | None, root: Path, n: int, out: Path) -> None:
    """Score each model's prior samples and its shipped mixture's (sampler.npz); print the table, write `out`."""
    from vae.checkpoint import weights_sha256
    from vae.holes import prior_gap
    from vae.samplers import load_sampler, sample_gmm, sample_prior

    start, measured = time.perf_counter(), {}
    print("| model | prior gap | sampler | confidence | coverage (nats) | Fréchet | prior / GMM |")
    print("|---|---|---|---|---|---|---|")
    for folder in find_checkpoints(root):
        card = read_card(folder)
        dataset = dataset_of(card).name
        net = load_classifier(dataset)
        reference = reference_stats(net, dataset, data_dir)
        model, _ = load_model(folder)
        gap = prior_gap(load_atlas(folder))
        gap_text = f"MMD² {gap['mmd2']:.4f}" + (f", KL {gap['kl']:.2f} nats" if "kl" in gap else "")
        gmm = load_sampler(folder)
        prior = score_samples(net, decode(model, sample_prior(model, n, seed=1)), reference)
        mixture = score_samples(net, decode(model, sample_gmm(gmm, n, seed=1)), reference)
        ratio = prior.frechet / mixture.frechet
        measured[folder.name] = {
            "weights_sha256": weights_sha256(folder),
            "samples": n,
            "prior_gap": gap,
            **{
                name: {k: round(float(v), 4) for k, v in asdict(q).items()}
                for name, q in (("prior", prior), ("mixture", mixture))
            },
        }
        for name, q in (("prior N(0, I)", prior), ("GMM, 10 full", mixture)):
            first = f"`{folder.name}` | {gap_text}" if name.startswith("prior") else " | "
            last = f"{ratio:.2f}×" if name.startswith("prior") else ""
            print(f"| {first} | {name} | {q.confidence:.3f} | {q.coverage:.3f} | {q.frechet:.2f} | {last} |")
        sys.stdout.flush()
    for dataset in DATASETS:  # the floor: real images the classifier was trained on, against the test split
        net = load_classifier(dataset)
        real = load_split(dataset, True, data_dir).as_float(slice(0, n))[:, 0].numpy()
        q = score_samples(net, real, reference_stats(net, dataset, data_dir))
        print(f"| {dataset} train images | – | – | {q.confidence:.3f} | {q.coverage:.3f} | {q.frechet:.2f} | |")
    write_json(out, {"command": "python scripts/sample_quality.py table", "models": measured})
    print(f"({n:,} samples per model and sampler; {time.perf_counter() - start:.0f} s; {out})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python scripts/sample_quality.py", description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("train", "table"))
    p.add_argument("--data-dir", help="dataset root (default: $VAE_DATA_DIR or ./data)")
    p.add_argument("--epochs", type=int, default=EPOCHS, help="classifier training epochs (train)")
    p.add_argument("--samples", type=int, default=SAMPLES, help="samples per model and sampler (table)")
    p.add_argument("--checkpoints", type=Path, default=Path("checkpoints"), help="models to score (table)")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.samples < 2:
        p.error("--epochs must be at least 1 and --samples at least 2")
    torch.set_num_threads(1)
    try:
        if args.command == "train":
            train(args.data_dir, CLASSIFIERS, args.epochs)
        else:
            table(args.data_dir, args.checkpoints, args.samples, MEASURED)
    except (CheckpointError, ClassifierError, MixtureFileError, DatasetMissingError, DatasetFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
