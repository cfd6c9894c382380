"""Streamlit glue shared by the pages: the sidebar model picker and cached loaders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from vae import anomaly, figures, images, latent
from vae.checkpoint import CheckpointError, checkpoint_name, find_checkpoints, load_atlas, load_model, read_card
from vae.data import CLASS_NAMES, DatasetMissingError, data_dir, load_split, on_disk
from vae.models import VAE

_VIA_APP = "_via_app"  # set by app.py's model picker in each session


def checkpoint_root() -> Path:
    """Where the shipped models live: $VAE_CHECKPOINTS or ./checkpoints."""
    return Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints"))


@st.cache_resource(show_spinner="Loading model…")
def cached_model(folder: str) -> VAE:
    """One shared, read-only model per checkpoint (eval mode; callers use torch.no_grad)."""
    return load_model(folder)[0]


@st.cache_data(show_spinner="Loading atlas…")
def cached_atlas(folder: str) -> dict[str, np.ndarray]:
    return load_atlas(folder)


@st.cache_data
def cached_card(folder: str) -> dict:
    return read_card(Path(folder))


@dataclass(frozen=True)
class Selection:
    """The model chosen in the sidebar, loaded."""

    folder: Path
    card: dict
    model: VAE
    atlas: dict[str, np.ndarray]

    @property
    def dataset(self) -> str:
        return self.card["dataset"]

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[self.dataset]

    @property
    def latent_dim(self) -> int:
        return self.model.config.latent_dim


def model_picker() -> None:
    """Sidebar widgets: dataset, VAE or AE, latent size. Their values live in st.session_state."""
    st.session_state[_VIA_APP] = True
    with st.sidebar:
        st.markdown("**Model**")
        st.selectbox("Dataset", ["mnist", "fashion-mnist"], key="dataset",
                     format_func={"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get)  # fmt: skip
        st.segmented_control("Type", ["vae", "ae"], key="kind", default="vae",
                             format_func={"vae": "VAE", "ae": "Autoencoder"}.get)  # fmt: skip
        st.segmented_control("Latent size", [2, 16], key="latent_dim", default=2,
                             format_func=lambda n: f"z = {n}")  # fmt: skip


def folder_for(dataset: str, kind: str, latent_dim: int) -> Path:
    return checkpoint_root() / checkpoint_name(dataset, kind, latent_dim)


def load_selection(dataset: str, kind: str, latent_dim: int) -> Selection | None:
    """Load a model and its atlas; on a broken or missing checkpoint show one error line and return None."""
    _leave_pages_folder_mode()
    folder = folder_for(dataset, kind, latent_dim)
    try:
        return Selection(folder, cached_card(str(folder)), cached_model(str(folder)), cached_atlas(str(folder)))
    except CheckpointError as err:
        st.error(f"Model {folder.name} cannot be used: {err}", icon=":material/error:")
        return None


def current_selection() -> Selection | None:
    """The sidebar's model, loaded (None, after an error message, when it cannot be)."""
    state = st.session_state
    return load_selection(state.get("dataset", "mnist"), state.get("kind") or "vae", state.get("latent_dim") or 2)


def available_models() -> list[str]:
    return [p.name for p in find_checkpoints(checkpoint_root())]


# --- Explorer glue: original images, Plotly selections ----------------------------------------------------------


def dataset_on_disk(dataset: str) -> bool:
    """Whether `dataset` is on disk (then loading it never downloads)."""
    return on_disk(dataset)


@st.cache_resource(show_spinner="Loading the test images…")
def _test_images(dataset: str, root: str) -> np.ndarray:
    images = load_split(dataset, train=False, root=root).images.numpy()
    images.flags.writeable = False  # shared by all sessions
    return images


def test_images(dataset: str) -> np.ndarray | None:
    """The test split's images, uint8 (10000, 28, 28), shared read-only; None when the dataset is not on disk."""
    if not dataset_on_disk(dataset):
        return None
    try:
        return _test_images(dataset, str(data_dir()))
    except DatasetMissingError:
        return None


def missing_data_hint(dataset: str) -> str:
    """One line on why the original images are not shown and how to see them."""
    if dataset_on_disk(dataset):
        try:  # read again rather than cache the failure, so a repaired folder works on the next run
            _test_images(dataset, str(data_dir()))
        except DatasetMissingError as err:
            return f"The original {dataset} images could not be read, so only decoded images are shown: {err}"
    return (
        f"The original {dataset} images are not on disk, so only decoded images are shown: set VAE_DATA_DIR to a "
        "folder holding MNIST/raw and FashionMNIST/raw (torchvision layout) to see them."
    )


def selection_event(key: str) -> dict:
    """The selection of the Plotly chart with this key, as a plain dict with points, box and lasso."""
    event = st.session_state.get(key) or {}
    selection = event.get("selection") or {}
    return {"points": list(selection.get("points") or []), "box": list(selection.get("box") or []),
            "lasso": list(selection.get("lasso") or [])}  # fmt: skip


def selected_test_indices(selection: dict) -> list[int]:
    """Test-image indices of the selected points (the map's class traces carry them as customdata)."""
    out = []
    for point in selection["points"]:
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data is not None:
            out.append(int(data))
    return out


def clicked_spot(selection: dict) -> tuple[float, float] | None:
    """The map position of a single click (on a point or on empty space); None for box/lasso or no selection."""
    if selection["box"] or selection["lasso"] or len(selection["points"]) != 1:
        return None
    point = selection["points"][0]
    return float(point["x"]), float(point["y"])


# --- Explorer glue: cached decodes shared by the map and compare pages ------------------------------------------


@st.cache_data(show_spinner="Decoding the manifold grid…", max_entries=32)
def manifold_tiles(
    folder: str, projection: str, n: int, span: float, spacing: str, center: tuple[float, float]
) -> list[dict]:
    """Plotly layout images of an n x n grid decoded over center ± span of a model's map."""
    points = latent.manifold_grid(n, span, spacing, center)
    images = latent.decode_grid(cached_model(folder), points, latent.map_projection(cached_atlas(folder), projection))
    return figures.tile_images(images, points, latent.tile_sizes(points))


@st.cache_data(show_spinner=False, max_entries=32)
def prior_samples_png(folder: str, n: int = 8, seed: int = 0) -> bytes:
    """An n x n mosaic of images decoded from z ~ N(0, I), as PNG bytes."""
    model = cached_model(folder)
    images = latent.decode(model, latent.prior_samples(n * n, model.config.latent_dim, seed))
    return figures.png_bytes(figures.mosaic(images.reshape(n, n, 28, 28)), scale=2)


# --- Your data glue: user images, the anomaly threshold in use -----------------------------------------------


@st.cache_data(show_spinner="Preparing your image…", max_entries=16)
def prepared_upload(data: bytes, dataset: str, auto_invert: bool) -> images.Prepared:
    """`images.prepare_bytes`, cached per file (raises `images.ImageError`, which is not cached)."""
    return images.prepare_bytes(data, dataset, auto_invert)


def drawing_canvas():
    """`st_canvas` of streamlit-drawable-canvas, or None where it is not installed or cannot load."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # ImportError, or a component that cannot register outside a running server
        return None
    return st_canvas


def upload_limit_mb() -> int:
    """The upload size limit set in .streamlit/config.toml (server.maxUploadSize), in megabytes."""
    return int(st.get_option("server.maxUploadSize"))


DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
ANOMALY_SETTING = "anomaly_setting"


@dataclass(frozen=True)
class AnomalySetting:
    """The anomaly score and threshold in use for a model, and how the threshold was chosen."""

    score: str
    threshold: float
    false_alarms: float  # share of the model's own test split above the threshold
    chosen_on_page: bool


def anomaly_setting(sel: Selection) -> AnomalySetting:
    """The score and threshold last set on the anomaly page for this model, else the corrected score at its 99th
    percentile (1 % false alarms)."""
    stored = st.session_state.get(ANOMALY_SETTING) or {}
    chosen = stored.get("folder") == str(sel.folder) and stored.get("score") in anomaly.available_scores(sel.atlas)
    score = stored["score"] if chosen else "corrected"
    inliers = anomaly.scores_of(sel.atlas, score)
    threshold = float(stored["threshold"]) if chosen else anomaly.threshold_at(inliers)
    return AnomalySetting(score, threshold, anomaly.flagged_rate(inliers, threshold), chosen)


def remember_anomaly_setting(sel: Selection, score: str, threshold: float) -> None:
    """Keep the anomaly page's choice so the image page judges uploads the same way."""
    st.session_state[ANOMALY_SETTING] = {"folder": str(sel.folder), "score": score, "threshold": float(threshold)}


@st.cache_data(show_spinner="Scoring the test splits…", max_entries=16)
def cached_aurocs(folder: str) -> dict[str, float]:
    """AUROC of every anomaly score of a model (from its atlas), or {} when its atlas cannot be read."""
    try:
        return anomaly.atlas_aurocs(load_atlas(folder))
    except (CheckpointError, KeyError, ValueError):
        return {}


def _leave_pages_folder_mode() -> None:
    """Run app.py's navigation even when a fresh server's first visits are page URLs such as /map.

    Streamlit treats a `pages/` folder next to the entrypoint as its old multipage mode and, until some
    session has run `st.navigation`, runs pages/<name>.py directly, without app.py (no model picker, the
    folder's files listed as pages). Every session that got here without app.py's picker switches that
    mode off and reruns, which hands control back to app.py; sessions arriving together each do so.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if not st.session_state.get(_VIA_APP):
        PagesManager.uses_pages_directory = False
        st.rerun()
