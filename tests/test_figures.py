"""vae.figures: the Plotly latent map, the anomaly figures and their shared style."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from vae import figures, latent
from vae.checkpoint import find_checkpoints, load_atlas
from vae.data import CLASS_NAMES

NAMES = CLASS_NAMES["fashion-mnist"]


def _codes(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)).astype(np.float32), rng.integers(0, 10, n).astype(np.uint8)


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


def test_overlays_tiles_and_extra_traces():
    coords, labels = _codes()
    points = latent.manifold_grid(3, 1.0)
    images = np.random.default_rng(2).random((3, 3, 28, 28))
    tiles = figures.tile_images(images, points, latent.tile_sizes(points))
    extra = figures.path_trace(np.array([[0, 0], [1, 1], [2, 0]]), name="my path")
    fig = figures.latent_map_figure(coords, labels, NAMES, tiles=tiles, extra_traces=[extra])
    assert len(fig.layout.images) == 9
    first = fig.layout.images[0]
    assert (first.x, first.y, first.xref, first.yref) == (points[0, 0, 0], points[0, 0, 1], "x", "y")
    assert first.source.startswith("data:image/png;base64,")
    assert "my path" in [t.name for t in fig.data]
    assert [t.name for t in fig.data][-1] == "my path"  # drawn above the points


def test_highlight_rings_the_selected_points_thinner_when_there_are_many():
    coords, _ = _codes()
    few, many = figures.highlight_trace(coords[:3]), figures.highlight_trace(coords)
    assert np.allclose(few.x, coords[:3, 0]) and np.allclose(many.y, coords[:, 1])
    assert few.marker.symbol == "circle-open" and few.marker.size > many.marker.size


def test_path_trace_marks_its_ends():
    trace = figures.path_trace(np.array([[0, 0], [1, 1], [2, 2], [3, 3]]))
    sizes = list(trace.marker.size)
    assert sizes[0] == sizes[-1] > sizes[1]


def test_padded_range_widens_and_trims():
    assert figures.padded_range(np.array([0.0, 10.0]), pad=0.1) == pytest.approx((-1.0, 11.0))
    values = np.concatenate([np.zeros(998), [1000.0, -1000.0]])
    assert figures.padded_range(values, quantile=0.01)[1] < 1


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


def test_every_figure_has_the_shared_style():
    coords, labels = _codes()
    rng = np.random.default_rng(3)
    scores = rng.normal(size=200), rng.normal(2, 1, size=200)
    bits = (rng.random(50), rng.random(50))
    shown = [
        figures.latent_map_figure(coords, labels, NAMES, height=300),
        figures.score_histogram_figure(*scores, 1.0, ("in", "out"), "score", height=300),
        figures.roc_figure(np.linspace(0, 1, 20), np.linspace(0, 1, 20) ** 0.5, 0.8, height=300),
        figures.complexity_figure(bits, bits, (0.0, 1.0), ("in", "out"), height=300),
    ]
    for fig in shown:
        assert fig.layout.height == 300 and fig.layout.plot_bgcolor == "white" and fig.layout.margin.r == 10
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            assert axis.showgrid and axis.gridcolor == figures.GRID_COLOR


def test_styled_changes_only_the_margins_it_is_given():
    fig = figures.styled(go.Figure(), 200, margin=dict(t=5), title="x")
    assert (fig.layout.margin.l, fig.layout.margin.t) == (figures.MARGIN["l"], 5) and fig.layout.title.text == "x"


def test_a_map_coloured_by_an_attribute_is_one_trace_on_a_clipped_continuous_scale():
    coords, labels = _codes()
    values = np.linspace(0, 10, len(coords))
    fig = figures.latent_map_figure(coords, labels, NAMES, color_by=("stroke thickness (pixels)", values))
    [trace] = fig.data
    assert isinstance(trace, go.Scattergl) and not _class_traces(fig)
    assert trace.marker.colorbar.title.text == "stroke thickness (pixels)"
    np.testing.assert_allclose(trace.marker.color, values)
    assert trace.marker.cmin == pytest.approx(np.percentile(values, 1))  # an outlier does not wash out the rest
    assert trace.marker.cmax == pytest.approx(np.percentile(values, 99))
    assert trace.customdata.tolist() == list(range(len(coords)))  # clicks still name the test image
