"""vae.figures: image encoders and the Plotly latent map."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from vae import figures, latent
from vae.checkpoint import find_checkpoints, load_atlas
from vae.data import CLASS_NAMES

NAMES = CLASS_NAMES["fashion-mnist"]


def _codes(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)).astype(np.float32), rng.integers(0, 10, n).astype(np.uint8)


# --- images -------------------------------------------------------------------------------------------------------


def test_to_uint8_scales_clips_and_inverts():
    image = np.array([[-0.5, 0.0], [0.5, 2.0]])
    assert figures.to_uint8(image).tolist() == [[0, 0], [128, 255]]
    assert figures.to_uint8(image, invert=True).tolist() == [[255, 255], [127, 0]]
    assert figures.to_uint8(np.array([[7]], dtype=np.uint8)).tolist() == [[7]]


def test_upscale_repeats_pixels():
    out = figures.upscale(np.array([[1, 2], [3, 4]]), 3)
    assert out.shape == (6, 6) and out[:3, :3].tolist() == [[1] * 3] * 3 and out[5, 5] == 4


def test_mosaic_places_tiles_with_padding():
    images = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1) * np.ones((2, 3, 4, 5), np.float32)
    out = figures.mosaic(images, pad=1, pad_value=-1)
    assert out.shape == (2 * 4 + 1, 3 * 5 + 2)
    assert out[0, 0] == 0 and out[0, 6] == 1 and out[5, 12] == 5 and out[4, 0] == -1
    assert figures.mosaic(images[0], pad=0).shape == (4, 15)  # a single row


def test_png_bytes_round_trip():
    image = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    decoded = np.array(Image.open(io.BytesIO(figures.png_bytes(image, scale=2))))
    assert decoded.shape == (56, 56)
    assert np.array_equal(decoded[::2, ::2], figures.to_uint8(image))


def test_gif_bytes_is_a_looping_animation_that_bounces():
    frames = np.linspace(0, 1, 5)[:, None, None] * np.ones((5, 28, 28))
    gif = Image.open(io.BytesIO(figures.gif_bytes(frames, scale=2)))
    assert gif.format == "GIF" and gif.size == (56, 56)
    assert gif.n_frames == 8 and gif.info.get("loop") == 0  # forward 5, back 3
    gif.seek(4)
    assert np.array(gif.convert("L")).mean() > 250
    assert Image.open(io.BytesIO(figures.gif_bytes(frames, bounce=False))).n_frames == 5


def test_data_uri_holds_the_png():
    png = figures.png_bytes(np.zeros((28, 28)))
    uri = figures.data_uri(png)
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == png


# --- the latent map -----------------------------------------------------------------------------------------------


def _class_traces(fig: go.Figure) -> list:
    return [t for t in fig.data if t.name in NAMES]


def test_map_has_one_webgl_trace_per_class_named_by_the_class():
    coords, labels = _codes()
    fig = figures.latent_map_figure(coords, labels, NAMES)
    traces = _class_traces(fig)
    assert [t.name for t in traces] == list(NAMES)
    assert all(isinstance(t, go.Scattergl) for t in traces)
    assert sum(len(t.x) for t in traces) == len(coords)
    bag = NAMES.index("Bag")
    assert sorted(traces[bag].customdata.tolist()) == np.flatnonzero(labels == bag).tolist()
    assert np.allclose(traces[bag].x, coords[labels == bag, 0])


def test_click_grid_is_invisible_dense_and_spans_the_axes():
    coords, labels = _codes()
    fig = figures.latent_map_figure(coords, labels, NAMES, x_range=(-4, 4), y_range=(-3, 5))
    grid = next(t for t in fig.data if t.name == figures.CLICK_GRID_NAME)
    assert isinstance(grid, go.Scattergl) and grid.marker.opacity == 0 and grid.hoverinfo == "none"
    assert grid.selected.marker.opacity == 0 and grid.unselected.marker.opacity == 0
    assert len(grid.x) >= 2500 and grid.showlegend is False
    assert (min(grid.x), max(grid.x), min(grid.y), max(grid.y)) == (-4, 4, -3, 5)
    assert tuple(fig.layout.xaxis.range) == (-4, 4)
    no_grid = figures.latent_map_figure(coords, labels, NAMES, click_grid=False)
    assert all(t.name != figures.CLICK_GRID_NAME for t in no_grid.data)


def test_crosshair_marks_the_point_with_a_marker_and_lines():
    coords, labels = _codes()
    fig = figures.latent_map_figure(coords, labels, NAMES, crosshair=(1.5, -0.5))
    marker = fig.data[-1]
    assert (marker.x[0], marker.y[0]) == (1.5, -0.5)
    xs = {s.x0 for s in fig.layout.shapes if s.xref == "x"}
    ys = {s.y0 for s in fig.layout.shapes if s.yref == "y"}
    assert xs == {1.5} and ys == {-0.5}


def test_overlays_tiles_selection_and_extra_traces():
    coords, labels = _codes()
    points = latent.manifold_grid(3, 1.0)
    images = np.random.default_rng(2).random((3, 3, 28, 28))
    tiles = figures.tile_images(images, points, latent.tile_sizes(points))
    extra = figures.path_trace(np.array([[0, 0], [1, 1], [2, 0]]), name="my path")
    fig = figures.latent_map_figure(coords, labels, NAMES, tiles=tiles, selected=coords[:3], extra_traces=[extra])
    assert len(fig.layout.images) == 9
    first = fig.layout.images[0]
    assert (first.x, first.y, first.xref, first.yref) == (points[0, 0, 0], points[0, 0, 1], "x", "y")
    assert first.source.startswith("data:image/png;base64,")
    assert "my path" in [t.name for t in fig.data]
    rings = next(t for t in fig.data if t.name == "selected")
    assert np.allclose(rings.x, coords[:3, 0])


def test_path_trace_marks_its_ends():
    trace = figures.path_trace(np.array([[0, 0], [1, 1], [2, 2], [3, 3]]))
    sizes = list(trace.marker.size)
    assert sizes[0] == sizes[-1] > sizes[1]


def test_padded_range_widens_and_trims():
    assert figures.padded_range(np.array([0.0, 10.0]), pad=0.1) == pytest.approx((-1.0, 11.0))
    values = np.concatenate([np.zeros(998), [1000.0, -1000.0]])
    assert figures.padded_range(values, quantile=0.01)[1] < 1


def test_image_grid_figure_holds_the_mosaic():
    fig = figures.image_grid_figure(np.zeros((2, 3, 28, 28)))
    assert isinstance(fig.data[0], go.Image) and np.asarray(fig.data[0].z).shape[:2] == (2 * 28 + 2, 3 * 28 + 4)


def test_map_of_a_real_atlas_holds_every_test_image(checkpoints_dir):
    folder = find_checkpoints(checkpoints_dir)[0]
    atlas = load_atlas(folder)
    projection = latent.map_projection(atlas)
    dataset = folder.name.rsplit("-", 2)[0]
    fig = figures.latent_map_figure(projection.coords, atlas["labels"], CLASS_NAMES[dataset])
    traces = [t for t in fig.data if t.name in CLASS_NAMES[dataset]]
    assert len(traces) == 10 and sum(len(t.x) for t in traces) == len(atlas["labels"])
    assert sorted(np.concatenate([t.customdata for t in traces]).tolist()) == list(range(len(atlas["labels"])))


def test_svg_overlays_are_redrawn_in_webgl_so_the_points_do_not_hide_them():
    coords, labels = _codes()
    star = go.Scatter(x=[0.5], y=[0.5], mode="markers", name="your image", marker=dict(symbol="star", size=20))
    ring = go.Scatter(x=[0, 1, 0], y=[0, 1, 0], mode="lines", name="1σ", line=dict(dash="dot", width=1.6))
    fig = figures.latent_map_figure(coords, labels, NAMES, extra_traces=[star, ring])
    drawn = {t.name: t for t in fig.data}
    assert isinstance(drawn["your image"], go.Scattergl) and drawn["your image"].marker.symbol == "star"
    assert isinstance(drawn["1σ"], go.Scattergl) and drawn["1σ"].line.dash == "dot"
