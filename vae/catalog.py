"""Every model folder the app can offer: the shipped ones (`shipped_root()`) and the runs (`runs_root()`).

Each folder that holds (part of) a model becomes an `Entry` read from its card: dataset, kind, latent size, β,
architecture and width, epochs and the test loss, or the one sentence (`problem`) that says why it cannot be
opened: half-written, still training, no atlas, or an atlas built from other weights. A scan stats each folder's
files and reads a folder again only when one of them changed, so it can run on every page view; a new run shows up
on the next scan.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from vae.checkpoint import (
    CARD,
    RUN_FILES,
    TRAIN_STATE,
    WEIGHTS,
    CheckpointError,
    check_atlas,
    check_weights,
    holds_model,
    read_card,
    runs_root,
    shipped_root,
    weights_sha256,
)
from vae.data import DATASETS
from vae.sweep import SWEEP_DIR


@dataclass(frozen=True)
class Entry:
    """One model folder. The description fields are None where the card is missing or unreadable."""

    name: str  # the folder's name: what the address's ?model= holds
    folder: Path
    shipped: bool
    problem: str | None = None  # why it cannot be opened, one sentence; None when it can
    dataset: str | None = None
    kind: str | None = None  # "vae" or "ae"
    latent_dim: int | None = None
    beta: float | None = None  # weight of the KL term in training
    arch: str | None = None  # "mlp" or "conv"
    width: tuple[int, ...] = ()  # the MLP's hidden widths or the conv net's channels, input side first
    epochs: int | None = None  # epochs done
    loss: float | None = None  # test −ELBO (VAE) or BCE (autoencoder), nats per image
    written: float = 0.0  # when its newest file was written, seconds since the epoch
    sweep: bool = False  # one of the shipped β sweep's models (checkpoints/sweep/, `vae.sweep`)

    @property
    def loss_name(self) -> str:
        return "−ELBO" if self.kind == "vae" else "BCE"


def _stamp(folder: Path) -> tuple:
    """(name, mtime_ns, size, mode) of each model file present, not following links: changes whenever one is
    written or replaced."""
    stamp = []
    for name in RUN_FILES:
        try:
            st = (folder / name).lstat()
        except OSError:
            continue
        stamp.append((name, st.st_mtime_ns, st.st_size, stat.S_IFMT(st.st_mode)))
    return tuple(stamp)


def _irregular(folder: Path, stamp: tuple) -> str | None:
    """A sentence naming the first model file that is not a regular file (a link, a pipe, a device), or None."""
    for name, _, _, kind in stamp:
        if kind != stat.S_IFREG:
            return f"{folder / name} is not a regular file (a link or a special file), so the folder is not opened."
    return None


def _problem(folder: Path, card: dict | None) -> str | None:
    """Why the folder cannot be opened, or None."""
    if card is None:
        return f"{folder / CARD} is missing, so the folder is half-written; retrain the model or restore the folder."
    if not (folder / WEIGHTS).is_file():
        return f"{folder / WEIGHTS} is missing, so the folder is half-written; retrain the model or restore the folder."
    training = card.get("training") or {}
    if card.get("metrics") is None and (folder / TRAIN_STATE).is_file():
        done, total = training.get("epochs_done", "?"), training.get("epochs", "?")
        return (
            f"Training has not finished ({done} of {total} epochs): it is still running, or it was stopped and "
            f"`python -m vae.train` with its settings and `--out {folder} --resume` continues it."
        )
    try:
        check_weights(folder, card)
        check_atlas(folder, weights_sha256(folder))
    except (CheckpointError, OSError) as err:  # OSError: a file it may not read
        return str(err)
    return None


def _describe(folder: Path, shipped: bool, stamp: tuple) -> Entry:
    """The entry of a folder whose files are as `stamp` says."""
    return dataclasses.replace(_read(folder, shipped, stamp), sweep=shipped and folder.parent.name == SWEEP_DIR)


def _read(folder: Path, shipped: bool, stamp: tuple) -> Entry:
    written = max((mtime for _, mtime, _, _ in stamp), default=0) / 1e9
    irregular = _irregular(folder, stamp)
    if irregular:
        return Entry(folder.name, folder, shipped, irregular, written=written)
    try:
        card = read_card(folder) if (folder / CARD).exists() else None
    except (CheckpointError, OSError) as err:
        return Entry(folder.name, folder, shipped, str(err), written=written)
    if card is None:
        return Entry(folder.name, folder, shipped, _problem(folder, None), written=written)
    model, training, metrics = card["model"], card.get("training") or {}, card.get("metrics") or {}
    kind, arch = model["kind"], model.get("arch", "mlp")
    return Entry(
        name=folder.name,
        folder=folder,
        shipped=shipped,
        problem=_problem(folder, card),
        dataset=card["dataset"],
        kind=kind,
        latent_dim=int(model["latent_dim"]),
        beta=training.get("beta"),
        arch=arch,
        width=tuple(model.get("hidden" if arch == "mlp" else "channels") or ()),
        epochs=training.get("epochs_done"),
        loss=metrics.get("neg_elbo" if kind == "vae" else "bce"),
        written=written,
    )


_KNOWN: dict[tuple[Path, bool], tuple[tuple, Entry]] = {}  # (folder, shipped) -> (stamp, entry) of the last scan
_KNOWN_LOCK = threading.Lock()


def _entry(folder: Path, shipped: bool) -> Entry:
    """The folder's entry, read again only when its files changed (their stamp)."""
    stamp = _stamp(folder)
    known = _KNOWN.get((folder, shipped))
    if known is None or known[0] != stamp:
        known = (stamp, _describe(folder, shipped, stamp))
        with _KNOWN_LOCK:
            _KNOWN[folder, shipped] = known
    return known[1]


def _forget_gone(roots: tuple[Path, ...], seen: set[Path]) -> None:
    """Drop the remembered entries of folders under `roots` that the scan no longer found."""
    with _KNOWN_LOCK:
        for key in [k for k in _KNOWN if k[0].parent in roots and k[0] not in seen]:
            del _KNOWN[key]


def _folders(root: Path) -> list[Path]:
    """The subfolders of `root` that hold (part of) a model, links to folders left out; [] when root does not
    exist."""
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    return [c for c in children if not c.name.startswith(".") and not c.is_symlink() and c.is_dir() and holds_model(c)]


def _order(entry: Entry) -> tuple:
    """Shipped models by dataset, latent size and kind (VAE first); then runs, newest first; then the β sweep by
    dataset, kind and β."""
    if not entry.shipped:
        return (1, -entry.written, entry.name)
    dataset = DATASETS.index(entry.dataset) if entry.dataset in DATASETS else len(DATASETS)
    if entry.sweep:
        return (2, dataset, entry.dataset or "", entry.kind != "vae", entry.beta or 0.0, entry.name)
    return (0, dataset, entry.dataset or "", entry.latent_dim or 0, entry.kind != "vae", entry.name)


def catalog(shipped: str | os.PathLike | None = None, runs: str | os.PathLike | None = None) -> list[Entry]:
    """Every model folder under `shipped` (default `shipped_root()`) and `runs` (default `runs_root()`), shipped
    first. A run named like a shipped model cannot be told apart in an address, so it gets a problem instead."""
    shipped, runs = Path(shipped or shipped_root()), Path(runs or runs_root())
    sweep = shipped / SWEEP_DIR
    entries = [_entry(f, True) for f in _folders(shipped) + _folders(sweep)]
    names = {e.name for e in entries}
    if runs.resolve() != shipped.resolve():
        for folder in _folders(runs):
            entry = _entry(folder, False)
            if entry.name in names:
                clash = f"{folder} has the name of a shipped model in {shipped}; rename the folder to open it."
                entry = Entry(entry.name, folder, False, clash, written=entry.written)
            entries.append(entry)
    _forget_gone((shipped, sweep, runs), {e.folder for e in entries})
    return sorted(entries, key=_order)


def find(entries: list[Entry], name: str) -> Entry | None:
    """The entry called `name` (a shipped one before a run of the same name), or None."""
    return next((e for e in entries if e.name == name), None)


def openable(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.problem is None]


def partners(entries: list[Entry], entry: Entry) -> list[Entry]:
    """The openable models with entry's dataset and latent size, besides entry: the other kind (VAE <-> AE) first,
    then those of entry's family (the β sweep's or not), shipped before runs, then in catalog order."""
    same = [
        e
        for e in openable(entries)
        if e.dataset == entry.dataset and e.latent_dim == entry.latent_dim and e.folder != entry.folder
    ]
    return sorted(same, key=lambda e: (e.kind == entry.kind, e.sweep != entry.sweep, not e.shipped))  # stable


def counterpart(entries: list[Entry], entry: Entry | None, dataset: str) -> Entry | None:
    """The openable model of `dataset` most like `entry` (same kind, latent size, β, architecture, width; shipped
    before runs), or None when `dataset` has none."""
    candidates = [e for e in openable(entries) if e.dataset == dataset]
    if entry is None:
        return candidates[0] if candidates else None

    def unlike(e: Entry) -> tuple:
        fields = ("kind", "latent_dim", "beta", "arch", "width")
        return (*(getattr(e, f) != getattr(entry, f) for f in fields), e.shipped != entry.shipped)

    return min(candidates, key=unlike, default=None)
