"""`python -m vae.train`: train a VAE or autoencoder, e.g. `python -m vae.train --dataset mnist --latent-dim 2`.

Its setting flags are generated from `TrainConfig` and `ModelConfig` (`vae.settings`); `--config PATH` reads a
TrainConfig as JSON (as `TrainConfig.to_dict` writes it; the training page starts runs so), and flags given beside it
override it. Every run gets a new folder under runs/ ($VAE_RUNS), named for its settings and the time; no run writes
into a folder that holds a model unless told to continue it (--resume) or replace it (--overwrite). A finished run
also writes its atlas, and its training state (`train_state.safetensors`, only needed by --resume) is deleted.

A run in the runs folder holds that folder's training lock while it trains (`vae.jobs.hold`), as runs started from
the training page do, so the page shows it and can stop it, and a second run there is refused in one sentence
(train it with --out elsewhere, or after this one). Runs with --out outside the runs folder take no lock. A stop
file in the run's folder (`vae.jobs.stop` writes it) and Ctrl-C stop the run at its next step, keeping its last
complete epoch; a second Ctrl-C stops it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import torch

from vae import jobs, settings
from vae.atlas import write_atlas
from vae.checkpoint import TRAIN_STATE, CheckpointError, runs_root
from vae.cli import ArgumentParser
from vae.data import DatasetFormatError, DatasetMissingError, load_split, other_dataset, resolve_dataset
from vae.devices import DEVICES, DeviceError, resolve_device
from vae.live import LiveWriter, StopWatcher
from vae.runs import RunFolderError, TrainConfig, new_run_folder
from vae.settings import ConfigError
from vae.train import TrainingDiverged, train


def parser(config: type = TrainConfig) -> ArgumentParser:
    """The command line's parser: one flag per setting of `config` (see `vae.settings.add_arguments`) and the run's
    own flags."""
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
        "--config",
        type=Path,
        metavar="PATH",
        help="read the settings from this JSON file (a TrainConfig as the training page writes it into a run's "
        "config.json; paths in it are taken as written); setting flags given beside it override it",
    )
    settings.add_arguments(p, config)
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
        "--nice",
        type=int,
        default=0,
        metavar="N",
        help="lower the run's CPU priority by N (0-19), so that a server starting it answers its visitors first "
        "(default: 0; the training page uses 10)",
    )
    p.add_argument(
        "--cpu-share",
        type=float,
        default=1.0,
        metavar="F",
        help="use at most F CPU-seconds per second (0 < F <= 1), pausing between steps: a shared server's runs "
        "leave the CPU to its visitors (default: 1, no pauses; shared mode: VAE_TRAIN_CPU_SHARE, 0.25)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="keep live.json and live_map.npz in the run folder up to date (progress, loss curve, latent map of 2,000 "
        "test images, prior samples; see vae/live.py) for the app's training page, and stop as on Ctrl-C when the "
        "process that started this one exits",
    )
    return p


def read_config_file(path: Path, config: type = TrainConfig) -> TrainConfig:
    """The config in the JSON file `path`; ConfigError with one sentence per problem (the file's too)."""
    try:
        d = json.loads(path.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read the config file {path} ({err.strerror or err}).") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"the config file {path} is not JSON ({err}).") from None
    return config.from_dict(d)


def config_from_args(args: argparse.Namespace, config: type = TrainConfig) -> TrainConfig:
    """The config that parsed arguments ask for: --config's file (or the defaults) with the setting flags given
    beside it applied; ConfigError with one sentence per bad value."""
    base = read_config_file(args.config, config) if args.config is not None else config()
    given = settings.given_settings(args, config)
    return settings.replace_settings(base, given) if given else base


@contextlib.contextmanager
def sigint_handler(handler):
    """Handle SIGINT with `handler` inside the block, as before it after."""
    before = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def lock_root(out: Path | None) -> Path | None:
    """The runs folder whose lock a run into `out` (None: a new folder there) must hold, or None: a run the training
    page started holds it already (inherited), and a run outside the runs folder takes none."""
    if os.environ.pop(jobs.LOCK_FD, None) is not None:
        return None
    root = runs_root()
    if out is not None and out.resolve().parent != root.resolve():
        return None
    return root


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.iwae_k < 0:
        p.error("--iwae-k must be 0 or more")
    if args.resume and args.out is None:
        p.error("--resume needs --out DIR, the folder of the run to continue")
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be 1 or more")
        torch.set_num_threads(args.threads)
    if not 0 <= args.nice <= 19:
        p.error("--nice must be from 0 to 19")
    if not 0 < args.cpu_share <= 1:
        p.error("--cpu-share must be above 0 and at most 1")
    if args.nice:
        os.nice(args.nice)
    try:
        config = config_from_args(args)
        device = resolve_device(args.device)
    except (ConfigError, DeviceError) as err:
        p.error(str(err).rstrip("."))
    out: Path | None = args.out
    locked = lock_root(out)
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
        with (
            jobs.hold(out, locked) if locked is not None else contextlib.nullcontext(),
            (
                LiveWriter(out, data[1], config, dataset.class_names, cpu_share=args.cpu_share)
                if args.live
                else StopWatcher(out, cpu_share=args.cpu_share)
            ) as live,
            sigint_handler(live.interrupt),  # during the epochs, Ctrl-C stops at the next step
        ):
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
    except (jobs.RunBusyError, jobs.RunsFolderError) as err:
        if args.out is None and out is not None:
            with contextlib.suppress(OSError):
                out.rmdir()  # the new run's folder, still empty
        print(f"error: {err}", file=sys.stderr)
        return 1
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
    (out / TRAIN_STATE).unlink(missing_ok=True)  # only --resume needs it, and a finished run has nothing to resume
    metrics = ", ".join(f"{k} {v:.2f}" for k, v in card["metrics"].items() if isinstance(v, float))
    print(f"saved {out} (model, card and atlas) after {card['training']['wall_time_s']:.0f} s: {metrics}")
    if "ood_complexity" not in atlas:
        print("Neither MNIST nor Fashion-MNIST is on disk, so the atlas scores no other dataset (no detection rate).")
    return 0
