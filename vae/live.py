"""The live files of a training run, which the app draws while it trains (`vae.jobs` starts such runs).

A run trained with `python -m vae.train --live` keeps two files in its folder, each replaced atomically:

  live.json      progress: state, epochs and steps done and in all, seconds elapsed and left, the loss curve
                 (mean reconstruction and KL per image, nats, over each stretch of steps), and the test metrics
                 once they are known; rewritten about every second (`LiveWriter`, read back by `read_live`)
  live_map.npz   the latent means of a fixed subset of up to 2,000 test images (projected on their top two principal
                 directions beyond 2-D), their labels, and 8 x 8 images decoded from the prior; rewritten every few
                 seconds and at the end of each epoch (`read_live_map`)

and honours one more, written by others: `stop`, a request to stop (`vae.jobs.stop` writes it, from any host that
shares the runs folder). Every run of the command line, watched or not, checks for it a few times a second between
steps (`StopWatcher`) and then stops as on Ctrl-C, keeping its last complete epoch; a Ctrl-C (SIGINT) during the
epochs is honoured at the same place, the next step, so a stop never falls between an epoch's checkpoint and its
record here. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vae.checkpoint import atomic_write, write_json
from vae.data import Split
from vae.latent import prior_samples
from vae.models import Model
from vae.rendering import to_uint8

if TYPE_CHECKING:
    from vae.runs import TrainConfig

LIVE = "live.json"
LIVE_MAP = "live_map.npz"
MAP_IMAGES = 2000  # test images on the live map
PRIOR_GRID = 8  # the prior samples form a PRIOR_GRID x PRIOR_GRID grid
CURVE_EVERY = 10  # steps per point of the loss curve
# A run's state in live.json:
TRAINING = "training"
EVALUATING = "evaluating"  # all epochs done; measuring the test split
ATLAS_STATE = "atlas"  # the test metrics are known; building the atlas
DONE = "done"
STOPPED = "stopped"  # Ctrl-C, `vae.jobs.stop`, or the process that started it gone: the last complete epoch is kept
FAILED = "failed"  # with the error's sentence (a NaN loss, missing data...)
RUNNING_STATES = (TRAINING, EVALUATING, ATLAS_STATE)
STOP = "stop"  # in a run's folder: a request to stop at the next step (its content is not read)
STOP_CHECK_S = 0.2  # how often a training run looks for the stop file


def map_subset(n_test: int, n: int = MAP_IMAGES) -> np.ndarray:
    """The indices (sorted, int64) of the test images on the live map: a fixed random choice of min(n, n_test)."""
    return np.sort(np.random.default_rng(0).permutation(n_test)[: min(n, n_test)])


def project_2d(codes: np.ndarray) -> np.ndarray:
    """Codes (N, z) as (N, 2): the codes themselves for z <= 2 (a zero column added for z = 1), else their
    coordinates along the top two principal directions, signs fixed so the picture does not flip between frames."""
    codes = np.asarray(codes, dtype=np.float32)
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1])))
    centred = codes - codes.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2] * np.sign(vt[:2].sum(1, keepdims=True) + 1e-12)
    return (centred @ components.T).astype(np.float32)


@dataclass(frozen=True)
class LiveView:
    """What live.json says about a run (see the module's docstring); curve arrays are float (P,)."""

    state: str
    name: str
    kind: str  # "vae" or "ae"
    beta: float
    class_names: tuple[str, ...]
    epoch: int  # epochs done
    epochs: int
    step: int  # steps done, all epochs
    steps: int
    elapsed_s: float  # seconds since this session of the run began (a resumed run starts again at 0)
    eta_s: float | None  # seconds of training left, at the rate of this session
    first_step: int  # steps that were done when this session started (0 unless resumed)
    curve_step: np.ndarray
    recon: np.ndarray  # nats per image
    kl: np.ndarray  # nats per image (0 for an autoencoder)
    metrics: dict | None = None
    message: str | None = None
    updated: float = 0.0  # when it was written, seconds since the epoch

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    @property
    def fraction(self) -> float:
        """Share of the training steps done, 0 to 1."""
        return min(1.0, self.step / self.steps) if self.steps else 0.0

    @property
    def curve_epoch(self) -> np.ndarray:
        """The curve's x: epochs (fractional)."""
        return self.curve_step * self.epochs / max(self.steps, 1)


@dataclass(frozen=True)
class LiveMap:
    """What live_map.npz holds: map coordinates (N, 2) float32, labels (N,) uint8, prior samples uint8 (8, 8, 28, 28),
    the step they were drawn at, and whether the coordinates are principal components ('pca') or the codes ('z')."""

    coords: np.ndarray
    labels: np.ndarray
    prior: np.ndarray
    step: int
    axes: str


def read_live(folder: str | os.PathLike) -> LiveView | None:
    """The live view of a run folder; None when it has none (or an unreadable one)."""
    try:
        d = json.loads((Path(folder) / LIVE).read_text())
        curve = d["curve"]
        return LiveView(
            state=d["state"],
            name=d["name"],
            kind=d["kind"],
            beta=float(d["beta"]),
            class_names=tuple(str(n) for n in d["class_names"]),
            epoch=int(d["epoch"]),
            epochs=int(d["epochs"]),
            step=int(d["step"]),
            steps=int(d["steps"]),
            elapsed_s=float(d["elapsed_s"]),
            eta_s=None if d["eta_s"] is None else float(d["eta_s"]),
            first_step=int(d["first_step"]),
            curve_step=np.asarray(curve["step"], dtype=np.int64),
            recon=np.asarray(curve["recon"], dtype=np.float64),
            kl=np.asarray(curve["kl"], dtype=np.float64),
            metrics=d.get("metrics"),
            message=d.get("message"),
            updated=float(d.get("updated", 0.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_live_map(folder: str | os.PathLike) -> LiveMap | None:
    """The latest live map of a run folder (never unpickles); None when it has none (or an unreadable one)."""
    try:
        with np.load(Path(folder) / LIVE_MAP, allow_pickle=False) as npz:
            return LiveMap(npz["coords"], npz["labels"], npz["prior"], int(npz["step"]), str(npz["axes"]))
    except Exception:  # FileNotFoundError, zipfile.BadZipFile, KeyError, ValueError...
        return None


def request_stop(folder: str | os.PathLike) -> None:
    """Ask the run training in `folder` to stop at its next step (it keeps its last complete epoch)."""
    write_json(Path(folder) / STOP, {"requested": time.time()})


def clear_stop(folder: str | os.PathLike) -> None:
    """Forget a stop request left in `folder` (before the run there starts or resumes)."""
    (Path(folder) / STOP).unlink(missing_ok=True)


@dataclass
class Throttle:
    """Holds a run to `share` CPU-seconds per second of wall time (0 < share <= 1): after a step that got ahead, it
    sleeps until the run's CPU time (all its threads) over the wall time since it began is back at `share`."""

    share: float = 1.0
    cpu: Callable[[], float] = time.process_time
    wall: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self._cpu0, self._wall0 = self.cpu(), self.wall()

    def wait(self) -> None:
        if self.share >= 1:
            return
        ahead = (self.cpu() - self._cpu0) / self.share - (self.wall() - self._wall0)
        if ahead > 0:
            self.sleep(ahead)


@dataclass
class StopWatcher:
    """The observer of a run that nobody draws: it stops the run as Ctrl-C would (KeyboardInterrupt at a step
    boundary) when its folder gets a stop file, when a SIGINT came during the epochs (`interrupt`, the handler the
    command line installs), or, with `watch_parent`, when the process that started it has exited. `LiveWriter` keeps
    one of these, so a watched run stops alike."""

    folder: Path
    watch_parent: bool = False
    cpu_share: float = 1.0  # CPU-seconds per second the run may use (`Throttle`), waited out after each step
    training: bool = False  # between `begin` and `evaluating`: a SIGINT waits for the next step
    requested: bool = False
    _last_check: float = 0.0

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self._parent = os.getppid()
        self.throttle = Throttle(self.cpu_share)

    def check(self) -> None:
        """Raise KeyboardInterrupt when a stop was asked for (looks for the file at most every STOP_CHECK_S)."""
        if self.requested:
            raise KeyboardInterrupt
        now = time.monotonic()
        if now - self._last_check < STOP_CHECK_S:
            return
        self._last_check = now
        if (self.folder / STOP).exists():
            raise KeyboardInterrupt
        if self.watch_parent and os.getppid() != self._parent:
            raise KeyboardInterrupt  # nobody supervises the run any more: stop it as Ctrl-C does

    def interrupt(self, signum, frame) -> None:
        """The SIGINT handler: during the epochs, stop at the next step; otherwise (or the second time) at once."""
        if self.training and not self.requested:
            self.requested = True
            return
        raise KeyboardInterrupt

    # --- the observer `vae.train.train` calls ---

    def begin(self, model: Model, epochs_done: int, n_batches: int) -> None:
        self.training = True
        self._last_check = 0.0
        self.throttle.restart()
        self.check()

    def step(self, model: Model, recon: torch.Tensor, kl: torch.Tensor) -> None:
        self.check()
        self.throttle.wait()

    def epoch_done(self, model: Model, epochs_done: int) -> None:
        pass

    def evaluating(self) -> None:
        self.training = False
        if self.requested:  # asked for while the last epoch's checkpoint was written
            raise KeyboardInterrupt

    def evaluated(self, metrics: dict) -> None:
        pass

    def __enter__(self) -> StopWatcher:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        with contextlib.suppress(OSError):
            clear_stop(self.folder)  # honoured (or moot: the run ended)


@dataclass
class LiveWriter:
    """The observer `vae.train.train` calls as a run goes (`--live`): writes live.json and live_map.npz.

    Use it as a context manager around training: leaving it records how the run ended: done, stopped
    (KeyboardInterrupt: Ctrl-C, a stop file, or the supervising process gone; see `StopWatcher`, whose `interrupt`
    is its SIGINT handler too) or failed (any other error, with its sentence). It never touches the global random
    state, so a watched run trains bit-for-bit as an unwatched one.
    """

    folder: Path
    test: Split  # the run's test split; `map_subset` of it goes on the live map
    config: TrainConfig
    class_names: tuple[str, ...]
    json_every_s: float = 1.0
    map_every_s: float = 3.0
    watch_parent: bool = True  # stop (as Ctrl-C) when the process that started this one exits
    cpu_share: float = 1.0  # CPU-seconds per second the run may use (`Throttle`)

    state: str = TRAINING
    n_batches: int = 0  # steps per epoch
    _first_step: int | None = None  # steps done before this session; None until `begin`
    _step: int = 0
    _epoch: int = 0
    _t0: float = field(default_factory=time.perf_counter)
    _sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0])  # recon, kl, steps since the last point
    _curve: dict[str, list] = field(default_factory=lambda: {"step": [], "recon": [], "kl": []})
    _last_json: float = 0.0
    _last_map: float = 0.0
    _metrics: dict | None = None
    _message: str | None = None

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.stops = StopWatcher(self.folder, watch_parent=self.watch_parent, cpu_share=self.cpu_share)
        self._subset = torch.from_numpy(map_subset(len(self.test)))
        z = self.config.model.latent_dim
        self._prior = torch.from_numpy(prior_samples(PRIOR_GRID * PRIOR_GRID, z, seed=0))

    def interrupt(self, signum, frame) -> None:
        """The run's SIGINT handler (`StopWatcher.interrupt`)."""
        self.stops.interrupt(signum, frame)

    # --- called by vae.train.train ---

    def begin(self, model: Model, epochs_done: int, n_batches: int) -> None:
        """Training starts (or resumes) after `epochs_done` epochs of `n_batches` steps: keep the curve of the epochs
        already done."""
        self.n_batches = n_batches
        self._epoch, self._first_step = epochs_done, epochs_done * n_batches
        self._step = self._first_step
        old = read_live(self.folder)
        if old is not None:
            keep = old.curve_step <= self._first_step
            self._curve = {
                "step": old.curve_step[keep].tolist(),
                "recon": old.recon[keep].tolist(),
                "kl": old.kl[keep].tolist(),
            }
        self._t0 = time.perf_counter()
        self._write_map(model)
        self._write_json()
        self.stops.begin(model, epochs_done, n_batches)

    def step(self, model: Model, recon: torch.Tensor, kl: torch.Tensor) -> None:
        """One optimizer step is done; `recon` and `kl` are the batch's means (0-d tensors, nats per image)."""
        self._step += 1
        self._sums[0] += recon.item()
        self._sums[1] += kl.item()
        self._sums[2] += 1
        if self._step % CURVE_EVERY == 0:
            self._add_point()
        self.stops.step(model, recon, kl)
        now = time.perf_counter()
        if now - self._last_map >= self.map_every_s:
            self._write_map(model)
        if now - self._last_json >= self.json_every_s:
            self._write_json()

    def epoch_done(self, model: Model, epochs_done: int) -> None:
        """An epoch ended and its checkpoint is written; the last epoch's map is always drawn."""
        self._epoch = epochs_done
        if epochs_done == self.config.epochs or time.perf_counter() - self._last_map >= self.map_every_s:
            self._write_map(model)
        self._write_json()

    def evaluating(self) -> None:
        """All epochs are done; the test metrics are being computed."""
        self.stops.evaluating()
        self.state = EVALUATING
        self._write_json()

    def evaluated(self, metrics: dict) -> None:
        """The test metrics are known (and in the card); the atlas comes next."""
        self.state, self._metrics = ATLAS_STATE, metrics
        self._write_json()

    def __enter__(self) -> LiveWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.stops.__exit__(kind, error, traceback)
        if self._first_step is None:  # it never began (a refused folder...): the folder's files stay as they were
            return
        if kind is None:
            self.state = DONE
        elif issubclass(kind, KeyboardInterrupt):
            self.state = STOPPED
        else:
            self.state, self._message = FAILED, str(error)
        with contextlib.suppress(OSError):
            self._write_json()

    # --- the files ---

    def _add_point(self) -> None:
        recon, kl, n = self._sums
        if n:
            self._curve["step"].append(self._step)
            self._curve["recon"].append(round(recon / n, 3))
            self._curve["kl"].append(round(kl / n, 4))
        self._sums = [0.0, 0.0, 0]

    def _write_json(self) -> None:
        self._last_json = time.perf_counter()
        first = self._first_step or 0
        steps = self.n_batches * self.config.epochs
        elapsed = time.perf_counter() - self._t0
        done_here = self._step - first
        eta = elapsed / done_here * (steps - self._step) if done_here > 0 else None
        write_json(
            self.folder / LIVE,
            {
                "state": self.state,
                "name": self.folder.name,
                "kind": self.config.model.kind,
                "beta": self.config.beta,
                "class_names": list(self.class_names),
                "epoch": self._epoch,
                "epochs": self.config.epochs,
                "step": self._step,
                "steps": steps,
                "elapsed_s": round(elapsed, 2),
                "eta_s": None if eta is None or self.state != TRAINING else round(eta, 2),
                "first_step": first,
                "curve": self._curve,
                "metrics": self._metrics,
                "message": self._message,
                "updated": time.time(),
            },
        )

    @torch.no_grad()
    def _write_map(self, model: Model) -> None:
        self._last_map = time.perf_counter()
        device = next(model.parameters()).device
        x = self.test.as_float(self._subset, device)
        mu = model.encode(x)[0].float().cpu().numpy()
        prior = model.decode(self._prior.to(device)).float().cpu().numpy()
        arrays = {
            "coords": project_2d(mu),
            "labels": self.test.labels[self._subset].numpy().astype(np.uint8),
            "prior": to_uint8(prior.reshape(PRIOR_GRID, PRIOR_GRID, 28, 28)),
            "step": np.array(self._step, dtype=np.int64),
            "axes": np.array("z" if mu.shape[1] <= 2 else "pca"),
        }

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
                np.savez(f, **arrays)

        atomic_write(self.folder / LIVE_MAP, write)
