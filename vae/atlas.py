"""The atlas: everything the explorer draws without the dataset. `python -m vae.atlas CHECKPOINT_DIR`.

For the model's own test split and the other dataset's test split (prefix `ood_`; `ood_dataset` names it; a model
of the user's own data has it only where MNIST or Fashion-MNIST is on disk): latent means
(and log-variances), labels, per-image scores, and the PNG-compressed length of each image (bits, the
complexity term of the anomaly score). Models with more than 2 latent dimensions also get 2-D
projections by PCA (with its basis, to place new points) and by UMAP. The atlas records the SHA-256 of the
weights it was built from (`vae.checkpoint.load_atlas` refuses it beside other weights). `write_atlas` also fits the
model's sampler.npz on its training split (`vae.samplers`); `--sampler-only` makes just that file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from vae.checkpoint import load_model, save_atlas, weights_sha256
from vae.data import Split, dataset_of, load_split, ood_partner
from vae.models import Model
from vae.samplers import fit_sampler, save_sampler
from vae.scores import png_bits, score_images


def pca_basis(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (z,), components (2, z)) of the top-2 principal directions, signs fixed for stability."""
    mean = codes.mean(0)
    _, _, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = vt[:2] * np.sign(vt[:2].sum(1, keepdims=True) + 1e-12)
    return mean.astype(np.float32), components.astype(np.float32)


def umap_projection(codes: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded 2-D UMAP embedding of the codes (N, 2)."""
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=seed)
    return reducer.fit_transform(codes).astype(np.float32)


def _split_arrays(model: Model, split: Split, prefix: str) -> dict[str, np.ndarray]:
    scores = score_images(model, split.as_float())
    arrays = {f"{prefix}{k}": v.astype(np.float32) for k, v in scores.items()}
    arrays[f"{prefix}labels"] = split.labels.numpy().astype(np.uint8)
    arrays[f"{prefix}complexity"] = png_bits(split.images.numpy())
    return arrays


def build_atlas(
    model: Model, test: Split, ood_test: Split | None, seed: int = 0, ood_name: str | None = None
) -> dict[str, np.ndarray]:
    """All atlas arrays for a model, its test split and the other dataset's test split (None: no `ood_` arrays),
    which `ood_name` names."""
    arrays = _split_arrays(model, test, "")
    if ood_test is not None:
        arrays |= _split_arrays(model, ood_test, "ood_")
        arrays["ood_mu"] = arrays["ood_mu"].astype(np.float16)  # only for placing points on the map
        arrays.pop("ood_logvar", None)
        if ood_name is not None:
            arrays["ood_dataset"] = np.array(ood_name)  # a fixed-width unicode scalar, no pickle
    if arrays["mu"].shape[1] > 2:
        mean, components = pca_basis(arrays["mu"])
        arrays["pca_mean"], arrays["pca_components"] = mean, components
        arrays["proj_pca"] = (arrays["mu"] - mean) @ components.T
        if ood_test is not None:
            arrays["ood_proj_pca"] = ((arrays["ood_mu"].astype(np.float32) - mean) @ components.T).astype(np.float16)
        arrays["proj_umap"] = umap_projection(arrays["mu"], seed)
    return arrays


def write_atlas(folder: Path, data_dir: str | None = None) -> dict[str, np.ndarray]:
    """Build and save the atlas of a checkpoint folder from the real test splits: its own and the other dataset's
    (`vae.data.ood_partner`: required for MNIST and Fashion-MNIST, left out for the user's data where neither is on
    disk); then fit and save its sampler.npz on the training split (`vae.samplers.fit_sampler`)."""
    fingerprint = weights_sha256(folder)  # before loading: weights replaced meanwhile leave a refused atlas
    model, card = load_model(folder)
    spec = dataset_of(card)
    test = spec.split(False, data_dir)
    partner = ood_partner(spec, data_dir)
    ood = None if partner is None else load_split(partner, False, data_dir)
    torch.manual_seed(0)
    arrays = build_atlas(model, test, ood, ood_name=partner)
    save_atlas(folder, arrays, fingerprint)
    save_sampler(folder, fit_sampler(model, spec.split(True, data_dir)), fingerprint)
    return arrays


if __name__ == "__main__":  # `python -m vae.atlas`: the command line is vae.cli.atlas
    from vae.cli.atlas import main

    sys.exit(main())
