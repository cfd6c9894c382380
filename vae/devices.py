"""Which device PyTorch trains on: 'auto' (a GPU where one is present), 'cpu', 'cuda' or 'mps'."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
_GPUS = {"cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}


class DeviceError(RuntimeError):
    """The device asked for is unknown or not present on this machine."""


def _present(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


def resolve_device(name: str = "auto") -> torch.device:
    """The device `name` asks for: 'auto' is CUDA where PyTorch sees it, else MPS, else the CPU.

    Raises DeviceError, in one sentence, for an unknown name or a GPU that is not there.
    """
    if name not in DEVICES:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}.")
    if name == "auto":
        return torch.device(next(kind for kind in ("cuda", "mps", "cpu") if _present(kind)))
    if not _present(name):
        raise DeviceError(
            f"--device {name} was asked for, but PyTorch sees no {_GPUS[name]} here; use --device cpu or auto."
        )
    return torch.device(name)
