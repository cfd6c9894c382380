"""Measured sample quality: a small shipped classifier scores generated images.

One small CNN per dataset (`Classifier`, trained on the train split by `train_classifier`, shipped in float16 as
`checkpoints/classifiers/{dataset}.safetensors`, described by `checkpoints/classifiers/classifiers.json`, a name
the model catalog does not take for a model folder). For a batch of generated images (N, 28, 28) in [0, 1],
`score_samples` gives three numbers:

- confidence: the mean max-softmax probability (1 = the classifier is sure of every sample);
- coverage: the entropy of the histogram of predicted classes, nats (log 10 = 2.303 when every class is equally
  represented, 0 when all samples look like one class);
- Fréchet distance: between Gaussians fitted to the classifier's penultimate-layer features (128-D) of the samples
  and of the real test split, ||m1 - m2||² + tr(C1 + C2 - 2 (C1 C2)^½), as in the FID but in this classifier's
  feature space (so the numbers are comparable between models of one dataset, not with published FIDs). The trace
  of (C1 C2)^½ is the sum of the square roots of the eigenvalues of C1^½ C2 C1^½, a symmetric positive
  semi-definite matrix, so it needs two symmetric eigen-decompositions and no complex matrix square root.
"""

from __future__ import annotations

import json
import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from vae.checkpoint import atomic_write
from vae.data import DATASETS, Split, load_split

CLASSIFIERS = Path(__file__).resolve().parents[1] / "checkpoints" / "classifiers"
CARD_NAME = "classifiers.json"  # not card.json: that name would make the folder a model folder (vae.catalog)
MEASURED = (
    CLASSIFIERS / "sample_quality.json"
)  # `scripts/sample_quality.py table` writes it: the shipped models' scores
N_CLASSES = 10
FEATURES = 128


class ClassifierError(RuntimeError):
    """A shipped classifier's weights are missing, corrupt or of another architecture."""


class Classifier(nn.Module):
    """conv 3x3 16 -> pool -> conv 3x3 32 -> pool -> dense 128 (the features) -> 10 logits; input (N, 1, 28, 28)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def architecture() -> str:
    """The classifier's layers in one line, for its card."""
    return "conv3x3(1->16)-ReLU-maxpool2-conv3x3(16->32)-ReLU-maxpool2-dense(1568->128)-ReLU-dense(128->10)"


def classifier_path(dataset: str, folder: Path = CLASSIFIERS) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"there is no classifier for {dataset!r}; choose one of {', '.join(DATASETS)}")
    return Path(folder) / f"{dataset}.safetensors"


def train_classifier(
    split: Split, epochs: int = 6, batch_size: int = 128, lr: float = 2e-3, seed: int = 0
) -> Classifier:
    """A `Classifier` trained on `split` with Adam and a cosine learning-rate decay to 0, seeded; returns it in eval
    mode with its weights rounded to float16 (as shipped), so what is measured is what ships."""
    torch.manual_seed(seed)
    net = Classifier()
    x, y = split.as_float(), split.labels
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch_size):
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    return net.eval()


def save_classifier(net: Classifier, path: Path) -> None:
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp))


def load_classifier(dataset: str, folder: Path = CLASSIFIERS) -> Classifier:
    """The shipped classifier of `dataset` in eval mode (float32 on the CPU); ClassifierError when it cannot be read."""
    path = classifier_path(dataset, folder)
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise ClassifierError(f"{path} is missing; train it with `python scripts/sample_quality.py train`.") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise ClassifierError(f"{path} is corrupt or truncated ({err}); restore it from git.") from None
    net = Classifier()
    try:
        net.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError:
        raise ClassifierError(f"{path} does not hold this version's classifier ({architecture()}).") from None
    return net.eval()


def read_classifier_card(folder: Path = CLASSIFIERS) -> dict:
    """The classifiers' card: per dataset its architecture, test accuracy, training settings and command."""
    path = Path(folder) / CARD_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ClassifierError(
            f"{path} is missing; train the classifiers with `python scripts/sample_quality.py train`."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ClassifierError(f"{path} is not valid JSON ({err}); restore it from git.") from None


def _as_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Images (N, 28, 28) or (N, 1, 28, 28), floats in [0, 1], as a float32 tensor (N, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 28, 28), not {tuple(np.shape(images))}")
    return x


@torch.no_grad()
def classify(net: Classifier, images, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, 10), penultimate features (N, 128)) of images (N, 28, 28) in [0, 1]."""
    probs, feats = [], []
    for xb in _as_batch(images).split(batch_size):
        f = net.features(xb)
        feats.append(f)
        probs.append(torch.softmax(net.head(f), 1))
    if not feats:
        return np.zeros((0, N_CLASSES), np.float32), np.zeros((0, FEATURES), np.float32)
    return torch.cat(probs).numpy(), torch.cat(feats).numpy()


def accuracy(net: Classifier, split: Split) -> float:
    """Fraction of `split` classified correctly."""
    probs, _ = classify(net, split.as_float())
    return float((probs.argmax(1) == split.labels.numpy()).mean())


@dataclass(frozen=True)
class FeatureStats:
    """Mean (128,) and covariance (128, 128) of classifier features, float64."""

    mean: np.ndarray
    cov: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> FeatureStats:
        f = np.asarray(features, dtype=np.float64)
        if len(f) < 2:
            raise ValueError(f"a Fréchet distance needs at least 2 images, not {len(f)}")
        return cls(f.mean(0), np.cov(f, rowvar=False))


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative rounding errors clipped)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """||m_a - m_b||² + tr(C_a + C_b - 2 (C_a C_b)^½), with tr (C_a C_b)^½ = Σ √eig(C_a^½ C_b C_a^½); ≥ 0."""
    root = _sqrt_psd(a.cov)
    eig = np.linalg.eigvalsh(root @ b.cov @ root)
    trace_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    d = float(((a.mean - b.mean) ** 2).sum() + np.trace(a.cov) + np.trace(b.cov) - 2 * trace_sqrt)
    return max(d, 0.0)


_REFERENCE: weakref.WeakKeyDictionary[Classifier, dict[tuple[str, str], FeatureStats]] = weakref.WeakKeyDictionary()


def reference_stats(net: Classifier, dataset: str, data_dir: str | None = None) -> FeatureStats:
    """Feature statistics of the real test split of `dataset` under `net` (kept per classifier, dataset and data root
    while the classifier lives)."""
    known = _REFERENCE.setdefault(net, {})
    key = (dataset, str(data_dir))
    if key not in known:
        _, feats = classify(net, load_split(dataset, False, data_dir).as_float())
        known[key] = FeatureStats.of(feats)
    return known[key]


@dataclass(frozen=True)
class SampleQuality:
    """Scores of a batch of generated images (see the module docstring)."""

    confidence: float  # mean max-softmax probability, in [0.1, 1]
    coverage: float  # entropy of the predicted-class histogram, nats, in [0, log 10]
    frechet: float  # Fréchet distance to the test split in the classifier's feature space

    def as_dict(self) -> dict[str, float]:
        return {"confidence": self.confidence, "coverage": self.coverage, "frechet": self.frechet}


def coverage_entropy(predicted: np.ndarray, n_classes: int = N_CLASSES) -> float:
    """Entropy (nats) of the histogram of predicted class indices (N,)."""
    counts = np.bincount(np.asarray(predicted), minlength=n_classes).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def score_samples(net: Classifier, images, reference: FeatureStats) -> SampleQuality:
    """Confidence, coverage and Fréchet distance to `reference` (`reference_stats`) of images (N, 28, 28) in [0, 1]."""
    probs, feats = classify(net, images)
    return SampleQuality(
        confidence=float(probs.max(1).mean()),
        coverage=coverage_entropy(probs.argmax(1)),
        frechet=frechet_distance(FeatureStats.of(feats), reference),
    )


def measured_quality(name: str, fingerprint: str, path: Path = MEASURED) -> dict | None:
    """The sample quality `scripts/sample_quality.py table` measured for model `name`: {"prior": {confidence,
    coverage, frechet}, "mixture": {...}}, or None where it measured none for these weights (`fingerprint`, their
    `weights_sha256`) or the file cannot be read."""
    try:
        record = json.loads(path.read_text())["models"][name]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) and record.get("weights_sha256") == fingerprint else None
