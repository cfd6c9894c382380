"""How the server treats its visitors: one setting, `VAE_MODE`, with limits that each have an environment variable.

*personal* (the default for `streamlit run app.py`): the visitor owns the machine. Any dataset path may be typed
on /train, any run may be stopped, runs pile up as the user keeps them.

*shared* (a class, or the internet): no filesystem path comes from the browser (own datasets are picked by name
from `VAE_OWN_DATA`); training is limited (on or off, a size cap by parameter count and epochs, a number of runs per
session); a run belongs to the session that started it, and only that session may stop or resume it; at most
`VAE_MAX_RUNS` runs are kept, the oldest runs that cannot be resumed pruned to make room (a start is refused in
one sentence where only resumable runs are left).

    policy = server_policy()                              # from the environment
    policy.size_problem(config.model.parameter_count(), config.epochs)   # one sentence, or None
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MODES = ("personal", "shared")


class PolicyError(ValueError):
    """An environment variable of the server's policy has a value it cannot use."""


@dataclass(frozen=True)
class ServerPolicy:
    """What visitors may do on this server; `VAE_MODE` picks the defaults, each limit's variable overrides it."""

    mode: str = "personal"
    training: bool = True  # VAE_TRAINING=on|off: whether /train starts runs
    max_parameters: int | None = None  # VAE_MAX_PARAMETERS: largest network a visitor may train
    max_epochs: int | None = None  # VAE_MAX_EPOCHS
    runs_per_session: int | None = None  # VAE_RUNS_PER_SESSION: runs one browser session may start
    max_runs: int | None = None  # VAE_MAX_RUNS: runs kept in the runs folder; the oldest unresumable go first
    own_data: Path | None = None  # VAE_OWN_DATA: the folder whose .npz files and IDX folders are offered by name
    train_cpu_share: float = 1.0  # VAE_TRAIN_CPU_SHARE: CPU-seconds per second a run may use (0 < share <= 1)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolicyError(f"VAE_MODE must be personal or shared, not {self.mode!r}.")
        for name in ("max_parameters", "max_epochs", "runs_per_session", "max_runs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PolicyError(f"VAE_{name.upper()} must be a whole number of at least 1, not {value!r}.")
        if not (isinstance(self.train_cpu_share, float | int) and 0 < self.train_cpu_share <= 1):
            raise PolicyError(
                f"VAE_TRAIN_CPU_SHARE must be a number above 0 and at most 1, not {self.train_cpu_share!r}."
            )

    @property
    def shared(self) -> bool:
        return self.mode == "shared"

    @property
    def paths_from_browser(self) -> bool:
        """Whether /train takes a dataset's path typed in the browser (personal mode only)."""
        return not self.shared

    @property
    def owned_runs(self) -> bool:
        """Whether only the session that started a run may stop or resume it."""
        return self.shared

    def size_problem(self, parameters: int, epochs: int) -> str | None:
        """One sentence when a run of `parameters` weights and `epochs` epochs is over this server's caps."""
        if self.max_parameters is not None and parameters > self.max_parameters:
            return (
                f"This network has {parameters:,} weights; this server trains at most {self.max_parameters:,}: "
                "choose fewer or narrower layers."
            )
        if self.max_epochs is not None and epochs > self.max_epochs:
            return f"This server trains at most {self.max_epochs} epochs a run, not {epochs}."
        return None

    def describe(self) -> str:
        """One line for the overview page: the mode and what it allows."""
        if not self.shared:
            return "Personal mode: this server trusts its visitor (any dataset path, any run can be stopped)."
        if not self.training:
            return "Shared mode: training is off on this server; every trained model can still be explored."
        caps = [
            f"networks up to {self.max_parameters:,} weights" if self.max_parameters else None,
            f"{self.max_epochs} epochs" if self.max_epochs else None,
            f"{self.runs_per_session} runs per visitor" if self.runs_per_session else None,
            f"the newest {self.max_runs} runs kept" if self.max_runs else None,
            f"{self.train_cpu_share:.0%} of a CPU per run" if self.train_cpu_share < 1 else None,
        ]
        limits = ", ".join(c for c in caps if c)
        return "Shared mode: each visitor's runs are their own; datasets are picked by name" + (
            f"; {limits}." if limits else "."
        )


SHARED_DEFAULTS = {"max_parameters": 2_000_000, "max_epochs": 20, "runs_per_session": 3, "max_runs": 100}
# A run may use a quarter of a CPU in shared mode: on 2 cores, 40 sessions then answer within 1.5x of one idle
# session's time while a run at the caps trains (bench/README.md, "Shared mode under load").
SHARED_CPU_SHARE = 0.25


def _whole(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name)
    if text is None or text.strip() == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise PolicyError(f"{name} must be a whole number of at least 1, not {text!r}.") from None


def server_policy(env: Mapping[str, str] | None = None) -> ServerPolicy:
    """The policy that the environment (default `os.environ`) asks for; PolicyError, one sentence, for a bad value."""
    env = os.environ if env is None else env
    mode = (env.get("VAE_MODE") or "personal").strip().lower()
    defaults = SHARED_DEFAULTS if mode == "shared" else {}
    training = (env.get("VAE_TRAINING") or "on").strip().lower()
    if training not in ("on", "off"):
        raise PolicyError(f"VAE_TRAINING must be on or off, not {training!r}.")
    limits = {}
    for name in ("max_parameters", "max_epochs", "runs_per_session", "max_runs"):
        value = _whole(env, f"VAE_{name.upper()}")
        limits[name] = defaults.get(name) if value is None else value
    own = env.get("VAE_OWN_DATA")
    share_text = (env.get("VAE_TRAIN_CPU_SHARE") or "").strip()
    try:
        share = float(share_text) if share_text else (SHARED_CPU_SHARE if mode == "shared" else 1.0)
    except ValueError:
        raise PolicyError(f"VAE_TRAIN_CPU_SHARE must be a number above 0 and at most 1, not {share_text!r}.") from None
    return ServerPolicy(
        mode=mode, training=training == "on", own_data=Path(own) if own else None, train_cpu_share=share, **limits
    )


def own_datasets(root: Path | None) -> dict[str, Path]:
    """The datasets offered by name in shared mode: each regular .npz file and each folder (not a link) directly
    under `root`, by name; {} without a root or when it cannot be listed."""
    if root is None:
        return {}
    try:
        children = sorted(root.iterdir())
    except OSError:
        return {}
    found = {}
    for child in children:
        if child.name.startswith(".") or child.is_symlink():
            continue
        if (child.is_file() and child.suffix == ".npz") or child.is_dir():
            found[child.stem if child.is_file() else child.name] = child
    return found
