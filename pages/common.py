"""Streamlit glue shared by the pages: the sidebar model picker (in step with the address's ?model=NAME), the chosen
model loaded (`Selection`), cached loaders, and typed accessors for the state that pages share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from vae import anomaly, figures, latent, rendering
from vae.checkpoint import CheckpointError, checkpoint_name, find_checkpoints, load_atlas, load_model, read_card
from vae.data import CLASS_NAMES, DATASETS, DatasetMissingError, data_dir, load_split, on_disk
from vae.models import Model

DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
KIND_TITLES = {"vae": "VAE", "ae": "Autoencoder"}
LATENT_SIZES = (2, 16)
DEFAULT_MODEL = "mnist-vae-z2"
MODEL_PARAM = "model"  # the address's ?model=NAME: a checkpoint folder's name

PICKER_KEYS = ("dataset", "kind", "latent_dim")  # the picker widgets' keys, named like ModelChoice's fields
_VIA_APP = "_via_app"  # app.py's model picker has run in this session
_LEAVING = "_leaving_pages_folder_mode"  # a rerun into app.py is under way
_MODEL_IN_ADDRESS = "_model_in_address"  # the model name this session last read from or wrote to the address


def checkpoint_root() -> Path:
    """Where the shipped models live: $VAE_CHECKPOINTS or ./checkpoints."""
    return Path(os.environ.get("VAE_CHECKPOINTS", "checkpoints"))


def available_models() -> list[str]:
    return [p.name for p in find_checkpoints(checkpoint_root())]


# --- The model picker -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """What the sidebar picker points at: a dataset, a kind ('vae' or 'ae') and a latent size (nothing loaded)."""

    dataset: str
    kind: str
    latent_dim: int

    @property
    def name(self) -> str:
        """The checkpoint folder's name, e.g. 'mnist-vae-z2' (what the address's ?model= holds)."""
        return checkpoint_name(self.dataset, self.kind, self.latent_dim)

    def with_kind(self, kind: str) -> ModelChoice:
        return ModelChoice(self.dataset, kind, self.latent_dim)


PICKABLE = {c.name: c for c in (ModelChoice(d, k, z) for d in DATASETS for k in KIND_TITLES for z in LATENT_SIZES)}


def picked_model() -> ModelChoice:
    """The sidebar's choice (the default model before the picker has run)."""
    state, default = st.session_state, PICKABLE[DEFAULT_MODEL]
    return ModelChoice(*(state.get(key) or getattr(default, key) for key in PICKER_KEYS))


def model_picker() -> None:
    """Sidebar widgets: dataset, VAE or autoencoder, latent size; run by app.py before every page.

    The address's ?model=NAME drives them: a name this session has not seen there yet (an opened link) selects that
    model, an unknown one gives one warning and the default. The choice is then written back to the address (no
    reload), so every page's address names its model.
    """
    state = st.session_state
    state[_VIA_APP] = True
    state.pop(_LEAVING, None)
    asked = st.query_params.get(MODEL_PARAM)
    if asked is not None and asked != state.get(_MODEL_IN_ADDRESS):
        if asked not in PICKABLE:
            st.warning(f"Unknown model '{asked}' in the address; showing {DEFAULT_MODEL}.", icon=":material/link_off:")
        choice = PICKABLE.get(asked, PICKABLE[DEFAULT_MODEL])
        state.update({key: getattr(choice, key) for key in PICKER_KEYS})
    for key in PICKER_KEYS:  # the widgets' first values
        state.setdefault(key, getattr(PICKABLE[DEFAULT_MODEL], key))
    with st.sidebar:
        st.markdown("**Model**")
        st.selectbox("Dataset", DATASETS, key="dataset", format_func=DATASET_TITLES.get)
        st.segmented_control("Type", list(KIND_TITLES), key="kind", format_func=KIND_TITLES.get)
        st.segmented_control("Latent size", LATENT_SIZES, key="latent_dim", format_func=lambda n: f"z = {n}")
    name = picked_model().name
    if st.query_params.get(MODEL_PARAM) != name:
        st.query_params[MODEL_PARAM] = name
    state[_MODEL_IN_ADDRESS] = name


def _run_inside_app() -> None:
    """Rerun through app.py (navigation, model picker) when a page was run without it.

    Streamlit treats a `pages/` folder beside the entrypoint as its old multipage mode until some session runs
    `st.navigation` ("As soon as any session of your app executes the st.navigation command, your app will ignore
    the pages/ directory", st.navigation's documentation): a fresh server's first visits to /map run pages/map.py
    alone, without the picker, and list the folder's files as pages. Streamlit has no setting for this (1.67;
    client.showSidebarNavigation only hides that list; its maintainers saw a pages/ folder beside st.navigation
    misbehave on direct page URLs in streamlit/streamlit#10276), so a page run outside app.py clears the flag that
    st.navigation itself clears, `PagesManager.uses_pages_directory`, and reruns; sessions arriving together each
    do so. tests/test_pages_share.py fails when Streamlit drops this mode or the flag; tests/test_browser_share.py
    opens a fresh server at /map.
    """
    state = st.session_state
    if (PagesManager.uses_pages_directory or not state.get(_VIA_APP)) and not state.get(_LEAVING):
        state[_LEAVING] = True  # if Streamlit changed and the rerun still misses app.py, show the page rather than loop
        PagesManager.uses_pages_directory = False
        st.rerun()


# --- The chosen model, loaded ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading model…")
def cached_model(folder: str) -> Model:
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
        return self.card["dataset"]

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES[self.dataset]

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

    @property
    def partner_name(self) -> str:
        """The folder name of the model of the other kind with the same dataset and latent size."""
        return checkpoint_name(self.dataset, "ae" if self.kind == "vae" else "vae", self.latent_dim)

    def projection(self, kind: str | None = None) -> latent.MapProjection:
        """The map's view of the test codes: 'latent' (z = 2), 'pca' or 'umap'; by default the first available."""
        return latent.map_projection(self.atlas, kind)

    def originals(self) -> np.ndarray | None:
        """The test split's images, uint8 (10000, 28, 28), shared read-only; None when the dataset is not on disk."""
        return test_images(self.dataset)

    def pictures(self, indices: Sequence[int]) -> np.ndarray:
        """Test images `indices`: the originals, uint8 (n, 28, 28), when on disk, else the images decoded from
        their mean codes, float (n, 28, 28) in [0, 1]."""
        originals, indices = self.originals(), np.asarray(indices, dtype=np.int64)
        return originals[indices] if originals is not None else latent.decode(self.model, self.atlas["mu"][indices])


def load_selection(name: str) -> Selection | None:
    """Load model `name` (a folder under `checkpoint_root`) and its atlas; on a broken or missing checkpoint show one
    error line and return None."""
    _run_inside_app()
    folder = checkpoint_root() / name
    try:
        return Selection(folder, cached_card(str(folder)), cached_model(str(folder)), cached_atlas(str(folder)))
    except CheckpointError as err:
        st.error(f"Model {name} cannot be used: {err}", icon=":material/error:")
        return None


def current_selection() -> Selection | None:
    """The sidebar's model, loaded (None, after an error message, when it cannot be)."""
    return load_selection(picked_model().name)


# --- Original test images -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the test images…")
def _test_images(dataset: str, root: str) -> np.ndarray:
    images = load_split(dataset, train=False, root=root).images.numpy()
    images.flags.writeable = False  # shared by all sessions
    return images


def test_images(dataset: str) -> np.ndarray | None:
    """The test split's images, uint8 (10000, 28, 28), shared read-only; None when the dataset is not on disk."""
    if not on_disk(dataset):
        return None
    try:
        return _test_images(dataset, str(data_dir()))
    except DatasetMissingError:
        return None


def missing_data_hint(dataset: str) -> str:
    """One line on why the original images are not shown and how to see them."""
    if on_disk(dataset):
        try:  # read again rather than cache the failure, so a repaired folder works on the next run
            _test_images(dataset, str(data_dir()))
        except DatasetMissingError as err:
            return f"The original {dataset} images could not be read, so only decoded images are shown: {err}"
    return (
        f"The original {dataset} images are not on disk, so only decoded images are shown: set VAE_DATA_DIR to a "
        "folder holding MNIST/raw and FashionMNIST/raw (torchvision layout) to see them."
    )


# --- Cached decodes shared by the map and compare pages -------------------------------------------------------


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
    return rendering.png_bytes(rendering.mosaic(images.reshape(n, n, 28, 28)), scale=2)


# --- State shared between pages -------------------------------------------------------------------------------

MAP_SELECTED = "map_selected"
ANOMALY_SETTING = "anomaly_setting"


@dataclass(frozen=True)
class MapSelected:
    """The test images last selected on a latent map (a click, box or lasso)."""

    model: str  # the map's checkpoint folder name
    dataset: str
    indices: tuple[int, ...]


def map_selected() -> MapSelected | None:
    """What was last selected on the latent map, on any model; None before anything was."""
    stored = st.session_state.get(MAP_SELECTED)
    if not stored:
        return None
    return MapSelected(stored["folder"], stored["dataset"], tuple(int(i) for i in stored["indices"]))


def remember_map_selected(sel: Selection, indices: Sequence[int]) -> None:
    """Keep the map's selection for the other pages (the interpolation's endpoints)."""
    st.session_state[MAP_SELECTED] = {"folder": sel.name, "dataset": sel.dataset, "indices": [int(i) for i in indices]}


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
