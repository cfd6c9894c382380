"""The one training run a runs folder holds at a time: started as a process of its own, watched, stopped, resumed.

`start` writes the run's settings into its new folder (config.json) and runs `python -m vae.train --config
RUN/config.json --out RUN --live` (the command line, so the page and the command line train alike) in a session of
its own, never in the caller's thread.

One run at a time per runs root, by an OS lock: the run's process holds an exclusive `flock` on `.train.lock.flock`
in the runs root for its whole life (`start` takes it and hands it to the process it starts; a command-line run in
the runs root takes it itself, `hold`), so "a run trains here" is "that lock is held", with no process numbers to
guess; the kernel lets it go when the process ends, however it ends. Beside it `train.lock` records the run: its
folder, its process number, that process's start time (/proc/PID/stat, field 22) and host name, and the hash of
the session that started it (never the session's id itself).

Everything is on disk, so a reloaded page, a second tab or another server process (another replica sharing the
runs volume) finds the run (`current_job`) and reads its progress from its folder (`vae.live`). `stop` writes a
stop request into the run's folder, which the run honours at its next step from any host (keeping its last complete
epoch, as on Ctrl-C); on the run's own host it also sends SIGINT, to that process only, and only when its number,
start time and host all match the record. `resumable_runs` lists the runs that can continue.

A `ServerPolicy` (`vae.serving`) given to `start`, `resume` and `stop` adds a shared server's rules: training on or
off, a size cap, a number of runs per session (the caller's `owner`, e.g. the browser session's id), runs owned
by the session that started them (`owner.json` in the run folder), and at most `max_runs` run folders kept: before
a new run starts, the oldest runs that cannot be resumed (finished, failed, or stopped before their first epoch)
are deleted to make room; stopped runs that can be resumed are kept, and when only those are left the start is
refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import ATLAS, CARD, TRAIN_STATE, runs_root, train_progress, write_json
from vae.data import DATASETS
from vae.live import FAILED, clear_stop, read_live, request_stop
from vae.models import ModelConfig
from vae.runs import CONFIG, TrainConfig, new_run_folder
from vae.serving import ServerPolicy, own_datasets

LOG = "train.log"  # the run's standard output and error, in its folder
LOCK = "train.lock"  # in the runs root: the record of the run last started there (see the module's docstring)
FLOCK = ".train.lock.flock"  # in the runs root: held (flock) by the training run's process while it lives
OWNER = "owner.json"  # in a run's folder: {"owner": hash of the session that started it}
LOCK_FD = "VAE_TRAIN_LOCK_FD"  # set for a run `start` launched: the number of its inherited, held lock file


# The training page's recipe: an MNIST z = 2 VAE reaches a test −ELBO below 150 nats within 30 s of Start on a 2-core
# CPU (bench/train_page.py; bench/README.md has the recipes tried).
DEFAULTS = TrainConfig(model=ModelConfig(hidden=(256, 128)), epochs=4, batch_size=128, lr=5e-3)
DEFAULT_IWAE_K = 0  # the final −log p(x) estimate (k = 100) would take longer than the training


class RunBusyError(RuntimeError):
    """A run is already training in this runs root; one at a time."""


class NotAllowedError(RuntimeError):
    """This server's policy refuses the run: training off, over a cap, a quota used up, or no room for it."""


class NotYourRunError(RuntimeError):
    """On a shared server, only the session that started a run may stop or resume it."""


class RunsFolderError(RuntimeError):
    """The runs folder cannot be written."""


@dataclass(frozen=True)
class Job:
    """The run last started in a runs root: its process (number, start time, host), folder, start time, the hash of
    the session that started it (None from the command line or before owners were recorded), and whether it runs."""

    pid: int
    folder: Path
    started: float  # seconds since the epoch
    alive: bool
    process_start: str | None = None  # /proc/PID/stat field 22 (clock ticks after boot), or psutil's create time
    host: str | None = None
    owner: str | None = None

    @property
    def name(self) -> str:
        return self.folder.name


def process_start(pid: int) -> str | None:
    """When process `pid` started, as a text that differs between two processes that had the same number: field 22
    of /proc/PID/stat, else psutil's create time where psutil is installed; None when it is gone or nobody tells."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # fields 3... follow the command's name; field 22 is the 20th
    except (OSError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except psutil.Error:
        return None


def owner_tag(owner: str | None) -> str | None:
    """What a run folder and the lock record keep of `owner` (a session's id): a hash, so the id itself never lands on
    the shared disk; None for no owner."""
    if owner is None:
        return None
    return hashlib.sha256(f"vae-explorer run owner\0{owner}".encode()).hexdigest()[:32]


def run_owner(folder: str | os.PathLike) -> str | None:
    """The owner hash recorded in a run folder (`owner_tag`), or None (a command-line run, or an unreadable record)."""
    try:
        owner = json.loads((Path(folder) / OWNER).read_text())["owner"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return owner if isinstance(owner, str) else None


def _read_lock(root: Path) -> dict | None:
    try:
        d = json.loads((root / LOCK).read_text())
        return {
            "pid": int(d["pid"]),
            "folder": str(d["folder"]),
            "started": float(d["started"]),
            "process_start": None if d.get("process_start") is None else str(d["process_start"]),
            "host": None if d.get("host") is None else str(d["host"]),
            "owner": None if d.get("owner") is None else str(d["owner"]),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _held(root: Path) -> bool:
    """Whether a live process holds the runs root's lock (a shared test lock is refused while it does)."""
    try:
        fd = os.open(root / FLOCK, os.O_RDONLY)
    except OSError:  # never made: no run was ever started here
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the test lock
    return False


def current_job(root: str | os.PathLike | None = None) -> Job | None:
    """The run last started under `root` (default `runs_root()`), alive or not; None before the first."""
    root = Path(root or runs_root())
    d = _read_lock(root)
    if d is None:
        return None
    return Job(d["pid"], Path(d["folder"]), d["started"], _held(root), d["process_start"], d["host"], d["owner"])


def active_job(root: str | os.PathLike | None = None) -> Job | None:
    """The run training now under `root`, or None."""
    job = current_job(root)
    return job if job is not None and job.alive else None


def runs_folder_problem(root: str | os.PathLike | None = None) -> str | None:
    """One sentence when no run can be started under `root` (default `runs_root()`): it cannot be made or written."""
    root = Path(root or runs_root())
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        return f"The runs folder {root} cannot be written ({err.strerror or err}), so no run can be started here."
    return None


@contextlib.contextmanager
def _guard(root: Path) -> Iterator[None]:
    """An exclusive lock on the runs root for one check-and-start (threads, processes and hosts alike)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        f = open(root / f".{LOCK}.guard", "a")  # noqa: SIM115 (held across the yield)
    except OSError:
        raise RunsFolderError(runs_folder_problem(root) or f"The runs folder {root} cannot be written.") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _take(root: Path) -> int:
    """The runs root's lock, held (an open descriptor; closing every copy of it lets the lock go). Only under the
    guard: a test lock (`_held`) may hold it for an instant, never a run, which the caller has ruled out."""
    fd = os.open(root / FLOCK, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _record(root: Path, pid: int, folder: Path, owner: str | None) -> Job:
    job = Job(pid, folder.resolve(), time.time(), True, process_start(pid), socket.gethostname(), owner)
    write_json(
        root / LOCK,
        {
            "pid": job.pid,
            "folder": str(job.folder),
            "started": job.started,
            "process_start": job.process_start,
            "host": job.host,
            "owner": job.owner,
        },
    )
    return job


def _busy_sentence(job: Job) -> str:
    live = read_live(job.folder)
    where = f", epoch {min(live.epoch + 1, live.epochs)} of {live.epochs}" if live and live.running else ""
    return (
        f"A run is already training ({job.name}{where}); this server trains one run at a time and queues none: "
        "wait for it to end, or stop it first."
    )


def _refuse_if_busy(root: Path) -> None:
    job = active_job(root)
    if job is not None:
        raise RunBusyError(_busy_sentence(job))


@contextlib.contextmanager
def hold(folder: str | os.PathLike, root: str | os.PathLike | None = None) -> Iterator[Job]:
    """Hold the lock of `root` (default: the folder's parent) while a command-line run trains in `folder`, so the
    page sees it and no second run starts there; RunBusyError (one sentence) while another run holds it."""
    folder = Path(folder)
    root = Path(root) if root is not None else folder.parent
    with _guard(root):
        _refuse_if_busy(root)
        fd = _take(root)
        try:
            clear_stop(folder)
            job = _record(root, os.getpid(), folder, None)
        except BaseException:
            os.close(fd)
            raise
    try:
        yield job
    finally:
        os.close(fd)


def default_threads() -> int:
    """Training threads: one fewer than the machine's cores (at least one), so the app stays responsive."""
    return max(1, (os.cpu_count() or 1) - 1)


def write_config(folder: Path, config: TrainConfig) -> Path:
    """Write `config` atomically as the run's config.json (`TrainConfig.to_dict`), which its command line reads."""
    path = folder / CONFIG
    write_json(path, config.to_dict())
    return path


NICE = 10  # a run the page starts yields the CPU to the server's answers


def train_arguments(
    folder: Path, threads: int | None, iwae_k: int, resume: bool = False, cpu_share: float = 1.0
) -> list[str]:
    """The `python -m vae.train` arguments of the run in `folder`: its settings from its config.json (`write_config`),
    watched (--live), with `threads` CPU threads (default `default_threads()`), `iwae_k` importance samples, a lower
    CPU priority (NICE) and at most `cpu_share` CPU-seconds per second (the server's policy)."""
    args = ["--config", str(folder / CONFIG), "--out", str(folder), "--live", "--quiet", "--nice", str(NICE)]
    args += ["--threads", str(threads or default_threads()), "--iwae-k", str(iwae_k), "--cpu-share", f"{cpu_share:g}"]
    return [*args, "--resume"] if resume else args


def _launch(root: Path, folder: Path, args: list[str], owner: str | None) -> Job:
    """Start `python -m vae.train ARGS` for `folder` in a session of its own, holding the runs root's lock, and
    record it (under the guard). Its output goes to the folder's train.log."""
    clear_stop(folder)
    fd = _take(root)
    try:
        with open(folder / LOG, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vae.train", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the server does not reach it
                pass_fds=(fd,),  # the lock goes with it: held while the run lives
                env={**os.environ, LOCK_FD: str(fd)},
            )
        job = _record(root, proc.pid, folder, owner)
    finally:
        os.close(fd)  # the run's copy holds the lock now
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends, so it leaves no zombie
    return job


def _policy_problem(config: TrainConfig, policy: ServerPolicy) -> str | None:
    """One sentence when `policy` refuses to train `config` at all (training off, over a cap, data not offered)."""
    if not policy.training:
        return "Training is off on this server."
    problem = policy.size_problem(config.model.parameter_count(), config.epochs)
    if problem is not None:
        return problem
    if not policy.paths_from_browser and config.dataset not in DATASETS:
        offered = {str(path.resolve()) for path in own_datasets(policy.own_data).values()}
        if config.dataset not in offered:
            return "This server trains on MNIST, Fashion-MNIST and the datasets it offers by name, nothing else."
    return None


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def run_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The run folders under `root`: its folders, not hidden and not links, oldest activity first."""
    root = Path(root or runs_root())
    try:
        found = [p for p in root.iterdir() if not p.name.startswith(".") and not p.is_symlink() and p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime)


def runs_started_by(owner: str | None, root: str | os.PathLike | None = None) -> int:
    """How many run folders under `root` record `owner` (a session's id) as the one that started them."""
    tag = owner_tag(owner)
    return 0 if tag is None else sum(run_owner(folder) == tag for folder in run_folders(root))


def make_room(root: Path, max_runs: int) -> list[Path]:
    """Delete the oldest runs that cannot be resumed (not the one training) until a new one fits under `max_runs`;
    NotAllowedError (one sentence) when the rest can still be resumed. The folders deleted, oldest first."""
    folders = run_folders(root)
    excess = len(folders) - max_runs + 1
    if excess <= 0:
        return []
    active = active_job(root)
    keep = set(resumable_runs(root)) | ({active.folder} if active is not None else set())
    gone = [folder for folder in folders if folder.resolve() not in keep][:excess]
    if len(gone) < excess:
        raise NotAllowedError(
            f"This server keeps at most {_runs(max_runs)} and the others can still be resumed, so none can make room: "
            "resume one to its end first."
        )
    for folder in gone:
        shutil.rmtree(folder, ignore_errors=True)
    return gone


def start(
    config: TrainConfig,
    root: str | os.PathLike | None = None,
    threads: int | None = None,
    iwae_k: int = 0,
    owner: str | None = None,
    policy: ServerPolicy | None = None,
) -> Job:
    """Start training `config` in a new folder under `root` (default `runs_root()`), watched (--live).

    Raises RunBusyError (one sentence) while another run trains here; two calls at once start one run. With a
    `policy` (default: personal, no limits), NotAllowedError (one sentence) for a run it refuses: training off, over
    its size cap, `owner`'s runs_per_session used up, or no room under max_runs; the oldest runs that cannot be
    resumed are deleted to make room. RunsFolderError when the runs folder cannot be written. `owner` (a session's
    id) is recorded, hashed, in the run's owner.json and the lock. `threads` defaults to `default_threads()`;
    `iwae_k` importance samples for the final −log p(x) (0: skipped).
    """
    root, policy = Path(root or runs_root()), policy or ServerPolicy()
    problem = _policy_problem(config, policy)
    if problem is not None:
        raise NotAllowedError(problem)
    with _guard(root):
        _refuse_if_busy(root)
        used = runs_started_by(owner, root)
        if policy.runs_per_session is not None and owner is not None and used >= policy.runs_per_session:
            raise NotAllowedError(
                f"You have started {_runs(used)}, as many as this server allows one visitor; "
                "every trained model can still be explored."
            )
        if policy.max_runs is not None:
            make_room(root, policy.max_runs)
        try:
            folder = new_run_folder(config, root)
            write_config(folder, config)
            write_json(folder / OWNER, {"owner": owner_tag(owner)})
        except OSError as err:
            raise RunsFolderError(f"The run folder cannot be written under {root} ({err.strerror or err}).") from None
        arguments = train_arguments(folder, threads, iwae_k, cpu_share=policy.train_cpu_share)
        return _launch(root, folder, arguments, owner_tag(owner))


def _check_owner(folder: Path, owner: str | None, policy: ServerPolicy | None, doing: str) -> None:
    if policy is not None and policy.owned_runs and (owner is None or run_owner(folder) != owner_tag(owner)):
        raise NotYourRunError(f"Only the visitor who started {folder.name} can {doing} it.")


def resume(
    folder: str | os.PathLike,
    root: str | os.PathLike | None = None,
    threads: int | None = None,
    iwae_k: int = 0,
    owner: str | None = None,
    policy: ServerPolicy | None = None,
) -> Job:
    """Continue the run in `folder` from its last complete epoch, with the settings it was started with. With a
    `policy` that owns runs, only its `owner` may (NotYourRunError); the policy's refusals are NotAllowedError."""
    root, folder = Path(root or runs_root()), Path(folder)
    _check_owner(folder, owner, policy, "resume")
    recorded = train_progress(folder)["config"]  # CheckpointError when there is nothing to resume
    config = TrainConfig.from_dict(recorded)  # ConfigError (one sentence each) for settings out of today's bounds
    problem = _policy_problem(config, policy or ServerPolicy())
    if problem is not None:
        raise NotAllowedError(problem)
    with _guard(root):
        _refuse_if_busy(root)
        write_config(folder, config)  # a run watched from the command line has none yet
        share = (policy or ServerPolicy()).train_cpu_share
        arguments = train_arguments(folder, threads, iwae_k, resume=True, cpu_share=share)
        return _launch(root, folder, arguments, run_owner(folder))


def stop(
    root: str | os.PathLike | None = None, owner: str | None = None, policy: ServerPolicy | None = None
) -> Job | None:
    """Stop the run training under `root` as Ctrl-C would (it keeps its last complete epoch): a stop request in its
    folder, which it honours at its next step on any host, and SIGINT to its process when that is on this host and
    its number and start time match the record. The job, or None when none was running. With a `policy` that owns
    runs, only the session `owner` that started it may (NotYourRunError, one sentence)."""
    job = active_job(root)
    if job is None:
        return None
    if policy is not None and policy.owned_runs and (owner is None or job.owner != owner_tag(owner)):
        raise NotYourRunError(f"Only the visitor who started {job.name} can stop it.")
    request_stop(job.folder)
    if (
        job.host == socket.gethostname()
        and job.process_start is not None
        and process_start(job.pid) == job.process_start
    ):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(job.pid, signal.SIGINT)
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
    try:
        states = list(root.glob(f"*/{TRAIN_STATE}"))
    except OSError:
        return []
    found = [
        p.parent.resolve()
        for p in states
        if not p.parent.is_symlink()
        and (live := read_live(p.parent)) is not None
        and live.state != FAILED  # a diverged run would diverge again
        and not finished(p.parent)
        and (active is None or p.parent.resolve() != active.folder)
    ]
    return sorted(found, key=lambda p: (p / TRAIN_STATE).stat().st_mtime, reverse=True)
