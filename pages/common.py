"""Streamlit glue shared by the pages: the sidebar model picker (every shipped model and run, in step with the
address's ?model=NAME), the chosen model loaded (`Selection`) and its partner, cached loaders, and typed accessors
for the state that pages share."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from vae import anomaly, catalog, figures, latent, rendering
from vae.catalog import Entry
from vae.checkpoint import (
    CheckpointError,
    find_checkpoints,
    load_atlas,
    load_model,
    read_card,
    runs_root,
    shipped_root,
)
from vae.data import DATASET_TITLES, DatasetFormatError, DatasetMissingError, DatasetSpec, data_dir, dataset_of
from vae.models import Model

KIND_TITLES = {"vae": "VAE", "ae": "Autoencoder"}
DEFAULT_MODEL = "mnist-vae-z2"
MODEL_PARAM = "model"  # the address's ?model=NAME: a model folder's name (shipped or a run)
ONE_D = "This model has a 1-D latent space; the explorer needs at least 2 dimensions."

PICK_DATASET = "picker_dataset"  # the sidebar's dataset filter
PICK_MODEL = "picker_model"  # the sidebar's model: a folder name
PARTNER = "partner"  # the model set beside the chosen one on /compare and /interpolate
_VIA_APP = "_via_app"  # app.py's model picker has run in this session
_LEAVING = "_leaving_pages_folder_mode"  # a rerun into app.py is under way
_MODEL_IN_ADDRESS = "_model_in_address"  # the model name this session last read from or wrote to the address


def checkpoint_root() -> Path:
    """Where the shipped models live: $VAE_CHECKPOINTS or ./checkpoints."""
    return shipped_root()


def available_models() -> list[str]:
    """The names of the shipped models."""
    return [p.name for p in find_checkpoints(checkpoint_root())]


def models() -> list[Entry]:
    """Every model folder, shipped and runs, shipped first (`vae.catalog`); scanned on each call (it rereads only
    the folders that changed), so a new run appears on the next rerun."""
    return catalog.catalog(shipped_root(), runs_root())


def no_model_message() -> str:
    return (
        f"No model can be opened: {shipped_root()} and {runs_root()} hold no complete model folder; restore "
        "checkpoints/ from git or train one with `python -m vae.train`."
    )


# --- The model picker -------------------------------------------------------------------------------------------


def dataset_title(dataset: str) -> str:
    return DATASET_TITLES.get(dataset, dataset)


def _label_parts(entry: Entry) -> dict[str, str]:
    parts = {"kind": "VAE" if entry.kind == "vae" else "AE", "z": f"z={entry.latent_dim}"}
    if entry.kind == "vae" and entry.beta is not None:
        parts["beta"] = f"β={entry.beta:g}"
    parts["net"] = f"{'MLP' if entry.arch == 'mlp' else 'Conv'} {'-'.join(map(str, entry.width))}".strip()
    if entry.epochs is not None:
        parts["epochs"] = f"{entry.epochs} ep"
    if entry.loss is not None:
        parts["loss"] = f"{entry.loss_name} {entry.loss:.1f}"
    if not entry.shipped:
        parts["run"] = "run " + time.strftime("%d %b %H:%M", time.localtime(entry.written))
    return parts


def model_label(entry: Entry) -> str:
    """'MNIST · VAE · z=2 · β=1 · MLP 768-384 · 60 ep · −ELBO 136.8'; a run ends with when it was written."""
    return " · ".join([dataset_title(entry.dataset), *_label_parts(entry).values()])


def option_label(entry: Entry) -> str:
    """The model as a select lists it beside others of its dataset, what tells them apart first (a narrow select
    cuts the end): 'VAE · z=2 · β=1 · −ELBO 136.8 · MLP 768-384 · 60 ep'."""
    parts = _label_parts(entry)
    order = ("kind", "z", "beta", "loss", "net", "epochs", "run")
    return " · ".join(parts[key] for key in order if key in parts)


def _default(ready: list[Entry]) -> Entry | None:
    return catalog.find(ready, DEFAULT_MODEL) or (ready[0] if ready else None)


def picked_model() -> Entry | None:
    """The sidebar's model (its catalog entry, nothing loaded); None when no model can be opened."""
    ready = catalog.openable(models())
    return catalog.find(ready, st.session_state.get(PICK_MODEL) or "") or _default(ready)


def _follow_dataset() -> None:
    """The dataset filter changed: choose that dataset's model most like the one chosen before."""
    entries = models()
    before = catalog.find(entries, st.session_state.get(PICK_MODEL) or "")
    match = catalog.counterpart(entries, before, st.session_state[PICK_DATASET])
    if match is not None:
        st.session_state[PICK_MODEL] = match.name


def model_picker() -> None:
    """Sidebar: a dataset filter, one select of the models that can be opened (shipped first, then runs, newest
    first), and the folders that cannot be, each with its problem; run by app.py before every page.

    The folders are scanned on every run, so a new run appears without a restart. The address's ?model=NAME drives
    the select: a name this session has not seen there yet (an opened link) selects that model; an unknown or
    broken one gives one warning and the default. The choice is then written back to the address (no reload), so
    every page's address names its model.
    """
    state = st.session_state
    state[_VIA_APP] = True
    state.pop(_LEAVING, None)
    entries = models()
    ready = catalog.openable(entries)
    default = _default(ready)
    asked = st.query_params.get(MODEL_PARAM)
    if asked is not None and asked != state.get(_MODEL_IN_ADDRESS):
        linked = catalog.find(entries, asked)
        instead = f"showing {default.name}" if default else "no model can be opened"
        if linked is None:
            st.warning(f"Unknown model '{asked}' in the address; {instead}.", icon=":material/link_off:")
        elif linked.problem:
            st.warning(
                f"Model '{asked}' in the address cannot be opened ({linked.problem.rstrip('.')}); {instead}.",
                icon=":material/link_off:",
            )
        state[PICK_MODEL] = asked if linked is not None and linked.problem is None else None
        state[_MODEL_IN_ADDRESS] = asked
    entry = catalog.find(ready, state.get(PICK_MODEL) or "") or default
    with st.sidebar:
        if entry is None:
            st.error(no_model_message(), icon=":material/error:")
        else:
            state[PICK_MODEL], state[PICK_DATASET] = entry.name, entry.dataset
            datasets = list(dict.fromkeys(e.dataset for e in ready))
            st.selectbox("Dataset", datasets, key=PICK_DATASET, format_func=dataset_title, on_change=_follow_dataset)
            labels = {e.name: option_label(e) for e in ready if e.dataset == entry.dataset}
            st.selectbox("Model", list(labels), key=PICK_MODEL, format_func=labels.get)
            st.caption(f"{model_label(entry)}  \n{'Shipped' if entry.shipped else 'Run'}: `{entry.folder}`")
        broken = [e for e in entries if e.problem]
        if broken:
            with st.expander(f"Can't open {len(broken)} folder{'s' * (len(broken) > 1)}", icon=":material/folder_off:"):
                st.markdown("\n".join(f"- **{e.name}**: {e.problem}" for e in broken))
    if entry is not None:
        if st.query_params.get(MODEL_PARAM) != entry.name:
            st.query_params[MODEL_PARAM] = entry.name
        state[_MODEL_IN_ADDRESS] = entry.name


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


def inside_app() -> None:
    """For a page that loads no model (/train): make sure it runs through app.py, as `load_selection` does."""
    _run_inside_app()


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


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_code_span(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """The decode sliders' ranges (z, 2) over a model's test codes, and their centre (z,): the prior's mean for a
    VAE, the codes' median for an autoencoder. Shared and read-only (two sorts of every code: once per model)."""
    codes, variational = cached_atlas(folder)["mu"], cached_model(folder).is_variational
    ranges = latent.code_ranges(codes, prior=variational)
    centre = np.zeros(codes.shape[1]) if variational else np.median(codes, axis=0).astype(np.float64)
    ranges.flags.writeable = centre.flags.writeable = False
    return ranges, centre


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


_CACHED_WRITES: dict[Path, float] = {}  # model folder -> when its files were written, as the caches hold them


def _forget_rewritten(entry: Entry) -> None:
    """Empty the model caches when a folder's files were rewritten after they were cached (a run resumed or
    overwritten in place), so no page shows the old model."""
    if _CACHED_WRITES.setdefault(entry.folder, entry.written) != entry.written:
        cached_model.clear()
        cached_code_span.clear()
        st.cache_data.clear()
        _CACHED_WRITES.clear()
        _CACHED_WRITES[entry.folder] = entry.written


def load_selection(name: str) -> Selection | None:
    """Load model `name` (a shipped model or a run, by folder name) and its atlas; when it is unknown, cannot be
    opened or has a 1-D latent space, show one line and return None."""
    _run_inside_app()
    entry = catalog.find(models(), name)
    if entry is None or entry.problem:
        problem = entry.problem if entry else f"there is no model folder {name} in {shipped_root()} or {runs_root()}."
        st.error(f"Model {name} cannot be used: {problem}", icon=":material/error:")
        return None
    if entry.latent_dim < 2:
        st.info(ONE_D, icon=":material/info:")
        return None
    _forget_rewritten(entry)
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
        _run_inside_app()
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


# --- Original test images -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the test images…")
def _test_images(data: DatasetSpec, root: str) -> np.ndarray:
    images = data.split(train=False, root=root).images.numpy()
    images.flags.writeable = False  # shared by all sessions
    return images


def test_images(data: DatasetSpec) -> np.ndarray | None:
    """The test split's images, uint8 (N, 28, 28), shared read-only; None when the dataset is not on disk (MNIST
    and Fashion-MNIST under the data root, the user's own data at its path) or cannot be read."""
    if not data.on_disk(data_dir()):
        return None
    try:
        return _test_images(data, str(data_dir()))
    except (DatasetMissingError, DatasetFormatError):
        return None


def missing_data_hint(data: DatasetSpec) -> str:
    """One line on why the original images are not shown and how to see them."""
    if data.on_disk(data_dir()):
        try:  # read again rather than cache the failure, so a repaired folder works on the next run
            _test_images(data, str(data_dir()))
        except (DatasetMissingError, DatasetFormatError) as err:
            return f"The original {data.title} images could not be read, so only decoded images are shown: {err}"
    if data.source is not None:
        return (
            f"The original {data.title} images are not at {data.source}, so only decoded images are shown: put the "
            "file back there to see them."
        )
    return (
        f"The original {data.title} images are not on disk, so only decoded images are shown: set VAE_DATA_DIR to a "
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
