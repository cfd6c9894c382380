"""Where to draw codes from: the prior N(0, I), or a density fitted ex post on the training codes.

The ex-post density (Ghosh et al., 2020) is a 10-component, full-covariance Gaussian mixture fitted with
scikit-learn's `GaussianMixture` (EM from k-means, seeded) on the encoder means of the model's whole training split.
It is kept as plain arrays (`Mixture`: weights, means, covariances), sampled with numpy, and stored without pickle
(`save_gmm` / `load_gmm`: an .npz read with allow_pickle=False). Decode the codes with `vae.latent.decode`.

Each model folder keeps its mixture in `sampler.npz` (`save_sampler` / `load_sampler`, `write_sampler` fits and
writes it; `python -m vae.atlas --sampler-only FOLDER` and the end of a training run call it): the three arrays and
the `weights_sha256` of the weights whose training codes it was fitted on, so, like the atlas, it is refused beside
any other weights. It is not one of `vae.checkpoint.RUN_FILES`: a folder without it is still a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vae.checkpoint import FINGERPRINT, atomic_write, load_model, weights_sha256
from vae.data import Split, dataset_of
from vae.latent import prior_samples
from vae.models import Model

COMPONENTS = 10
SAMPLER = "sampler.npz"  # a model folder's fitted mixture


class MixtureFileError(RuntimeError):
    """A saved Gaussian mixture is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class Mixture:
    """A Gaussian mixture: weights (K,) summing to 1, means (K, z), covariances (K, z, z), float64."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def __post_init__(self):
        k = len(self.weights)
        if self.weights.ndim != 1 or self.means.ndim != 2 or self.means.shape[0] != k:
            raise ValueError(
                f"a mixture needs weights (K,) and means (K, z), not {self.weights.shape} and {self.means.shape}"
            )
        z = self.means.shape[1]
        if self.covariances.shape != (k, z, z):
            raise ValueError(f"the covariances must have shape {(k, z, z)}, not {self.covariances.shape}")
        if k == 0 or np.any(self.weights < 0) or not np.isclose(self.weights.sum(), 1.0):
            raise ValueError("the mixture weights must be non-negative and sum to 1")

    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n codes (n, z) float32; the same seed gives the same codes."""
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n, self.weights / self.weights.sum())
        chol = np.linalg.cholesky(self.covariances)
        parts = [
            self.means[k] + rng.standard_normal((c, self.latent_dim)) @ chol[k].T for k, c in enumerate(counts) if c
        ]
        codes = np.concatenate(parts) if parts else np.zeros((0, self.latent_dim))
        return codes[rng.permutation(n)].astype(np.float32)

    def log_density(self, codes: np.ndarray) -> np.ndarray:
        """log of the mixture's density (N,) at codes (N, z), nats."""
        x = np.asarray(codes, dtype=np.float64)
        chol = np.linalg.cholesky(self.covariances)
        logs = []
        for k in range(len(self.weights)):
            y = np.linalg.solve(chol[k], (x - self.means[k]).T)  # (z, N)
            log_det = 2 * np.log(np.diag(chol[k])).sum()
            logs.append(
                np.log(self.weights[k]) - 0.5 * (y**2).sum(0) - 0.5 * log_det - 0.5 * x.shape[1] * np.log(2 * np.pi)
            )
        stacked = np.stack(logs)
        top = stacked.max(0)
        return top + np.log(np.exp(stacked - top).sum(0))


@torch.no_grad()
def train_codes(model: Model, split: Split, batch_size: int = 1000) -> np.ndarray:
    """The encoder means (N, z) float32 of every image of `split` (as `vae.scores.score_images` encodes them)."""
    return torch.cat([model.encode(xb)[0] for xb in split.as_float().split(batch_size)]).numpy()


def fit_gmm(codes: np.ndarray, components: int = COMPONENTS, seed: int = 0) -> Mixture:
    """A `components`-component full-covariance Gaussian mixture fitted by EM on codes (N, z), seeded."""
    from sklearn.mixture import GaussianMixture

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < components:
        raise ValueError(
            f"fitting {components} components needs codes (N, z) with N >= {components}, not {codes.shape}"
        )
    gmm = GaussianMixture(n_components=components, covariance_type="full", random_state=seed).fit(codes)
    return Mixture(gmm.weights_.copy(), gmm.means_.copy(), gmm.covariances_.copy())


def sample_prior(model: Model, n: int, seed: int = 0) -> np.ndarray:
    """n codes (n, z) float32 from the prior N(0, I) of `model`'s latent space (`vae.latent.prior_samples`)."""
    return prior_samples(n, model.config.latent_dim, seed)


def sample_gmm(gmm: Mixture, n: int, seed: int = 0) -> np.ndarray:
    """n codes (n, z) float32 from a fitted mixture; the same seed gives the same codes."""
    return gmm.sample(n, seed)


def save_gmm(gmm: Mixture, path: str | os.PathLike) -> None:
    """Write the mixture's arrays to an .npz file, atomically (no pickle)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
            np.savez(f, weights=gmm.weights, means=gmm.means, covariances=gmm.covariances)

    atomic_write(Path(path), write)


def load_gmm(path: str | os.PathLike) -> Mixture:
    """The mixture `save_gmm` wrote (numpy.load with allow_pickle=False); MixtureFileError when it cannot be read."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k], dtype=np.float64) for k in ("weights", "means", "covariances")}
    except FileNotFoundError:
        raise MixtureFileError(f"{path} is missing; fit the mixture again.") from None
    except Exception as err:  # zipfile.BadZipFile, KeyError (a missing array), ValueError (pickled arrays), OSError
        raise MixtureFileError(
            f"{path} is not a saved Gaussian mixture ({type(err).__name__}); fit it again."
        ) from None
    try:
        return Mixture(**arrays)
    except ValueError as err:
        raise MixtureFileError(f"{path} holds an inconsistent Gaussian mixture ({err}); fit it again.") from None


# --- The mixture beside a model ---------------------------------------------------------------------------------


def sampler_command(folder: str | os.PathLike) -> str:
    """The command that (re)fits a folder's sampler.npz."""
    return f"python -m vae.atlas --sampler-only {folder}"


def save_sampler(folder: str | os.PathLike, gmm: Mixture, fingerprint: str) -> Path:
    """Write `folder`/sampler.npz atomically: the mixture's arrays (float64, compressed) and `fingerprint`, the
    `weights_sha256` of the weights it was fitted for. Returns the path."""
    path = Path(folder) / SAMPLER

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the name
            np.savez_compressed(
                f,
                weights=gmm.weights,
                means=gmm.means,
                covariances=gmm.covariances,
                **{FINGERPRINT: np.array(fingerprint)},  # a fixed-width unicode scalar, no pickle
            )

    atomic_write(path, write)
    return path


def load_sampler(folder: str | os.PathLike, fingerprint: str | None = None) -> Mixture:
    """The mixture of `folder`/sampler.npz (allow_pickle=False) once it was fitted for the folder's weights
    (`fingerprint`: their `weights_sha256` when the caller has it). MixtureFileError, one sentence naming the file
    and the command that refits it, when it is missing, unreadable or stale."""
    path, refit = Path(folder) / SAMPLER, f"fit it again with `{sampler_command(folder)}`."
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k], dtype=np.float64) for k in ("weights", "means", "covariances")}
            recorded = npz[FINGERPRINT] if FINGERPRINT in npz.files else None
    except FileNotFoundError:
        raise MixtureFileError(f"{path} is missing; {refit}") from None
    except Exception as err:  # zipfile.BadZipFile, KeyError (a missing array), ValueError (pickled arrays), OSError
        raise MixtureFileError(f"{path} is not a saved Gaussian mixture ({type(err).__name__}); {refit}") from None
    if recorded is None or recorded.shape != () or str(recorded) != (fingerprint or weights_sha256(folder)):
        raise MixtureFileError(f"{path} was not fitted for the weights beside it; {refit}")
    try:
        return Mixture(**arrays)
    except ValueError as err:
        raise MixtureFileError(f"{path} holds an inconsistent Gaussian mixture ({err}); {refit}") from None


def fit_sampler(model: Model, train: Split, seed: int = 0) -> Mixture:
    """The model's ex-post density: `fit_gmm` on the encoder means of its training split (`train_codes`), with
    fewer components only where the split has fewer than COMPONENTS images."""
    codes = train_codes(model, train)
    return fit_gmm(codes, components=max(1, min(COMPONENTS, len(codes))), seed=seed)


def write_sampler(folder: str | os.PathLike, data_dir: str | None = None) -> Path:
    """Fit the mixture of a checkpoint folder on its real training split (the dataset its card names; MNIST and
    Fashion-MNIST under `data_dir`) and write sampler.npz beside the weights; nothing else in the folder changes.
    Raises the dataset's DatasetMissingError / DatasetFormatError when the training split cannot be read."""
    fingerprint = weights_sha256(folder)  # before loading: weights replaced meanwhile leave a refused sampler
    model, card = load_model(folder)
    gmm = fit_sampler(model, dataset_of(card).split(True, data_dir))
    return save_sampler(folder, gmm, fingerprint)
