"""What the pages load and compute once for every session (`st.cache_resource`: shared, read-only) or once per
arguments (`st.cache_data`: each caller gets a copy): models, atlases, cards, the original test images, decoded
grids and AUROCs, the fitted Gaussian mixtures and the prior's gap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from vae import anomaly, attributes, figures, holes, latent, quality, rendering, samplers
from vae.catalog import Entry
from vae.checkpoint import CheckpointError, load_atlas, load_model, read_card, weights_sha256
from vae.data import DatasetFormatError, DatasetMissingError, DatasetSpec, data_dir, dataset_of
from vae.models import Model

MODELS_KEPT = 16  # models (and atlases) kept in memory for all sessions; the least recently used goes first
HOLE_CELLS = 120  # cells per side of the holes picture (the numbers use vae.holes.GRID_CELLS)


@st.cache_resource(show_spinner="Loading model…", max_entries=MODELS_KEPT)
def cached_model(folder: str) -> Model:
    """One shared, read-only model per checkpoint (eval mode; callers use torch.no_grad)."""
    return load_model(folder)[0]


@st.cache_data(show_spinner="Loading atlas…", max_entries=MODELS_KEPT)
def cached_atlas(folder: str) -> dict[str, np.ndarray]:
    return load_atlas(folder)


@st.cache_data(max_entries=16 * MODELS_KEPT)
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


_CACHED_WRITES: dict[Path, float] = {}  # model folder -> when its files were written, as the caches hold them


def forget_rewritten(entry: Entry) -> None:
    """Empty the model caches when a folder's files were rewritten after they were cached (a run resumed or
    overwritten in place), so no page shows the old model."""
    if _CACHED_WRITES.setdefault(entry.folder, entry.written) != entry.written:
        cached_model.clear()
        cached_code_span.clear()
        st.cache_data.clear()
        _CACHED_WRITES.clear()
        _CACHED_WRITES[entry.folder] = entry.written


# --- Measured attributes --------------------------------------------------------------------------------------


@st.cache_data(show_spinner="Measuring the test images…", max_entries=16)
def _attributes(folder: str, on_disk: bool) -> dict[str, np.ndarray] | None:
    data = dataset_of(cached_card(folder))
    try:
        values = attributes.dataset_attributes(data, data_dir())
    except (attributes.AttributeFileError, DatasetMissingError, DatasetFormatError):
        return None
    n = len(cached_atlas(folder)["mu"])
    return None if values is None or any(len(v) != n for v in values.values()) else values


def cached_attributes(folder: str) -> dict[str, np.ndarray] | None:
    """The attributes measured from the model's test images (`vae.attributes`, float32 (N,) each, the atlas's
    order): shipped for MNIST and Fashion-MNIST, measured once from the user's test images; None where neither is
    there (or they do not match the atlas). Asked again once the data appears on disk."""
    return _attributes(folder, dataset_of(cached_card(folder)).on_disk(data_dir()))


# --- Original test images -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the test images…", max_entries=4)
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


# --- Decodes and scores shared by several pages ---------------------------------------------------------------


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
    return _decoded_mosaic(model, latent.prior_samples(n * n, model.config.latent_dim, seed), n)


def _decoded_mosaic(model: Model, codes: np.ndarray, n: int) -> bytes:
    """The n x n codes (n * n, z) decoded and laid out as one mosaic, PNG bytes at twice the size."""
    return rendering.png_bytes(rendering.mosaic(latent.decode(model, codes).reshape(n, n, 28, 28)), scale=2)


@st.cache_data(show_spinner="Scoring the test splits…", max_entries=16)
def cached_aurocs(folder: str) -> dict[str, float]:
    """AUROC of every anomaly score of a model (from its atlas), or {} when its atlas cannot be read."""
    try:
        return anomaly.atlas_aurocs(load_atlas(folder))
    except (CheckpointError, KeyError, ValueError):
        return {}


# --- Samplers and the prior's holes ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=MODELS_KEPT)
def _saved_mixture(folder: str, fingerprint: str) -> samplers.Mixture:
    """The folder's sampler.npz for these weights; MixtureFileError (not cached) when it is missing or stale."""
    return samplers.load_sampler(folder, fingerprint)


@st.cache_resource(show_spinner="Fitting a Gaussian mixture on the training codes…", max_entries=MODELS_KEPT)
def _fitted_mixture(folder: str, fingerprint: str, root: str) -> samplers.Mixture:
    """A mixture fitted now on the training split under `root`, for a folder without an up-to-date sampler.npz (not
    written there: the page never writes into a model folder)."""
    model, data = cached_model(folder), dataset_of(cached_card(folder))
    return samplers.fit_sampler(model, data.split(train=True, root=root))


def mixture_sampler(folder: str) -> samplers.Mixture | str:
    """A model's Gaussian mixture fitted on its training codes: its sampler.npz, else one fitted here on the training
    split when it is on disk (cached per weights); else one sentence on how to make it."""
    fingerprint = weights_sha256(folder)
    try:
        return _saved_mixture(folder, fingerprint)
    except samplers.MixtureFileError:
        pass
    data = dataset_of(cached_card(folder))
    lacking = f"This model has no up-to-date {samplers.SAMPLER} and its training images"
    make = f"make it with `{samplers.sampler_command(folder)}` on a machine with the {data.title} training images."
    if data.on_disk(data_dir()):
        try:
            return _fitted_mixture(folder, fingerprint, str(data_dir()))
        except (DatasetMissingError, DatasetFormatError) as err:
            return f"{lacking} cannot be read ({str(err).rstrip('.')}); {make}"
    return f"{lacking} are not on disk; {make}"


@st.cache_data(show_spinner=False, max_entries=32)
def mixture_samples_png(folder: str, fingerprint: str, n: int = 8, seed: int = 0) -> bytes | None:
    """An n x n mosaic of images decoded from codes drawn from the model's mixture (`mixture_sampler`), as PNG
    bytes; None when it has none. `fingerprint` (the weights' SHA-256) keys the cache to the weights."""
    gmm = mixture_sampler(folder)
    if isinstance(gmm, str):
        return None
    return _decoded_mosaic(cached_model(folder), samplers.sample_gmm(gmm, n * n, seed), n)


@st.cache_data(show_spinner=False, max_entries=4 * MODELS_KEPT)
def measured_frechet(folder: str, fingerprint: str) -> tuple[float, float] | None:
    """(prior, mixture) Fréchet distances measured for these weights by `scripts/sample_quality.py table`
    (`vae.quality.measured_quality`); None for a model it did not measure."""
    measured = quality.measured_quality(Path(folder).name, fingerprint)
    return None if measured is None else (measured["prior"]["frechet"], measured["mixture"]["frechet"])


@st.cache_data(show_spinner="Measuring the prior's gap…", max_entries=4 * MODELS_KEPT)
def cached_prior_gap(folder: str) -> dict[str, float | int]:
    """`vae.holes.prior_gap` of a model's atlas: MMD² for every z, KL and hole mass on the grid for z = 2."""
    return holes.prior_gap(cached_atlas(folder))


@st.cache_data(show_spinner="Drawing the prior's holes…", max_entries=16)
def holes_figure_json(folder: str, show_codes: bool) -> str:
    """The z = 2 density picture, log q(z)/p(z) on the map's axes (`vae.figures.holes_figure`), as Plotly JSON."""
    atlas = cached_atlas(folder)
    ranges = cached_code_span(folder)[0]
    span = float(np.abs(ranges).max())
    grid = holes.density_grid(atlas, cells=HOLE_CELLS, span=span)
    codes = atlas["mu"] if show_codes else None
    return figures.holes_figure(grid, tuple(ranges[0]), tuple(ranges[1]), codes=codes).to_json()
