"""The chosen model, loaded: `current_selection()` for the sidebar's model, `partner_selection(sel)` for the model
set beside it on /compare and /interpolate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from pages.ui.cached import cached_atlas, cached_card, cached_code_span, cached_model, forget_rewritten, test_images
from pages.ui.navigation import inside_app
from pages.ui.picker import KIND_TITLES, dataset_title, models, no_model_message, option_label, picked_model
from vae import catalog, latent
from vae.checkpoint import CheckpointError, runs_root, shipped_root
from vae.data import DatasetSpec, dataset_of
from vae.models import Model

ONE_D = "This model has a 1-D latent space; the explorer needs at least 2 dimensions."
PARTNER = "partner"  # the model set beside the chosen one on /compare and /interpolate


@dataclass(frozen=True)
class Selection:
    """A model chosen in the sidebar, loaded: its checkpoint folder, card, model (eval mode) and atlas."""

    folder: Path
    card: dict
    model: Model
    atlas: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def dataset(self) -> str:
        """The dataset's short name: 'mnist', 'fashion-mnist' or the name of the user's own data."""
        return self.card["dataset"]

    @property
    def data(self) -> DatasetSpec:
        """The dataset the model was trained on, as its card records it (`data.title` is how pages write it)."""
        return dataset_of(self.card)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.data.class_names

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim

    @property
    def kind(self) -> str:
        return "vae" if self.model.is_variational else "ae"

    @property
    def title(self) -> str:
        """'VAE' or 'Autoencoder'."""
        return KIND_TITLES[self.kind]

    def code_span(self) -> tuple[np.ndarray, np.ndarray]:
        """The decode sliders' ranges (z, 2) and their centre (z,): `cached_code_span`."""
        return cached_code_span(str(self.folder))

    def projection(self, kind: str | None = None) -> latent.MapProjection:
        """The map's view of the test codes: 'latent' (z = 2), 'pca' or 'umap'; by default the first available."""
        return latent.map_projection(self.atlas, kind)

    def originals(self) -> np.ndarray | None:
        """The test split's images, uint8 (N, 28, 28), shared read-only; None when the dataset is not on disk."""
        return test_images(self.data)

    def pictures(self, indices: Sequence[int]) -> np.ndarray:
        """Test images `indices`: the originals, uint8 (n, 28, 28), when on disk, else the images decoded from
        their mean codes, float (n, 28, 28) in [0, 1]."""
        originals, indices = self.originals(), np.asarray(indices, dtype=np.int64)
        return originals[indices] if originals is not None else latent.decode(self.model, self.atlas["mu"][indices])


def load_selection(name: str) -> Selection | None:
    """Load model `name` (a shipped model or a run, by folder name) and its atlas; when it is unknown, cannot be
    opened or has a 1-D latent space, show one line and return None."""
    inside_app()
    entry = catalog.find(models(), name)
    if entry is None or entry.problem:
        problem = entry.problem if entry else f"there is no model folder {name} in {shipped_root()} or {runs_root()}."
        st.error(f"Model {name} cannot be used: {problem}", icon=":material/error:")
        return None
    if entry.latent_dim < 2:
        st.info(ONE_D, icon=":material/info:")
        return None
    forget_rewritten(entry)
    folder = str(entry.folder)
    try:
        return Selection(entry.folder, cached_card(folder), cached_model(folder), cached_atlas(folder))
    except CheckpointError as err:
        st.error(f"Model {name} cannot be used: {err}", icon=":material/error:")
        return None


def current_selection() -> Selection | None:
    """The sidebar's model, loaded (None, after one line, when it cannot be)."""
    entry = picked_model()
    if entry is None:
        inside_app()
        st.error(no_model_message(), icon=":material/error:")
        return None
    return load_selection(entry.name)


def partner_selection(sel: Selection) -> Selection | None:
    """The model set beside `sel` on /compare and /interpolate, loaded: a select of the models with its dataset and
    latent size, the other kind (VAE <-> AE) first, shipped before runs. One line and None when there is none."""
    entries = models()
    me = catalog.find(entries, sel.name)
    candidates = catalog.partners(entries, me) if me is not None else []
    if not candidates:
        other = "ae" if sel.kind == "vae" else "vae"
        st.info(
            f"No other {dataset_title(sel.dataset)} model with z = {sel.latent_dim} to set beside {sel.name}; train "
            f"one with `python -m vae.train --dataset {sel.dataset} --latent-dim {sel.latent_dim} --model {other}`.",
            icon=":material/info:",
        )
        return None
    labels = {e.name: option_label(e) for e in candidates}
    name = st.selectbox(
        "Compared with",
        list(labels),
        key=PARTNER,
        format_func=labels.get,
        help="Any other model of the same dataset and latent size: by default the other kind (VAE or autoencoder).",
    )
    return load_selection(name)
