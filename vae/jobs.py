"""The one training run a server starts at a time: started as a process of its own, watched, stopped, resumed.

`start` writes the run's settings into its new folder (config.json) and runs `python -m vae.train --config
RUN/config.json --out RUN --live` (the command line, so the page and the command line train alike) in a session of
its own, never in the caller's thread, one at a time per runs root: the lock file `train.lock` there names the
process and its folder, and a second start is refused while that process lives (`RunBusyError`).
Everything is on disk, so a reloaded page, a second tab or another server process finds the run (`current_job`) and
reads its progress from its folder (`vae.live`); `stop` interrupts it as Ctrl-C would, keeping its last complete
epoch, and `resumable_runs` lists the runs that can continue.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import ATLAS, CARD, TRAIN_STATE, runs_root, train_progress, write_json
from vae.live import FAILED, read_live
from vae.models import ModelConfig
from vae.runs import CONFIG, TrainConfig, new_run_folder

LOG = "train.log"  # the run's standard output and error, in its folder
LOCK = "train.lock"  # in the runs root: {"pid", "folder", "started"} of the run last started there


# The training page's recipe: an MNIST z = 2 VAE reaches a test −ELBO below 150 nats within 30 s of Start on a 2-core
# CPU (bench/train_page.py; bench/README.md has the recipes tried).
DEFAULTS = TrainConfig(model=ModelConfig(hidden=(256, 128)), epochs=4, batch_size=128, lr=5e-3)
DEFAULT_IWAE_K = 0  # the final −log p(x) estimate (k = 100) would take longer than the training


class RunBusyError(RuntimeError):
    """A run is already training in this runs root; one at a time."""


@dataclass(frozen=True)
class Job:
    """The run the app last started in a runs root: its process, folder and start time, and whether it still runs."""

    pid: int
    folder: Path
    started: float  # seconds since the epoch
    alive: bool

    @property
    def name(self) -> str:
        return self.folder.name


def _alive(pid: int) -> bool:
    """Whether process `pid` is a training run: it exists, is not a zombie (an exited child nobody has waited for
    yet), and, where /proc tells, runs vae.train (not another process that got the number of a dead run)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (macOS): trust os.kill
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"vae.train" in command


def _read_lock(root: Path) -> dict | None:
    try:
        d = json.loads((root / LOCK).read_text())
        return {"pid": int(d["pid"]), "folder": str(d["folder"]), "started": float(d["started"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def current_job(root: str | os.PathLike | None = None) -> Job | None:
    """The run the app last started under `root` (default `runs_root()`), alive or not; None before the first."""
    root = Path(root or runs_root())
    d = _read_lock(root)
    if d is None:
        return None
    return Job(d["pid"], Path(d["folder"]), d["started"], _alive(d["pid"]))


def active_job(root: str | os.PathLike | None = None) -> Job | None:
    """The run training now under `root`, or None."""
    job = current_job(root)
    return job if job is not None and job.alive else None


@contextlib.contextmanager
def _guard(root: Path):
    """An exclusive lock on the runs root for one check-and-start (threads and processes alike)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{LOCK}.guard", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def default_threads() -> int:
    """Training threads: one fewer than the machine's cores (at least one), so the app stays responsive."""
    return max(1, (os.cpu_count() or 1) - 1)


def write_config(folder: Path, config: TrainConfig) -> Path:
    """Write `config` atomically as the run's config.json (`TrainConfig.to_dict`), which its command line reads."""
    path = folder / CONFIG
    write_json(path, config.to_dict())
    return path


def train_arguments(folder: Path, threads: int | None, iwae_k: int, resume: bool = False) -> list[str]:
    """The `python -m vae.train` arguments of the run in `folder`: its settings from its config.json (`write_config`),
    watched (--live), with `threads` CPU threads (default `default_threads()`) and `iwae_k` importance samples."""
    args = ["--config", str(folder / CONFIG), "--out", str(folder), "--live", "--quiet"]
    args += ["--threads", str(threads or default_threads()), "--iwae-k", str(iwae_k)]
    return [*args, "--resume"] if resume else args


def _launch(root: Path, folder: Path, args: list[str]) -> Job:
    """Start `python -m vae.train ARGS` for `folder` in a session of its own and record it in the lock (under the
    guard). Its output goes to the folder's train.log."""
    with open(folder / LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vae.train", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: `stop` signals it alone, a Ctrl-C of the server does not
        )
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends, so it leaves no zombie
    job = Job(proc.pid, folder.resolve(), time.time(), True)
    write_json(root / LOCK, {"pid": job.pid, "folder": str(job.folder), "started": job.started})
    return job


def _refuse_if_busy(root: Path) -> None:
    job = active_job(root)
    if job is not None:
        live = read_live(job.folder)
        where = f", epoch {min(live.epoch + 1, live.epochs)} of {live.epochs}" if live and live.running else ""
        raise RunBusyError(
            f"A run is already training ({job.name}{where}); one runs at a time: wait for it or stop it first."
        )


def start(
    config: TrainConfig,
    root: str | os.PathLike | None = None,
    threads: int | None = None,
    iwae_k: int = 0,
) -> Job:
    """Start training `config` in a new folder under `root` (default `runs_root()`), watched (--live).

    Raises RunBusyError (one sentence) while another run started here is alive; two calls at once start one run.
    `threads` defaults to `default_threads()`; `iwae_k` importance samples for the final −log p(x) (0: skipped).
    """
    root = Path(root or runs_root())
    with _guard(root):
        _refuse_if_busy(root)
        folder = new_run_folder(config, root)
        write_config(folder, config)
        return _launch(root, folder, train_arguments(folder, threads, iwae_k))


def resume(
    folder: str | os.PathLike,
    root: str | os.PathLike | None = None,
    threads: int | None = None,
    iwae_k: int = 0,
) -> Job:
    """Continue the run in `folder` from its last complete epoch, with the settings it was started with."""
    root, folder = Path(root or runs_root()), Path(folder)
    recorded = train_progress(folder)["config"]  # CheckpointError when there is nothing to resume
    config = TrainConfig.from_dict(recorded)  # ConfigError (one sentence each) for settings out of today's bounds
    with _guard(root):
        _refuse_if_busy(root)
        write_config(folder, config)  # a run watched from the command line has none yet
        return _launch(root, folder, train_arguments(folder, threads, iwae_k, resume=True))


def stop(root: str | os.PathLike | None = None) -> Job | None:
    """Interrupt the run training under `root` as Ctrl-C would (it keeps its last complete epoch); the job, or None
    when none was running."""
    job = active_job(root)
    if job is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGINT)
    return job


def last_log_line(folder: str | os.PathLike) -> str | None:
    """The last non-empty line the run printed (its error, when it failed before training), or None."""
    try:
        lines = (Path(folder) / LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    return lines[-1].strip() if lines else None


def finished(folder: str | os.PathLike) -> bool:
    """Whether a run folder holds a finished model: test metrics in its card and an atlas."""
    try:
        card = json.loads((Path(folder) / CARD).read_text())
    except (OSError, ValueError):
        return False
    return card.get("metrics") is not None and (Path(folder) / ATLAS).exists()


def resumable_runs(root: str | os.PathLike | None = None) -> list[Path]:
    """Watched runs (started here, or with --live) under `root` that stopped before finishing and can continue: a
    training state, no finished model, and not training now; newest first."""
    root = Path(root or runs_root())
    active = active_job(root)
    found = [
        p.parent.resolve()
        for p in root.glob(f"*/{TRAIN_STATE}")
        if (live := read_live(p.parent)) is not None
        and live.state != FAILED  # a diverged run would diverge again
        and not finished(p.parent)
        and (active is None or p.parent.resolve() != active.folder)
    ]
    return sorted(found, key=lambda p: (p / TRAIN_STATE).stat().st_mtime, reverse=True)
